"""`vlmprune eval`: per-dataset scores with 95% bootstrap intervals."""

from __future__ import annotations

import json

import click

from .options import (
    datasets_option,
    device_option,
    json_option,
    model_option,
    parse_blocks,
    resolve_datasets,
    resolve_device,
)
from .suite_option import suite_option, suite_provenance


@click.command("eval")
@model_option
@click.option("--split", type=click.Choice(["calib", "test"]), default="test", show_default=True)
@click.option("--remove", "remove", default=None, help="Blocks to remove, e.g. 3,4 (0-based).")
@datasets_option
@suite_option
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Examples per dataset.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--baseline/--no-baseline",
    default=True,
    show_default=True,
    help="Also score the trivial baseline (majority answer from calib).",
)
@device_option
@json_option
def command(
    model_spec: str,
    split: str,
    remove: str | None,
    datasets: str,
    limit: int | None,
    batch_size: int,
    baseline: bool,
    device: str,
    as_json: bool,
) -> None:
    """Score a model (optionally with blocks removed) on the suite or your JSONL data.

    \b
    Examples:
      vlmprune eval --model demo --split test
      vlmprune eval --model demo --remove 3,4 --datasets shapes_vqa,code_match
      vlmprune eval --model ./my-llava --datasets mine.jsonl --limit 100 --json
      vlmprune eval --model demo --suite benchmarks.toml --split calib --datasets text_vqa
    """
    from ..evaluation.baselines import majority_baseline
    from ..evaluation.evaluate import Evaluator
    from ..models.loading import load_vlm
    from ..tasks.suites import require_examples

    blocks = parse_blocks(remove)
    selected = resolve_datasets(datasets)
    require_examples(selected, split, 1, "vlmprune eval needs")
    vlm = load_vlm(model_spec, resolve_device(device))
    removed = vlm.adapter.validate(vlm.model, blocks)
    evaluator = Evaluator(vlm, device=device, batch_size=batch_size, progress=not as_json)
    results, baselines = [], {}
    for dataset in _progress(selected, as_json):
        results.append(evaluator.evaluate(dataset, split, removed, limit))
        if baseline:
            baselines[dataset.name] = majority_baseline(dataset, split, limit)
    mean = sum(r.score for r in results) / len(results)
    if as_json:
        rows = []
        for r in results:
            row = r.to_json()
            if baseline:
                row["baseline"] = baselines[r.dataset]
            rows.append(row)
        payload = {
            "model": vlm.name,
            "model_hash": vlm.model_hash,
            "split": split,
            "removed_blocks": list(removed),
            "results": rows,
            "mean": mean,
            **suite_provenance(),
        }
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo(
        f"model {vlm.name} ({vlm.num_blocks} blocks), split {split}, removed {list(removed)}"
    )
    header = (
        f"{'dataset':<16} {'task type':<16} {'metric':<17} {'score':>7} {'95% CI':>17} {'n':>5}"
    )
    click.echo(header + (f" {'baseline':>9}" if baseline else ""))
    for r in results:
        line = (
            f"{r.dataset:<16} {r.task_type:<16} {r.metric:<17} {r.score:>7.3f} "
            f"[{r.ci95[0]:>6.3f}, {r.ci95[1]:>6.3f}] {r.n:>5}"
        )
        click.echo(line + (f" {baselines[r.dataset]:>9.3f}" if baseline else ""))
    click.echo(f"mean score over {len(results)} datasets: {mean:.3f}")


def _progress(items: list, quiet: bool) -> list:
    if quiet or len(items) < 2:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="datasets", unit="dataset")
