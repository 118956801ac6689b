"""What the written variants score, measured with PyTorch (blocks removed): the test-split
score of every variant on every dataset, and the calib-split drops that decide which
variant serves a task type whose datasets chose different ones."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..manifest.build import choose_task_type_variants
from ..models.loading import LoadedVlm
from ..tasks.base import TaskDataset
from .build import BuildResult, VariantOutcome
from .settings import EMBED_FILE, ExportSettings, progress

if TYPE_CHECKING:
    from ..evaluation.evaluate import Evaluator


def measure_scores(
    vlm: LoadedVlm,
    outcomes: list[VariantOutcome],
    settings: ExportSettings,
    staging: Path | None = None,
) -> None:
    """Test-split score of every written variant on every dataset (PyTorch, blocks removed).

    Quantized or fp16 variants (settings.lowered): PyTorch's fp32 scores become `fp32_scores`
    and `scores` are what the written graphs in `staging` answer, through the runtime's
    decoding (an fp16 graph the CPU provider cannot run keeps PyTorch's: `half` says why).
    """
    from ..evaluation.evaluate import Evaluator
    from ..tasks.base import Split

    evaluator = Evaluator(vlm, batch_size=settings.batch_size)
    removal_sets = list(
        dict.fromkeys(o.spec.removed_blocks for o in outcomes if o.file is not None)
    )
    datasets = export_datasets(settings)
    jobs = [(r, d) for r in removal_sets for d in datasets]
    scores: dict[tuple[int, ...], dict[str, float]] = {r: {} for r in removal_sets}
    for removed, dataset in progress(jobs, settings.progress, "test-split scores", "eval"):
        result = evaluator.evaluate(datasets[dataset], Split.TEST, removed, settings.score_examples)
        scores[removed][dataset] = result.score
    for outcome in outcomes:
        if outcome.file is not None:
            outcome.scores = dict(scores[outcome.spec.removed_blocks])
    if settings.lowered:
        if staging is None:
            raise ValueError(
                "quantized/fp16 variants are scored from their files: staging is needed"
            )
        _quantized_scores(evaluator, outcomes, settings, staging)


def _quantized_scores(
    evaluator: Evaluator, outcomes: list[VariantOutcome], settings: ExportSettings, staging: Path
) -> None:
    """Each quantized (or fp16) graph's own test-split scores, decoded by the torch-free runtime loop.

    The input embeddings are PyTorch's (vision and embed_tokens graphs stay fp32 and match
    them to ~1e-6): only the quantized decoder differs from the fp32 measurement.
    """
    from ...runtime.generation import greedy_decode
    from ..evaluation.evaluate import score_result
    from ..tasks.base import Split
    from .parity import session_from_file

    vlm, datasets = evaluator.vlm, export_datasets(settings)
    embed = session_from_file(staging / EMBED_FILE)
    measured: dict[str, dict[str, float]] = {}  # decoder file -> dataset -> score
    written = [o for o in outcomes if o.file is not None and o.runs_here]
    for outcome in progress(written, settings.progress, "quantized test-split scores", "variant"):
        outcome.fp32_scores = outcome.scores
        if outcome.file not in measured:
            decoder = session_from_file(staging / outcome.file)
            row: dict[str, float] = {}
            for name, dataset in datasets.items():
                prepared = evaluator.prepare(dataset, Split.TEST, settings.score_examples)
                predictions = []
                for embeds, mask, positions in prepared.batches:
                    tokens = greedy_decode(
                        decoder,
                        embed,
                        embeds.numpy(),
                        mask.numpy(),
                        positions.numpy(),
                        vlm.eos_ids,
                        prepared.max_new_tokens,
                    ).tokens
                    predictions += [
                        vlm.tokenizer.decode(t, skip_special_tokens=True).strip() for t in tokens
                    ]
                removed = outcome.spec.removed_blocks
                row[name] = score_result(prepared, predictions, removed).score
            measured[outcome.file] = row
        outcome.scores = dict(measured[outcome.file])


def calib_relative_drops(
    vlm: LoadedVlm,
    removal_sets: dict[str, tuple[int, ...]],
    datasets: Iterable[str],
    settings: ExportSettings,
) -> dict[str, dict[str, float]]:
    """variant -> dataset -> calib relative drop (base - score) / base of its removal set."""
    from ..evaluation.evaluate import Evaluator
    from ..tasks.base import Split

    evaluator = Evaluator(vlm, batch_size=settings.batch_size)
    datasets = list(datasets)
    known = export_datasets(settings)
    base = {
        d: evaluator.evaluate(known[d], Split.CALIB, (), settings.score_examples).score
        for d in datasets
    }
    drops: dict[str, dict[str, float]] = {}
    for name, removed in removal_sets.items():
        drops[name] = {}
        for d in datasets:
            score = evaluator.evaluate(
                known[d], Split.CALIB, removed, settings.score_examples
            ).score
            drops[name][d] = (base[d] - score) / base[d] if base[d] > 0 else base[d] - score
    return drops


def selection_maps(
    vlm: LoadedVlm, result: BuildResult, settings: ExportSettings
) -> tuple[dict[str, str], dict[str, str], dict]:
    """dataset -> variant and task type -> variant (docs/contracts.md; manifest.build)."""
    by_name = export_datasets(settings)
    default = result.outcomes[0].spec.name
    own = {o.spec.objective: o.spec.name for o in result.written}
    dataset_map = {d: own.get(d, default) for d in by_name}
    dataset_type = {d: ds.task_type.value for d, ds in by_name.items()}
    with_variant = {d: own[d] for d in by_name if d in own}
    removal = {o.spec.name: o.spec.removed_blocks for o in result.written}
    drops: dict[str, dict[str, float]] = {}
    for datasets, variants in _contested(with_variant, dataset_type):
        measured = calib_relative_drops(vlm, {v: removal[v] for v in variants}, datasets, settings)
        for variant, row in measured.items():
            drops.setdefault(variant, {}).update(row)
    type_map, evidence = choose_task_type_variants(with_variant, dataset_type, drops)
    for row in evidence.values():
        row.update(split="calib", n=settings.score_examples)
    for task_type in dict.fromkeys(dataset_type.values()):
        type_map.setdefault(task_type, default)
    return dataset_map, type_map, evidence


def export_datasets(settings: ExportSettings) -> dict[str, TaskDataset]:
    """name -> dataset, in the export's order (settings hold built-in names or objects)."""
    from ..tasks.catalog import as_dataset

    return {ds.name: ds for ds in map(as_dataset, settings.datasets)}


def _contested(
    with_variant: dict[str, str], dataset_type: dict[str, str]
) -> list[tuple[list[str], list[str]]]:
    """(datasets, candidate variants) of each task type whose datasets have different variants."""
    contested = []
    for task_type in dict.fromkeys(dataset_type.values()):
        members = [d for d, t in dataset_type.items() if t == task_type]
        names = list(dict.fromkeys(with_variant[d] for d in members if d in with_variant))
        if len(names) > 1:
            contested.append((members, names))
    return contested
