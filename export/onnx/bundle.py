"""Build an export folder (graphs, shared weights, tokenizer, manifest): all or nothing.

Everything is written to a staging folder beside the target (`.<name>.partial-<pid>`) and
renamed into place at the end, so an error, a full disk or Ctrl-C leaves the previous
export (or nothing) behind, never half of one. A marker file records which model an
export folder belongs to; an export never replaces another model's folder.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..errors import VlmpruneError
from ..manifest.variants import VariantSpec
from ..models.loading import LoadedVlm
from . import graphs
from .parity import (
    ParityConfig,
    ParityReport,
    ParitySet,
    check_decoder,
    session_from_file,
    session_from_proto,
)
from .weights import SharedWeightsWriter, WeightsStats

MANIFEST_FILE = "manifest.json"
MARKER_FILE = "vlmprune_export.json"
TOKENIZER_FILE = "tokenizer.json"
VISION_FILE = f"{graphs.VISION_ENCODER}.onnx"
EMBED_FILE = f"{graphs.EMBED_TOKENS}.onnx"

Log = Callable[[str], None]


class ExportError(VlmpruneError):
    """The export cannot proceed; nothing was changed in the output folder."""


@dataclass(frozen=True)
class ExportSettings:
    out: Path
    manifest: Path
    datasets: tuple[str, ...]  # parity inputs and measured scores come from these
    parity_examples: int = 200
    score_examples: int = 200
    batch_size: int = 32
    parity: ParityConfig = field(default_factory=ParityConfig)
    progress: bool = True


@dataclass
class VariantOutcome:
    spec: VariantSpec
    parity: ParityReport
    file: str | None = None  # decoder file name in the export folder (None: not written)
    scores: dict[str, float] = field(default_factory=dict)  # test split, per dataset


@dataclass
class BuildResult:
    """What the staging folder holds once every graph is written and checked."""

    outcomes: list[VariantOutcome]
    shared_max_abs_diff: float  # vision_encoder + embed_tokens vs PyTorch's input embeddings
    weights: WeightsStats
    seconds: dict[str, float]
    max_new_tokens: int  # longest reference answer (in tokens) of the parity examples, + 2

    @property
    def written(self) -> list[VariantOutcome]:
        return [o for o in self.outcomes if o.file is not None]

    @property
    def failed(self) -> list[VariantOutcome]:
        return [o for o in self.outcomes if o.file is None]


@dataclass
class _Work:
    """State shared by the steps of one build."""

    vlm: LoadedVlm
    settings: ExportSettings
    writer: SharedWeightsWriter
    parity_set: ParitySet
    embed_session: ort.InferenceSession
    probes: dict[tuple[int, ...], np.ndarray] = field(default_factory=dict)  # prefill logits
    seconds: dict[str, float] = field(default_factory=lambda: {"export": 0.0, "parity": 0.0})

    def timed(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - start
        return now


def stderr_log(message: str) -> None:
    print(message, file=sys.stderr)


# --- destination -------------------------------------------------------------------------


def check_destination(out: Path, manifest: Path, vlm: LoadedVlm) -> None:
    """Refuse an output folder that is not ours to replace, or a manifest that cannot reach it."""
    if not out.resolve().is_relative_to(manifest.parent.resolve()):
        raise ExportError(
            f"--out {out} is not inside the manifest's folder '{manifest.parent}': manifest paths "
            f"must stay inside its folder; use e.g. --manifest {out / MANIFEST_FILE}"
        )
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        try:
            owner = json.loads((out / MARKER_FILE).read_text())
        except (OSError, ValueError):
            raise ExportError(
                f"--out {out} holds files that are not a vlmprune export (no readable "
                f"{MARKER_FILE}); choose a new or empty folder"
            ) from None
        if owner.get("model_hash") != vlm.model_hash:
            raise ExportError(
                f"--out {out} holds the export of another model ('{owner.get('model')}', hash "
                f"{str(owner.get('model_hash'))[:12]}…), not of '{vlm.name}' "
                f"({vlm.model_hash[:12]}…); choose another --out or delete that folder"
            )


def staging_folder(out: Path) -> Path:
    """A fresh `.<name>.partial-<pid>` beside `out`; leftovers of dead processes are removed.

    A process killed between the two renames of `publish` leaves the previous export as
    `.<name>.old-<pid>` and no `out`: it is put back.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    for leftover in sorted(out.parent.glob(f".{out.name}.*-*")):
        kind, _, pid = leftover.name[len(out.name) + 2 :].rpartition("-")
        if kind not in ("partial", "old") or not pid.isdigit() or _alive(int(pid)):
            continue
        if kind == "old" and not out.exists():
            os.rename(leftover, out)
        else:
            shutil.rmtree(leftover, ignore_errors=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def publish(staging: Path, out: Path) -> None:
    """Swap `staging` into `out` with renames; the old folder goes only once the new is in place."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(out, old)
    os.rename(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- build -------------------------------------------------------------------------------


def build(
    vlm: LoadedVlm, specs: Sequence[VariantSpec], settings: ExportSettings, staging: Path, log: Log
) -> BuildResult:
    """Export, check and write every graph into `staging`; then measure the variants' scores."""
    start = time.perf_counter()
    parity_set = ParitySet.build(
        vlm, settings.datasets, settings.parity_examples, settings.batch_size
    )
    inputs_s, start = time.perf_counter() - start, time.perf_counter()
    with SharedWeightsWriter(staging) as writer:
        vision, embed = graphs.export_vision_encoder(vlm), graphs.export_embed_tokens(vlm)
        embed_session = session_from_proto(embed)
        work = _Work(vlm, settings, writer, parity_set, embed_session)
        work.seconds["parity_inputs"] = inputs_s
        shared_diff = parity_set.attach_shared(session_from_proto(vision), embed_session)
        if not shared_diff <= settings.parity.atol:
            raise ExportError(
                f"vision_encoder + embed_tokens differ from PyTorch by {shared_diff:.2e} "
                f"(relative to the largest |embedding|) > "
                f"{settings.parity.atol:.0e}; nothing was written"
            )
        writer.add_graph(graphs.compact_value_names(vision), VISION_FILE)
        writer.add_graph(graphs.compact_value_names(embed), EMBED_FILE)
        del vision, embed
        work.timed("export", start)
        outcomes: list[VariantOutcome] = []
        for removed, group in _progress(
            _groups(specs), settings.progress, "export + parity", "variant"
        ):
            outcomes += _export_group(work, removed, group)
        weights = writer.stats()
    default = outcomes[0]
    if default.file is None:
        raise ExportError(
            f"the default variant '{default.spec.name}' failed parity ({default.parity.problem()}); "
            "nothing was written"
        )
    _check_written(staging, outcomes, work.probes, parity_set, settings.parity.atol)
    start = time.perf_counter()
    _measure_scores(vlm, outcomes, settings)
    seconds = {**work.seconds, "scores": time.perf_counter() - start}
    for outcome in outcomes:
        if outcome.file is None:
            log(
                f"variant '{outcome.spec.name}' (removed {list(outcome.spec.removed_blocks)}) "
                f"failed parity and was not written: {outcome.parity.problem()}"
            )
    max_new = max(b.max_new_tokens for b in parity_set.batches)
    return BuildResult(outcomes, shared_diff, weights, seconds, max_new)


def _groups(specs: Sequence[VariantSpec]) -> list[tuple[tuple[int, ...], list[VariantSpec]]]:
    """Variants with the same removal set share one export and one parity check."""
    groups: dict[tuple[int, ...], list[VariantSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.removed_blocks, []).append(spec)
    return list(groups.items())


def _export_group(
    work: _Work, removed: tuple[int, ...], group: list[VariantSpec]
) -> list[VariantOutcome]:
    vlm, start = work.vlm, time.perf_counter()
    with vlm.adapter.removed(vlm.model, removed):
        proto = graphs.export_decoder(vlm)
        session = session_from_proto(proto)
        start = work.timed("export", start)
        report = check_decoder(
            vlm, session, work.embed_session, work.parity_set, work.settings.parity
        )
        start = work.timed("parity", start)
    outcomes = [VariantOutcome(spec, report) for spec in group]
    if not report.passed:
        return outcomes
    work.probes[removed] = _probe(session, work.parity_set)
    first = f"{graphs.DECODER_PREFIX}{group[0].name}.onnx"
    work.writer.add_graph(graphs.compact_value_names(proto), first)
    for outcome in outcomes:
        name = f"{graphs.DECODER_PREFIX}{outcome.spec.name}.onnx"
        if name != first:  # same removal set, same graph: a copy under the variant's name
            shutil.copyfile(work.writer.folder / first, work.writer.folder / name)
        outcome.file = name
    work.timed("export", start)
    return outcomes


def _probe(session: ort.InferenceSession, parity_set: ParitySet, rows: int = 4) -> np.ndarray:
    """Last-position prefill logits (rows, V) of the first parity batch (small to keep)."""
    batch = parity_set.batches[0]
    mask = batch.mask[:rows]
    feed = {
        "inputs_embeds": batch.onnx_embeds[:rows],
        "attention_mask": mask,
        "position_ids": np.clip(np.cumsum(mask, -1) - 1, 0, None),
    }
    for arg in session.get_inputs()[3:]:
        feed[arg.name] = np.zeros((len(mask), arg.shape[1], 0, arg.shape[3]), np.float32)
    return session.run(["logits"], feed)[0][:, -1]


def _check_written(
    staging: Path,
    outcomes: list[VariantOutcome],
    probes: dict[tuple[int, ...], np.ndarray],
    parity_set: ParitySet,
    atol: float,
) -> None:
    """Every written graph loads with the shared weights file and computes what it did before."""
    for outcome in outcomes:
        if outcome.file is None:
            continue
        session = session_from_file(staging / outcome.file)
        got = _probe(session, parity_set)
        diff = float(np.abs(got - probes[outcome.spec.removed_blocks]).max())
        if not diff <= atol:
            raise ExportError(
                f"{outcome.file} differs by {diff:.2e} after moving its weights to the shared file"
            )


def _measure_scores(
    vlm: LoadedVlm, outcomes: list[VariantOutcome], settings: ExportSettings
) -> None:
    """Test-split score of every written variant on every dataset (PyTorch, blocks removed)."""
    from ..evaluation.evaluate import Evaluator
    from ..tasks.base import Split, get_dataset

    evaluator = Evaluator(vlm, batch_size=settings.batch_size)
    removal_sets = list(
        dict.fromkeys(o.spec.removed_blocks for o in outcomes if o.file is not None)
    )
    jobs = [(r, d) for r in removal_sets for d in settings.datasets]
    scores: dict[tuple[int, ...], dict[str, float]] = {r: {} for r in removal_sets}
    for removed, dataset in _progress(jobs, settings.progress, "test-split scores", "eval"):
        result = evaluator.evaluate(
            get_dataset(dataset), Split.TEST, removed, settings.score_examples
        )
        scores[removed][dataset] = result.score
    for outcome in outcomes:
        if outcome.file is not None:
            outcome.scores = dict(scores[outcome.spec.removed_blocks])


def calib_relative_drops(
    vlm: LoadedVlm,
    removal_sets: dict[str, tuple[int, ...]],
    datasets: Iterable[str],
    settings: ExportSettings,
) -> dict[str, dict[str, float]]:
    """variant -> dataset -> calib relative drop (base - score) / base of its removal set."""
    from ..evaluation.evaluate import Evaluator
    from ..tasks.base import Split, get_dataset

    evaluator = Evaluator(vlm, batch_size=settings.batch_size)
    datasets = list(datasets)
    base = {
        d: evaluator.evaluate(get_dataset(d), Split.CALIB, (), settings.score_examples).score
        for d in datasets
    }
    drops: dict[str, dict[str, float]] = {}
    for name, removed in removal_sets.items():
        drops[name] = {}
        for d in datasets:
            score = evaluator.evaluate(
                get_dataset(d), Split.CALIB, removed, settings.score_examples
            ).score
            drops[name][d] = (base[d] - score) / base[d] if base[d] > 0 else base[d] - score
    return drops


def _progress(items: list, enabled: bool, desc: str, unit: str) -> Iterable:
    if not enabled or len(items) < 2:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit=unit, file=sys.stderr)


def folder_bytes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()}
