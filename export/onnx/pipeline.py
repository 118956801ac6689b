"""`run_export`: the export, top to bottom.

    destination checked -> staging folder -> graphs + parity + shared weights (build.py)
    -> test-split scores and task-type choice (scores.py) -> task detector -> manifest
    -> marker -> staging renamed into place (folder.py)

Each stage returns what the next needs; none calls back into this module.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..io import atomic_write_json, provenance
from ..manifest.build import (
    FileEntry,
    ManifestInputs,
    VariantEntry,
    build_manifest,
    schema_problems,
    semantic_problems,
    sha256_file,
    write_manifest,
)
from ..manifest.variants import VariantSpec
from ..models.loading import LoadedVlm
from . import genai, graphs, quantize
from .build import BuildResult, VariantOutcome, build_graphs
from .folder import (
    check_destination,
    folder_bytes,
    make_readable,
    publish,
    sigterm_as_interrupt,
    staging_folder,
)
from .quantize import Precision
from .scores import measure_scores, selection_maps
from .settings import (
    EMBED_FILE,
    MARKER_FILE,
    TOKENIZER_FILE,
    VISION_FILE,
    ExportError,
    ExportSettings,
    GenaiMode,
    Log,
    stderr_log,
)
from .weights import WEIGHTS_FILE


@dataclass
class ExportSummary:
    vlm_name: str
    model_hash: str
    out: Path
    manifest: Path
    result: BuildResult
    files: dict[str, int]  # bytes on disk per file of the export folder
    seconds: float
    genai: dict | None = None  # the onnxruntime-genai folders: where, checks, disk cost

    @property
    def bytes_on_disk(self) -> int:
        return sum(self.files.values())

    def to_json(self) -> dict:
        r = self.result
        w = r.weights
        return {
            "model": self.vlm_name,
            "model_hash": self.model_hash,
            "out": str(self.out),
            "manifest": str(self.manifest),
            "variants": [_outcome_json(o) for o in r.written],
            "failed": [{**_outcome_json(o), "problem": o.parity.problem()} for o in r.failed],
            "shared_max_abs_diff": r.shared_max_abs_diff,
            "weights": {
                "unique_tensors": w.unique_tensors,
                "references": w.references,
                "data_bytes": w.data_bytes,
                "referenced_bytes": w.referenced_bytes,
                "file_bytes": w.file_bytes,
                "padding_bytes": w.padding_bytes,
            },
            "bytes_on_disk": self.bytes_on_disk,
            "files": self.files,
            "genai": self.genai,
            "decoder_layout": r.layout.value,
            "precision": r.precision.value,
            "dtype": r.dtype.value,
            "seconds": {"total": self.seconds, **r.seconds},
        }


def _outcome_json(o: VariantOutcome) -> dict:
    quantized = {"quantized_parity": o.quantized.to_json()} if o.quantized else {}
    if o.half is not None:
        quantized["fp16"] = _half(o)
    return {
        "name": o.spec.name,
        "objective": o.spec.objective,
        "removed_blocks": list(o.spec.removed_blocks),
        "file": o.file,
        "parity": {**o.parity.to_json(), "passed": o.parity.passed},
        "scores": o.scores,
        **quantized,
        **({"fp32_scores": o.fp32_scores} if o.fp32_scores else {}),
    }


def run_export(
    vlm: LoadedVlm,
    specs: list[VariantSpec],
    settings: ExportSettings,
    extra_provenance: dict | None = None,
    task_detector: dict | Callable[[], dict] | None = None,
    log: Log = stderr_log,
) -> ExportSummary:
    """Write the export folder and its manifest, or raise and leave everything as it was.

    `task_detector`: the manifest's `task_detector` section, or a function that fits it
    (called after the graphs passed parity, so a failed export does not wait for it).
    """
    out, manifest_path = Path(settings.out), Path(settings.manifest)
    check_destination(out, manifest_path, vlm)
    manifest_inside = manifest_path.resolve().is_relative_to(out.resolve())
    started = time.perf_counter()
    staging = staging_folder(out)
    with sigterm_as_interrupt():
        try:
            result, manifest, genai_info = _stage(
                vlm, specs, settings, staging, extra_provenance, task_detector, log
            )
            files = folder_bytes(staging)
            publish(staging, out)
        except OSError as exc:  # disk full, permissions...
            shutil.rmtree(staging, ignore_errors=True)
            raise ExportError(
                f"writing the export failed ({exc}); nothing was changed in {out}"
            ) from None
        except BaseException:  # errors, Ctrl-C, SIGTERM: no partial output
            shutil.rmtree(staging, ignore_errors=True)
            raise
    if not manifest_inside:
        make_readable(write_manifest(manifest_path, manifest))
    seconds = time.perf_counter() - started
    return ExportSummary(
        vlm.name, vlm.model_hash, out, manifest_path, result, files, seconds, genai_info
    )


def _stage(
    vlm: LoadedVlm,
    specs: list[VariantSpec],
    settings: ExportSettings,
    staging: Path,
    extra_provenance: dict | None,
    task_detector: dict | Callable[[], dict] | None,
    log: Log,
) -> tuple[BuildResult, dict, dict | None]:
    """Everything into `staging`: graphs and weights, tokenizer, genai folders, manifest (if
    inside), marker."""
    out, manifest_path = Path(settings.out).resolve(), Path(settings.manifest).resolve()
    note = log if settings.progress else (lambda message: None)
    distinct = len({s.removed_blocks for s in specs})
    note(
        f"exporting {len(specs)} variant(s) ({distinct} distinct removal sets) of {vlm.name}; "
        f"parity on {settings.parity_examples} test examples"
    )
    settings, genai_plan = genai.fit_layout(vlm, genai.plan(vlm, settings.genai), settings)
    if genai_plan.skipped:  # asked for: always said; by default only with progress output
        (log if settings.genai is GenaiMode.ON else note)(genai_plan.skipped)
    extra = genai.staged_graphs(genai_plan.spec) if genai_plan.spec is not None else []
    result = build_graphs(vlm, specs, settings, staging, log, extra)
    start = time.perf_counter()
    measure_scores(vlm, result.outcomes, settings, staging)
    result.seconds["scores"] = time.perf_counter() - start
    vlm.tokenizer.save(str(staging / TOKENIZER_FILE))
    genai_result, genai_info = _genai_folders(vlm, genai_plan, result, settings, staging, log)
    start = time.perf_counter()
    note("task types with several datasets: comparing their variants on the calib split")
    maps = selection_maps(vlm, result, settings)
    result.seconds["task_types"] = time.perf_counter() - start  # calib drops of contested types
    inputs = _manifest_inputs(
        vlm, result, settings, staging, maps, extra_provenance or {}, genai_result
    )
    start = time.perf_counter()
    if callable(task_detector):
        note("fitting the task detector")
    detector = task_detector() if callable(task_detector) else task_detector
    result.seconds["detector"] = time.perf_counter() - start
    manifest = build_manifest(inputs, detector)
    problems = schema_problems(manifest) or semantic_problems(manifest)
    if problems:
        raise ExportError(f"the manifest would be invalid: {problems[0]}")
    if manifest_path.is_relative_to(out):
        make_readable(write_manifest(staging / manifest_path.relative_to(out), manifest))
    marker = provenance(kind="vlmprune.export", model=vlm.name, model_hash=vlm.model_hash)
    make_readable(atomic_write_json(staging / MARKER_FILE, marker))
    return result, manifest, genai_info


def _genai_folders(
    vlm: LoadedVlm,
    plan: genai.GenaiPlan,
    result: BuildResult,
    settings: ExportSettings,
    staging: Path,
    log: Log,
) -> tuple[genai.GenaiResult | None, dict | None]:
    """The onnxruntime-genai folders (if planned) and what the summary says about them."""
    if plan.spec is None:
        return None, {"skipped": plan.skipped} if plan.skipped else None
    start = time.perf_counter()
    if settings.progress:
        log("writing and checking the onnxruntime-genai folders")
    written = genai.write_folders(vlm, plan.spec, result.written, staging, settings.datasets, log)
    result.seconds["genai"] = time.perf_counter() - start
    info = {
        "dirs": written.dirs,
        "parity": written.parity,
        "hard_linked": written.hard_linked,
        **genai.folder_cost(staging),
    }
    return written, info


def _generation(vlm: LoadedVlm, result: BuildResult) -> dict:
    text = vlm.adapter.text_config(vlm.model)
    generation = {
        "eos_token_id": vlm.eos_id,
        "pad_token_id": vlm.pad_id,
        "max_new_tokens": result.max_new_tokens,
        "context_length": int(text.max_position_embeddings),
    }
    if len(vlm.eos_ids) > 1:  # Qwen: <|im_end|> and <|endoftext|>
        generation["eos_token_ids"] = list(vlm.eos_ids)
    return generation


def _manifest_inputs(
    vlm: LoadedVlm,
    result: BuildResult,
    settings: ExportSettings,
    staging: Path,
    maps: tuple[dict[str, str], dict[str, str], dict],
    extra: dict,
    genai_result: genai.GenaiResult | None,
) -> ManifestInputs:
    def final(name: str) -> str:  # relative to the manifest's folder
        path = os.path.relpath(settings.out.resolve() / name, settings.manifest.resolve().parent)
        return Path(path).as_posix()

    def entry(name: str) -> FileEntry:
        return FileEntry(final(name), sha256_file(staging / name), (staging / name).stat().st_size)

    def genai_fields(name: str) -> dict:
        if genai_result is None or name not in genai_result.dirs:
            return {}
        return {
            "genai_dir": final(genai_result.dirs[name]),
            "genai_parity": genai_result.parity[name],
        }

    dims = graphs.decoder_dims(vlm)
    variants = [
        VariantEntry(
            o.spec,
            (entry(o.file),),
            o.scores,
            o.parity.to_json(),
            genai_fields(o.spec.name),
            result.precision.value,
            _quantization(o, result.precision),
            result.dtype.value,
            _half(o) if o.half is not None else None,
        )
        for o in result.written
    ]
    dataset_map, type_map, evidence = maps
    preprocessing = {
        **vlm.arch.preprocessing(),
        "tokenizer_file": entry(TOKENIZER_FILE).path,
        "tokenizer_sha256": sha256_file(staging / TOKENIZER_FILE),
    }
    return ManifestInputs(
        model={
            "id": vlm.name,
            "hash": vlm.model_hash,
            "architecture": vlm.model.config.model_type,
            "num_blocks": vlm.num_blocks,
            "hidden_size": dims.hidden_size,
            "vocab_size": dims.vocab_size,
            "num_key_value_heads": dims.num_kv_heads,
            "head_dim": dims.head_dim,
            "decoder_layout": result.layout.value,
        },
        preprocessing=preprocessing,
        generation=_generation(vlm, result),
        shared={
            "weights": entry(WEIGHTS_FILE),
            "vision_encoder": entry(VISION_FILE),
            "embed_tokens": entry(EMBED_FILE),
        },
        variants=variants,
        default_variant=result.outcomes[0].spec.name,
        dataset_to_variant=dataset_map,
        task_type_to_variant=type_map,
        task_type_selection=evidence,
        provenance=_provenance(vlm, settings, extra),
    )


def _quantization(outcome: VariantOutcome, precision: Precision) -> dict | None:
    """A quantized variant's greedy agreement with PyTorch fp32 and its score change."""
    if outcome.quantized is None:
        return None
    q = outcome.quantized
    return {
        "method": quantize.method(precision),
        "parity": {
            "greedy_identical": q.identical,
            "n": q.n,
            "prefill_max_abs_diff": q.prefill_max_abs_diff,
            "decode_max_abs_diff": q.decode_max_abs_diff,
        },
        "fp32_scores": dict(outcome.fp32_scores),
        "score_change": {
            d: outcome.scores[d] - outcome.fp32_scores[d]
            for d in outcome.scores
            if d in outcome.fp32_scores
        },
    }


def _half(outcome: VariantOutcome) -> dict:
    """An fp16 variant's agreement with PyTorch fp32 and its score change (or why neither
    was measured: then `scores` are PyTorch's fp32 ones)."""
    fp32 = dict(outcome.fp32_scores or outcome.scores)
    measured = outcome.half.report is not None
    change = {d: outcome.scores[d] - fp32[d] for d in outcome.scores if d in fp32}
    return {
        **outcome.half.to_json(),
        "fp32_scores": fp32,
        "score_change": change if measured else {},
    }


def _provenance(vlm: LoadedVlm, settings: ExportSettings, extra: dict) -> dict:
    import onnx
    import onnxruntime
    import torch
    import transformers

    from ..tasks.catalog import as_dataset
    from ..tasks.suites import recorded_suite

    datasets = [as_dataset(d) for d in settings.datasets]
    return provenance(
        model=vlm.name,
        model_hash=vlm.model_hash,
        split="test",
        n=settings.score_examples,
        seed=recorded_suite(datasets)["seed"],  # a suite file's draw seed, not the built-in one
        datasets=[d.name for d in datasets],
        parity={
            "examples": settings.parity_examples,
            "atol": settings.parity.atol,
            "decode_steps": settings.parity.decode_steps,
            "min_agreement": settings.parity.min_agreement,
            "tie_margin": settings.parity.tie_margin,
        },
        export={
            "opset": graphs.OPSET,
            "ir_version": graphs.IR_VERSION,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        **extra,
    )
