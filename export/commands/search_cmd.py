"""`vlmprune scores`, `vlmprune search` and `vlmprune compare`."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .options import (
    datasets_option,
    device_option,
    json_option,
    model_option,
    resolve_datasets,
    resolve_device,
)
from .suite_option import suite_option

if TYPE_CHECKING:
    from ..evaluation.backend import EvalBackend
    from ..models.loading import LoadedVlm
    from ..search.scoring import ScoreSource
    from ..tasks.base import TaskDataset


class Backend(str, Enum):
    """Where the evaluations of `scores` and `search` run."""

    LOCAL = "local"  # this process, or --workers spawned processes on this machine
    RAY = "ray"  # --workers Ray actors, on a local Ray or a cluster (--ray-address)


@dataclass(frozen=True)
class EvalOptions:
    """The options `scores` and `search` share: what to evaluate, where, and the cache."""

    model_spec: str
    datasets: str | list[TaskDataset]  # the --datasets text, or a suite file's (--suite)
    device: str
    batch_size: int
    workers: int
    backend: Backend
    ray_address: str | None
    gpus_per_worker: float | None
    limit: int | None
    cache_dir: str | None
    no_cache: bool
    scores_dir: str


def _common(f):  # noqa: ANN001, ANN202
    """Add the shared options; the command receives them packed as its first argument."""
    names = [field.name for field in fields(EvalOptions)]

    @functools.wraps(f)
    def command(**kwargs: object) -> None:
        opts = EvalOptions(**{name: kwargs.pop(name) for name in names})
        _check_backend(opts)
        return f(opts, **kwargs)

    for option in (
        click.option(
            "--scores-dir",
            default="scores",
            show_default=True,
            type=click.Path(file_okay=False),
            help="Root folder of the scores files (scores/<model>/<dataset>.json).",
        ),
        click.option(
            "--limit",
            type=click.IntRange(min=2),
            default=None,
            help="Examples per dataset (default: the whole split).",
        ),
        click.option(
            "--cache-dir",
            default=None,
            type=click.Path(file_okay=False),
            help="Evaluation cache (default: $VLMPRUNE_CACHE or ~/.cache/vlmprune).",
        ),
        click.option("--no-cache", is_flag=True, help="Do not read or write the evaluation cache."),
        click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Evaluation processes, each with its own copy of the model, spread round-robin "
            "over the visible GPUs with --device cuda (1: evaluate in this process). "
            "With --backend ray: the number of Ray actors.",
        ),
        click.option(
            "--gpus-per-worker",
            type=float,
            default=None,
            help="--backend ray --device cuda: GPUs per actor; a fraction packs several actors "
            "on one GPU (default 1).",
        ),
        click.option(
            "--ray-address",
            default=None,
            metavar="ADDR",
            help="--backend ray: a running Ray cluster (e.g. 10.0.0.1:6379 or auto; default: "
            "start a local Ray for the command).",
        ),
        click.option(
            "--backend",
            type=click.Choice([b.value for b in Backend]),
            default=Backend.LOCAL.value,
            show_default=True,
            callback=lambda _ctx, _param, value: Backend(value),
            help="Where evaluations run: local (this machine's processes) or ray (Ray actors, "
            "pip install 'vlmprune[ray]').",
        ),
        device_option,
        datasets_option,
        model_option,
    ):
        command = option(command)
    return command


def _check_backend(opts: EvalOptions) -> None:
    """Backend flags that cannot work, before any model is loaded."""
    from ..errors import VlmpruneError

    if opts.backend is not Backend.RAY:
        for flag, value in (
            ("--ray-address", opts.ray_address),
            ("--gpus-per-worker", opts.gpus_per_worker),
        ):
            if value is not None:
                raise VlmpruneError(f"{flag} needs --backend ray")
        return
    if opts.gpus_per_worker is not None:
        if opts.device != "cuda":
            raise VlmpruneError(
                "--gpus-per-worker needs --device cuda (CPU actors take one core each)"
            )
        if not opts.gpus_per_worker > 0:
            raise VlmpruneError(f"--gpus-per-worker must be > 0, got {opts.gpus_per_worker:g}")
    from ..evaluation.ray_backend import import_ray, probe_address

    import_ray()  # missing Ray or an unreachable cluster: one line now, before the model loads
    if opts.ray_address:
        probe_address(opts.ray_address)


def _pool(opts: EvalOptions, selected: list[TaskDataset]) -> EvalBackend | None:
    """The evaluation backend the options ask for; None: evaluate in this process."""
    if opts.backend is Backend.RAY:
        from ..evaluation.ray_backend import RayPool

        gpus = 1.0 if opts.gpus_per_worker is None else opts.gpus_per_worker
        return RayPool(
            opts.model_spec,
            selected,
            opts.device,
            opts.workers,
            opts.batch_size,
            gpus_per_worker=gpus,
            address=opts.ray_address,
        )
    if opts.workers > 1:
        from ..evaluation.pool import EvalPool

        return EvalPool(opts.model_spec, selected, opts.device, opts.workers, opts.batch_size)
    return None


def _load(opts: EvalOptions) -> tuple[LoadedVlm, list[TaskDataset]]:
    from ..models.loading import load_vlm

    selected = resolve_datasets(opts.datasets)
    return load_vlm(opts.model_spec, resolve_device(opts.device)), selected


def _scores_root(opts: EvalOptions) -> Path:
    from ..search.files import suite_scores_root
    from .suite_option import current_dataset_suite

    return suite_scores_root(opts.scores_dir, current_dataset_suite())


@contextmanager
def _sources(
    opts: EvalOptions,
    vlm: LoadedVlm,
    selected: list[TaskDataset],
    splits: list[str],
    progress: bool,
) -> Iterator[list[ScoreSource]]:
    """One ScoreSource per split, sharing one evaluator, cache and backend (see _pool)."""
    from ..evaluation.cache import EvalCache
    from ..evaluation.evaluate import Evaluator
    from ..search.scoring import ScoreSource

    evaluator = Evaluator(vlm, device=opts.device, batch_size=opts.batch_size)
    cache = EvalCache(opts.cache_dir, enabled=not opts.no_cache)
    pool = _pool(opts, selected)
    with pool or nullcontext():
        yield [
            ScoreSource(evaluator, cache, selected, split, opts.limit, pool, progress)
            for split in splits
        ]


@click.command("scores")
@suite_option
@_common
@click.option("--split", type=click.Choice(["calib", "test"]), default="calib", show_default=True)
@json_option
def scores_command(opts: EvalOptions, split: str, as_json: bool) -> None:
    """Leave-one-out importance of every decoder block for every dataset.

    Drops are in metric points and relative to the unpruned score, with 95% paired bootstrap
    intervals; writes scores/<model>/<dataset>.json.

    \b
    Examples:
      vlmprune scores --model demo
      vlmprune scores --model demo --datasets code_match --limit 200 --json
      vlmprune scores --model demo --suite benchmarks.toml --datasets text_vqa,doc_qa
    """
    from ..search.run import run_scores

    vlm, selected = _load(opts)
    with _sources(opts, vlm, selected, [split], progress=not as_json) as (source,):
        root = _scores_root(opts)
        docs = run_scores(source, vlm.name, root, progress=not as_json)
    if as_json:
        click.echo(json.dumps(docs, indent=2))
        return
    for name, doc in docs.items():
        drops = doc["leave_one_out"]
        best = min(drops, key=lambda r: (r["relative_drop"], r["block"]))
        worst = max(drops, key=lambda r: r["relative_drop"])
        click.echo(
            f"{name:<16} base {doc['base_score']:.3f}  least important: block {best['block']} "
            f"({best['relative_drop']:+.2%})  most important: block {worst['block']} ({worst['relative_drop']:+.2%})"
        )
    click.echo(f"wrote {len(docs)} files under {root / vlm.name}")


@click.command("search")
@suite_option
@_common
@click.option(
    "--beam-width", type=int, default=4, show_default=True, help="Beams kept per k (1 = greedy)."
)
@click.option("--max-remove", type=int, default=4, show_default=True, help="Search k = 1..K.")
@click.option(
    "--objective",
    default="mean",
    show_default=True,
    help="Generic objective: mean | pooled | worst (of per-dataset relative drops).",
)
@click.option(
    "--exhaustive", is_flag=True, help="Score every set of size k (ground truth; small N·K only)."
)
@click.option(
    "--screen",
    default=None,
    help="Rank each beam step's candidates by a teacher-forced measure first: nll (of the "
    "reference answer) | kl (from the unpruned model over its greedy answer).",
)
@click.option(
    "--verify-top",
    type=int,
    default=None,
    help="With --screen: candidates per beam entry evaluated exactly (default 2).",
)
@json_option
def search_command(
    opts: EvalOptions,
    beam_width: int,
    max_remove: int,
    objective: str,
    exhaustive: bool,
    screen: str | None,
    verify_top: int | None,
    as_json: bool,
) -> None:
    """Beam search for the best removal set of every size k, per dataset and generic.

    Runs leave-one-out first, searches on calib, measures the chosen sets on the test split,
    and writes scores/<model>/<dataset>.json and scores/<model>/generic.json. Evaluations are
    cached on disk: a search killed half-way resumes without recomputing finished work.

    \b
    Examples:
      vlmprune search --model demo --beam-width 4 --max-remove 4
      vlmprune search --model demo --objective worst --device cuda
      vlmprune search --model demo --datasets code_match,shapes_vqa --limit 100 --exhaustive --max-remove 2
      vlmprune search --model demo --suite benchmarks.toml --scores-dir scores-bench --device cuda
      vlmprune search --model demo --screen kl --verify-top 2 --device cuda
    """
    from ..errors import UnknownNameError
    from ..search.beam import GenericObjective, check_search_args
    from ..search.files import GENERIC
    from ..search.run import SearchSettings, run_search
    from ..search.screen import screen_settings

    try:
        goal = GenericObjective(objective)
    except ValueError:
        raise UnknownNameError(
            f"Unknown objective '{objective}'. Available: {', '.join(o.value for o in GenericObjective)}"
        ) from None
    screening = screen_settings(screen, verify_top, exhaustive)
    vlm, selected = _load(opts)
    check_search_args(vlm.num_blocks, max_remove, beam_width)  # before any worker starts
    settings = SearchSettings(max_remove, beam_width, goal, exhaustive, opts.limit, screening)
    sources = _sources(opts, vlm, selected, ["calib", "test"], progress=not as_json)
    with sources as (calib, test):
        root = _scores_root(opts)
        docs = run_search(calib, test, vlm.name, root, settings, progress=not as_json)
        # Shared by both splits: the parent's evaluator, and the workers' when there are any.
        passes = calib.evaluator.forward_passes + (calib.pool.forward_passes if calib.pool else 0)
    summary = {
        name: [b["removed_blocks"] for b in doc["search"]["best"]] for name, doc in docs.items()
    }
    stats = {
        "computed": calib.computed + test.computed,
        "cache_hits": calib.cache.hits,
        "forward_passes": passes,
    }
    screened = docs[GENERIC]["search"].get("screen")
    if screened is not None:  # teacher-forced decoder calls, apart from generation's
        stats["teacher_forced_passes"] = screened["teacher_forced_passes"]
    if as_json:
        click.echo(json.dumps({"best": summary, "stats": stats}, indent=2))
        return
    for name, sets in summary.items():
        click.echo(f"{name:<16} " + "  ".join(f"k={i + 1}:{s}" for i, s in enumerate(sets)))
    click.echo(f"evaluations computed {stats['computed']}, cache hits {stats['cache_hits']}")
    if screened is not None:
        click.echo(
            f"screened by {screened['measure']}, top {screened['verify_top']} per beam entry "
            f"verified exactly: {stats['teacher_forced_passes']} teacher-forced passes"
        )


@click.command("compare")
@click.option(
    "--model",
    "model_name",
    default="demo",
    show_default=True,
    help="Model name under --scores-dir.",
)
@click.option("--scores-dir", default="scores", show_default=True, type=click.Path(file_okay=False))
@click.option("--max-remove", type=click.IntRange(min=1), default=None, help="Only k = 1..K.")
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False),
    help="Write report.md, report.json and PNG plots into this folder.",
)
@json_option
def compare_command(
    model_name: str, scores_dir: str, max_remove: int | None, out: str | None, as_json: bool
) -> None:
    """Compare task-specific and generic removal sets from the scores files (no model needed).

    \b
    Examples:
      vlmprune compare --model demo
      vlmprune compare --model demo --max-remove 4 --out docs/compare
      vlmprune compare --json | jq .match_rate
    """
    from ..io import atomic_write_json, atomic_write_text
    from ..search.compare import build_report, render_markdown
    from ..search.files import GENERIC
    from ..search.files import scores_dir as folder_of

    folder = folder_of(scores_dir, model_name)
    if not folder.is_dir():
        raise click.ClickException(
            f"{folder}: no scores for model '{model_name}'; run `vlmprune search --model {model_name}`"
        )
    from ..search.files import load_all

    names = sorted(p.stem for p in folder.glob("*.json") if p.stem != GENERIC)
    docs = load_all(scores_dir, model_name, names)
    report = build_report(docs, max_remove)
    markdown = render_markdown(report)
    if out:
        from ..search.plots import gap_plot, loo_heatmap

        out_dir = Path(out)
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_dir / "report.md", markdown)
        atomic_write_json(out_dir / "report.json", report)
        loo_heatmap(report, out_dir / "loo_heatmap.png")
        gap_plot(report, out_dir / "gap.png")
    click.echo(json.dumps(report, indent=2) if as_json else markdown)
