"""`vlmprune export`: ONNX variants with one shared weights file, parity-checked, plus a manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import VlmpruneError
from .options import json_option, model_option, parse_blocks
from .suite_option import current_dataset_suite, suite_option

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..manifest.variants import Rule, ScoresSource, VariantSpec
    from ..onnx.pipeline import ExportSummary
    from ..tasks.base import TaskDataset
    from ..tasks.suites import DatasetSuite


@click.command("export")
@model_option
@suite_option
@click.option(
    "--all-tasks", is_flag=True, help="One variant per dataset plus 'generic' (the default)."
)
@click.option(
    "--task",
    "task",
    default=None,
    metavar="NAME",
    help="One variant: a dataset name, 'generic' or 'full'.",
)
@click.option(
    "--blocks",
    default=None,
    metavar="3,4",
    help="One variant removing exactly these blocks (named after --task if given).",
)
@click.option(
    "--remove",
    "remove",
    type=click.IntRange(min=1),
    default=None,
    metavar="K",
    help="Each objective's best set of K blocks (default: 2 unless --max-drop).",
)
@click.option(
    "--max-drop",
    type=click.FloatRange(min=0),
    default=None,
    metavar="PCT",
    help="Each objective's largest best set within PCT percent calib relative drop.",
)
@click.option("--include-full", is_flag=True, help="Also export 'full' (nothing removed).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Export folder [default: variants/<model>].",
)
@click.option(
    "--manifest",
    "manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Manifest path, in or above --out [default: <out>/manifest.json].",
)
@click.option(
    "--scores-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("scores"),
    show_default=True,
    help="Root of the scores files (<dir>/<model>/<objective>.json).",
)
@click.option(
    "--parity-examples",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Test examples (spread over the datasets) whose greedy answers must match PyTorch.",
)
@click.option(
    "--score-examples",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Test examples per dataset for each variant's measured scores.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option(
    "--genai/--no-genai",
    default=None,
    help="Write a folder per variant that onnxruntime-genai opens (genai/<variant>/). Default: "
    "when onnxruntime-genai is installed and has a model type for the architecture.",
)
@click.option(
    "--decoder-layout",
    type=click.Choice(["auto", "gqa", "traced"]),
    default="auto",
    show_default=True,
    help="Decoder graphs: gqa (fused GroupQueryAttention, KV cache in one preallocated buffer) "
    "or traced (torch.onnx trace, KV cache grown by Concat). auto: gqa where it fits the "
    "architecture (not Gemma3); traced where --genai writes onnxruntime-genai folders "
    "(genai cannot feed a gqa decoder).",
)
@click.option(
    "--quantize",
    "precision",
    type=click.Choice(["fp32", "int8", "int4"]),
    default="fp32",
    show_default=True,
    help="Decoder MatMul weights: int4 (MatMulNBits, 4-bit weight-only) or int8 (dynamic). "
    "Parity is checked on the fp32 graph; the quantized one's greedy agreement and "
    "test-split score change per dataset go into the manifest.",
)
@click.option(
    "--dtype",
    "dtype",
    type=click.Choice(["fp32", "fp16"]),
    default="fp32",
    show_default=True,
    help="Decoder weights and activations: fp16 (onnxruntime's float16 converter; "
    "inputs_embeds stays float32, KV cache and logits are fp16), gqa layout only. Parity "
    "is checked on the fp32 graph; the fp16 graph's agreement with PyTorch fp32 and its "
    "score change go into the manifest where the CPU provider can run it.",
)
@json_option
def command(
    model_spec: str,
    all_tasks: bool,
    task: str | None,
    blocks: str | None,
    remove: int | None,
    max_drop: float | None,
    include_full: bool,
    out: Path | None,
    manifest: Path | None,
    scores_dir: Path,
    parity_examples: int,
    score_examples: int,
    batch_size: int,
    genai: bool | None,
    decoder_layout: str,
    precision: str,
    dtype: str,
    as_json: bool,
) -> None:
    """Export pruned variants to ONNX with shared weights, check them, write the manifest.

    Graphs: vision_encoder and embed_tokens (shared), one decoder per variant with a KV
    cache; every tensor is stored once in weights.bin. Each decoder is compared with the
    PyTorch pruned model (logits and greedy answers) before it is written; a variant that
    fails is left out and named. The output folder is replaced only when everything
    succeeded.

    \b
    Examples:
      vlmprune export --all-tasks --model demo
      vlmprune export --all-tasks --model demo --max-drop 3 --include-full --json
      vlmprune export --task count_vqa --remove 1 --out variants/count
      vlmprune export --blocks 3,4 --out variants/demo-3-4
      vlmprune export --all-tasks --model demo --suite benchmarks.toml
      vlmprune export --all-tasks --model ./Qwen2.5-VL-3B-Instruct --genai
      vlmprune export --all-tasks --model demo --quantize int4 --out variants/demo-int4
      vlmprune export --all-tasks --model demo --dtype fp16 --out variants/demo-fp16
      vlmprune manifest validate variants/demo/manifest.json
    """
    from ..manifest.detector import fit_task_detector
    from ..manifest.variants import (
        GENERIC,
        Rule,
        ScoresSource,
        full_variant,
        plan_all_tasks,
        plan_single,
    )
    from ..models.loading import load_vlm
    from ..onnx.pipeline import run_export
    from ..onnx.quantize import Precision
    from ..onnx.settings import DecoderLayout, DType, ExportSettings, GenaiMode
    from ..search.files import suite_scores_root

    if all_tasks == (task is not None or blocks is not None):
        raise VlmpruneError("give either --all-tasks, or --task NAME and/or --blocks 3,4")
    if remove is not None and max_drop is not None:
        raise VlmpruneError("--remove and --max-drop are alternatives; give one")
    rule = Rule(max_drop_pct=max_drop) if max_drop is not None else Rule(remove=remove or 2)
    suite = current_dataset_suite()
    vlm = load_vlm(model_spec)
    search = f"vlmprune search --model {model_spec}"
    if scores_dir != Path("scores"):
        search += f" --scores-dir {scores_dir}"
    if not suite.is_builtin:
        search += f" --suite {suite.path}"
    folder = suite_scores_root(scores_dir, suite) / vlm.name
    source = ScoresSource(folder, search, vlm.model_hash, vlm.num_blocks, suite)
    if all_tasks:
        specs = plan_all_tasks(source, rule, include_full)
    else:
        specs = [
            plan_single(source, rule, task, parse_blocks(blocks, "--blocks") if blocks else None)
        ]
        if include_full and specs[0].removed_blocks:
            specs.append(full_variant())
    out = out or Path("variants") / vlm.name
    datasets = _datasets(source, GENERIC)
    settings = ExportSettings(
        out=out,
        manifest=manifest or out / "manifest.json",
        datasets=datasets,
        parity_examples=parity_examples,
        score_examples=score_examples,
        batch_size=batch_size,
        progress=not as_json,
        genai=GenaiMode.AUTO if genai is None else GenaiMode.ON if genai else GenaiMode.OFF,
        layout=None if decoder_layout == "auto" else DecoderLayout(decoder_layout),
        precision=Precision(precision),
        dtype=DType(dtype),
    )
    # Passed uncalled: the detector is fitted only once every graph passed parity.
    detector = _detector(suite, datasets, fit_task_detector)
    summary = run_export(
        vlm, specs, settings, _provenance(rule, source, specs), task_detector=detector
    )
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=2))
    else:
        _print_table(summary)
    failed = summary.result.failed
    if failed:
        names = ", ".join(f"{o.spec.name} ({o.parity.problem()})" for o in failed)
        raise VlmpruneError(f"{len(failed)} variant(s) failed parity and were not written: {names}")


def _datasets(source: ScoresSource, generic: str) -> tuple[TaskDataset, ...]:
    """Datasets for parity inputs and scores: those the generic objective covered, else the suite."""
    from ..manifest.variants import suite_dataset_names
    from ..tasks.suites import require_examples

    suite = source.dataset_suite()
    names = suite.names()
    if source.path(generic).is_file():
        try:
            names = suite_dataset_names(source.load(generic), suite)
        except VlmpruneError:
            pass  # a single-variant export does not need generic.json to be usable
    datasets = tuple(suite.get(name) for name in names)
    require_examples(datasets, "test", 1, "the parity check and the variants' scores need")
    return datasets


def _detector(
    suite: DatasetSuite, datasets: tuple[TaskDataset, ...], builtin: Callable[[], dict]
) -> Callable[[], dict | None]:
    """The task detector's fit: on the built-in suite's train prompts, or on the suite file's
    calib + test prompts (what its variants were chosen and measured on)."""
    if suite.is_builtin:
        return builtin
    from ..manifest.suite_detector import fit_suite_detector

    return lambda: fit_suite_detector(datasets, suite)


def _provenance(rule: Rule, source: ScoresSource, specs: list[VariantSpec]) -> dict:
    from ..manifest.build import sha256_file

    objectives = dict.fromkeys(s.objective for s in specs)
    files = {o: source.path(o) for o in objectives if source.path(o).is_file()}
    return {
        "selection_rule": rule.describe(),
        "scores_files": {o: {"path": str(p), "sha256": sha256_file(p)} for o, p in files.items()},
        **source.dataset_suite().provenance(),  # the suite file and its hash; none: built-in
    }


def _print_table(summary: ExportSummary) -> None:
    r = summary.result
    click.echo(
        f"model {summary.vlm_name}: {len(r.written)} variant(s) in {summary.out}, manifest {summary.manifest}"
    )
    click.echo(
        f"{'variant':<16} {'removed':<14} {'prefill Δ':>10} {'decode Δ':>10} {'greedy':>9} {'mean score':>10}"
    )
    for o in r.written:
        p = o.parity
        mean = sum(o.scores.values()) / len(o.scores) if o.scores else float("nan")
        click.echo(
            f"{o.spec.name:<16} {str(list(o.spec.removed_blocks)):<14} {p.prefill_max_abs_diff:>10.1e} "
            f"{p.decode_max_abs_diff:>10.1e} {p.identical:>4}/{p.n:<4} {mean:>10.3f}"
        )
    w = r.weights
    click.echo(
        f"weights.bin {w.file_bytes / 1e6:.2f} MB: {w.unique_tensors} unique tensors for "
        f"{w.references} references ({w.referenced_bytes / 1e6:.2f} MB before deduplication); "
        f"export folder {summary.bytes_on_disk / 1e6:.2f} MB; {summary.seconds:.1f} s"
    )
    if summary.genai and summary.genai.get("folders"):
        g = summary.genai
        click.echo(
            f"onnxruntime-genai: {g['folders']} folder(s) in {summary.out / 'genai'}, "
            f"{g['extra_bytes'] / 1e3:.1f} kB on disk beyond the export "
            f"({g['apparent_bytes'] / 1e6:.2f} MB apparent: "
            f"{'hard links' if g['hard_linked'] else 'copies'} of its files)"
        )
