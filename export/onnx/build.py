"""Every graph of an export into the staging folder: exported, parity-checked against
PyTorch, weights moved into the one shared file, and re-checked once there."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from ...runtime.decoders import DecoderLayout, DType, stepper
from ..manifest.variants import VariantSpec
from ..models.adapter import GraphSpec
from ..models.loading import LoadedVlm
from . import graphs
from .half import HalfCheck, to_fp16
from .parity import ParityReport, ParitySet, check_decoder, session_from_file, session_from_proto
from .quantize import Precision, quantize
from .settings import EMBED_FILE, VISION_FILE, ExportError, ExportSettings, Log, progress
from .weights import SharedWeightsWriter, WeightsStats


@dataclass
class VariantOutcome:
    spec: VariantSpec
    parity: ParityReport  # of the fp32 graph: the export's correctness criterion
    file: str | None = None  # decoder file name in the export folder (None: not written)
    scores: dict[str, float] = field(default_factory=dict)  # test split, per dataset
    # A quantized variant: the written graph against PyTorch fp32 (informative, not a gate:
    # 4-bit weights change logits by far more than any fp32 tolerance), and its own scores.
    quantized: ParityReport | None = None
    fp32_scores: dict[str, float] = field(default_factory=dict)
    half: HalfCheck | None = None  # an fp16 variant: its graph against PyTorch fp32

    @property
    def runs_here(self) -> bool:
        """The written graph runs on this machine's CPU provider (not: an fp16 graph it has
        no kernels for): it can be probed and scored."""
        return self.half is None or self.half.report is not None


@dataclass
class BuildResult:
    """What the staging folder holds once every graph is written and checked."""

    outcomes: list[VariantOutcome]
    shared_max_abs_diff: float  # vision_encoder + embed_tokens vs PyTorch's input embeddings
    weights: WeightsStats
    seconds: dict[str, float]
    max_new_tokens: int  # longest reference answer (in tokens) of the parity examples, + 2
    layout: DecoderLayout = DecoderLayout.TRACED
    precision: Precision = Precision.FP32
    dtype: DType = DType.FP32

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
    layout: DecoderLayout
    probes: dict[tuple[int, ...], np.ndarray] = field(default_factory=dict)  # prefill logits
    seconds: dict[str, float] = field(
        default_factory=lambda: {"export": 0.0, "parity": 0.0, "quantize": 0.0}
    )

    def timed(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - start
        return now


def build_graphs(
    vlm: LoadedVlm,
    specs: Sequence[VariantSpec],
    settings: ExportSettings,
    staging: Path,
    log: Log,
    extra_graphs: Sequence[tuple[str, GraphSpec]] = (),
) -> BuildResult:
    """Export, check and write every graph into `staging` (scores are measured afterwards).

    `extra_graphs`: (file name, graph) written into `staging` with the same shared weights
    (the onnxruntime-genai folders' vision and embedding graphs); checked by their user.
    """
    try:
        layout = graphs.choose_layout(vlm, settings.layout)
    except graphs.LayoutError as exc:
        raise ExportError(str(exc)) from None
    _check_dtype(settings, layout)
    start = time.perf_counter()
    parity_set = ParitySet.build(
        vlm, settings.datasets, settings.parity_examples, settings.batch_size
    )
    inputs_s, start = time.perf_counter() - start, time.perf_counter()
    with SharedWeightsWriter(staging) as writer:
        vision, embed = graphs.export_vision_encoder(vlm), graphs.export_embed_tokens(vlm)
        embed_session = session_from_proto(embed)
        work = _Work(vlm, settings, writer, parity_set, embed_session, layout)
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
        for name, graph in extra_graphs:
            writer.add_graph(graphs.compact_value_names(graphs.export_graph(graph)), name)
        work.timed("export", start)
        outcomes: list[VariantOutcome] = []
        for removed, group in progress(
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
    for outcome in outcomes:
        if outcome.file is None:
            log(
                f"variant '{outcome.spec.name}' (removed {list(outcome.spec.removed_blocks)}) "
                f"failed parity and was not written: {outcome.parity.problem()}"
            )
    max_new = max(b.max_new_tokens for b in parity_set.batches)
    return BuildResult(
        outcomes,
        shared_diff,
        weights,
        work.seconds,
        max_new,
        layout,
        settings.precision,
        settings.dtype,
    )


def _check_dtype(settings: ExportSettings, layout: DecoderLayout) -> None:
    """fp16 is written for fp32-weight gqa decoders only: one clear line otherwise."""
    if settings.dtype is not DType.FP16:
        return
    if settings.precision is not Precision.FP32:
        raise ExportError(
            f"--dtype fp16 converts fp32 weights; --quantize {settings.precision.value} graphs "
            "keep fp32 activations: give one of the two"
        )
    if layout is not DecoderLayout.GQA:
        raise ExportError(
            "--dtype fp16 is written for the gqa decoder layout only (the traced graph's "
            "attention masks are float32 arithmetic); this export's layout is "
            f"{layout.value}"
        )


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
    precision, quantized, half = work.settings.precision, None, None
    with vlm.adapter.removed(vlm.model, removed):
        proto = graphs.export_decoder(vlm, work.layout)
        session = session_from_proto(proto)
        start = work.timed("export", start)
        report = check_decoder(
            vlm, session, work.embed_session, work.parity_set, work.settings.parity
        )
        start = work.timed("parity", start)
        if report.passed and precision is not Precision.FP32:
            proto = quantize(proto, precision, f"decoder of '{group[0].name}'")
            session = session_from_proto(proto)
            start = work.timed("quantize", start)
            quantized = check_decoder(
                vlm, session, work.embed_session, work.parity_set, work.settings.parity
            )
            start = work.timed("parity", start)
        if report.passed and work.settings.dtype is DType.FP16:
            proto = to_fp16(proto, f"decoder of '{group[0].name}'")
            half, session = _check_half(work, proto)
            start = work.timed("parity", start)
    outcomes = [VariantOutcome(spec, report, quantized=quantized, half=half) for spec in group]
    if not report.passed:
        return outcomes
    if session is not None:
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


def _check_half(
    work: _Work, proto: onnx.ModelProto
) -> tuple[HalfCheck, ort.InferenceSession | None]:
    """The fp16 graph's agreement with PyTorch fp32 on the CPU provider, or why it was not
    measured (an onnxruntime without fp16 CPU kernels for these ops)."""
    provider = "CPUExecutionProvider"
    try:
        session = session_from_proto(proto)
        report = check_decoder(
            work.vlm, session, work.embed_session, work.parity_set, work.settings.parity
        )
    except Exception as exc:  # onnxruntime's errors share no useful base class
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = f"onnxruntime {ort.__version__} {provider} cannot run the fp16 graph: {first}"
        return HalfCheck(provider, None, reason), None
    return HalfCheck(provider, report), session


def _probe(session: ort.InferenceSession, parity_set: ParitySet, rows: int = 4) -> np.ndarray:
    """Last-position prefill logits (rows, V) of the first parity batch (small to keep)."""
    batch = parity_set.batches[0]
    mask = batch.mask[:rows]
    with stepper(session, len(mask), mask.shape[1]) as steps:
        logits = steps.prefill(batch.onnx_embeds[:rows], mask, batch.positions[..., :rows, :])
    return logits[:, -1]


def _check_written(
    staging: Path,
    outcomes: list[VariantOutcome],
    probes: dict[tuple[int, ...], np.ndarray],
    parity_set: ParitySet,
    atol: float,
) -> None:
    """Every written graph loads with the shared weights file and computes what it did before."""
    for outcome in outcomes:
        if outcome.file is None or outcome.spec.removed_blocks not in probes:
            continue  # not written, or an fp16 graph this CPU provider cannot run
        session = session_from_file(staging / outcome.file)
        got = _probe(session, parity_set)
        diff = float(np.abs(got - probes[outcome.spec.removed_blocks]).max())
        if not diff <= atol:
            raise ExportError(
                f"{outcome.file} differs by {diff:.2e} after moving its weights to the shared file"
            )
