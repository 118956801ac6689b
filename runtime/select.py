"""Which variant runs, and why: the selection rules of issue 6, as one pure function.

1. a hint naming a dataset        -> that dataset's variant          (Reason.DATASET_HINT)
2. a hint naming a task type      -> that type's variant             (Reason.TASK_TYPE_HINT)
3. a hint naming a variant        -> that variant                    (Reason.VARIANT_HINT)
4. an unknown hint                -> the default (generic) + warning (Reason.UNKNOWN_HINT);
                                     `strict=True` raises UnknownHintError instead
5. no hint, detect=True           -> the detected type's variant if confidence >= the
                                     manifest's threshold (Reason.DETECTED), else generic
                                     (Reason.LOW_CONFIDENCE); a prompt the detector abstains
                                     on (empty, an unseen script, no known word) -> generic
                                     (Reason.UNDETECTABLE); no usable detector in the
                                     manifest -> generic + warning (Reason.NO_DETECTOR)
6. no hint                        -> the default variant, `generic`  (Reason.DEFAULT)

A hint wins over detection. Hints match case-insensitively, with '-' and ' ' read as '_'.
A task type with no variant of its own (a hint or a detection) -> generic, reason saying so.

With a latency budget (`max_latency_ms`), the rules above name the task, then the variant
that runs is the most accurate one for that task among the variants whose latency measured
on this execution provider (manifest `latency`, written by `vlmprune profile
--write-manifest`; see latency.py) meets the budget (Reason.LATENCY_BUDGET when that is not
the rules' choice; `Selection.before_budget` keeps the rules' selection). Accuracy is the
variant's mean test-split score over the task's datasets: the hinted dataset, the datasets
of the task type, or all datasets when the task is not known. No variant fits, or none was
measured -> LatencyBudgetError.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum

from .detect import Detection
from .errors import (
    DetectionFallbackWarning,
    InputError,
    LatencyBudgetError,
    UnknownHintError,
    UnknownHintWarning,
)
from .latency import BUDGET_STATISTIC, BUDGET_TIMING, Measured, measured
from .manifest import Manifest, Variant

CPU_PROVIDER = "CPUExecutionProvider"


class Reason(str, Enum):
    DATASET_HINT = "dataset_hint"
    TASK_TYPE_HINT = "task_type_hint"
    VARIANT_HINT = "variant_hint"
    UNKNOWN_HINT = "unknown_hint"
    NO_VARIANT_FOR_TYPE = "no_variant_for_type"
    DETECTED = "detected"
    LOW_CONFIDENCE = "low_confidence"
    UNDETECTABLE = "undetectable"  # the detector abstained: nothing in the prompt to go on
    NO_DETECTOR = "no_detector"
    DEFAULT = "default"
    LATENCY_BUDGET = "latency_budget"  # the rules' variant replaced to meet max_latency_ms


@dataclass(frozen=True)
class Selection:
    variant: str  # the variant that runs
    reason: Reason
    message: str  # one sentence for people: which variant and why
    hint: str | None = None  # the hint as given
    detection: Detection | None = None  # set when detection ran
    before_budget: Selection | None = None  # the rules' selection, when a budget replaced it
    latency_ms: float | None = None  # measured request latency compared with the budget


def valid_hints(manifest: Manifest) -> list[str]:
    """Every hint the manifest understands: datasets, task types, variant names."""
    names = [*manifest.dataset_to_variant, *manifest.task_type_to_variant, *manifest.variant_names]
    return list(dict.fromkeys(names))


def select(
    manifest: Manifest,
    task_hint: str | None = None,
    prompt: str | None = None,
    detect: bool = False,
    strict: bool = False,
    max_latency_ms: float | None = None,
    provider: str = CPU_PROVIDER,
) -> Selection:
    """Apply the rules above. Warns (UnknownHintWarning, DetectionFallbackWarning) or, with
    `strict=True`, raises (UnknownHintError, InputError) where a request cannot be honoured.

    max_latency_ms: a budget for the whole request, compared with each variant's measured
        latency on `provider` (the onnxruntime provider the runtime runs on).
    """
    if max_latency_ms is not None:
        _check_budget(max_latency_ms)
    if task_hint is not None and task_hint.strip():
        selection = _by_hint(manifest, task_hint, strict)
    elif detect:
        selection = _by_detection(manifest, prompt, strict)
    else:
        default = manifest.default_variant
        selection = Selection(
            default, Reason.DEFAULT, f"variant '{default}': no task hint given (the default)"
        )
    if max_latency_ms is not None:
        selection = _within_budget(manifest, selection, float(max_latency_ms), provider)
    return selection


def _norm(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def _lookup(mapping: Mapping[str, str], hint: str) -> tuple[str, str] | None:
    """(key as in the manifest, variant) for a normalised hint, or None."""
    for key, variant in mapping.items():
        if _norm(key) == hint:
            return key, variant
    return None


def _by_hint(manifest: Manifest, task_hint: str, strict: bool) -> Selection:
    hint = _norm(task_hint)
    if found := _lookup(manifest.dataset_to_variant, hint):
        key, variant = found
        return Selection(
            variant,
            Reason.DATASET_HINT,
            f"variant '{variant}': the hint names dataset '{key}'",
            task_hint,
        )
    if found := _lookup(manifest.task_type_to_variant, hint):
        key, variant = found
        return Selection(
            variant,
            Reason.TASK_TYPE_HINT,
            f"variant '{variant}': the hint names task type '{key}'",
            task_hint,
        )
    if found := _lookup({n: n for n in manifest.variant_names}, hint):
        variant = found[1]
        return Selection(
            variant,
            Reason.VARIANT_HINT,
            f"variant '{variant}': the hint names this variant",
            task_hint,
        )
    known_types = {v.task_type for v in manifest.variants if v.task_type} | set(
        _detector_labels(manifest)
    )
    default = manifest.default_variant
    if hint in {_norm(t) for t in known_types}:
        return Selection(
            default,
            Reason.NO_VARIANT_FOR_TYPE,
            f"variant '{default}': task type '{task_hint}' has no variant of its own",
            task_hint,
        )
    message = f"unknown task hint '{task_hint}'; valid hints: {', '.join(valid_hints(manifest))}"
    if strict:
        raise UnknownHintError(message)
    warnings.warn(f"{message}; running '{default}'", UnknownHintWarning, stacklevel=3)
    return Selection(default, Reason.UNKNOWN_HINT, f"variant '{default}': {message}", task_hint)


def _by_detection(manifest: Manifest, prompt: str | None, strict: bool) -> Selection:
    default = manifest.default_variant
    if prompt is None:
        raise InputError("detect=True needs the prompt: detection reads the prompt's wording")
    detector = manifest.task_detector
    if detector is None:
        message = manifest.task_detector_note or f"{manifest.path.name} has no task detector"
        if strict:
            raise InputError(f"{message}; pass a task hint instead of detect=True")
        warnings.warn(f"{message}; running '{default}'", DetectionFallbackWarning, stacklevel=3)
        return Selection(default, Reason.NO_DETECTOR, f"variant '{default}': {message}")
    found = detector.detect(prompt)
    if found.note is not None:
        return Selection(
            default, Reason.UNDETECTABLE, f"variant '{default}': {found.note}", detection=found
        )
    seen = f"detected '{found.task_type}' with confidence {found.confidence:.2f}"
    if not found.accepted:
        return Selection(
            default,
            Reason.LOW_CONFIDENCE,
            f"variant '{default}': {seen}, below the threshold {found.threshold:.2f}",
            detection=found,
        )
    variant = manifest.task_type_to_variant.get(found.task_type)
    if variant is None:
        return Selection(
            default,
            Reason.NO_VARIANT_FOR_TYPE,
            f"variant '{default}': {seen}, but that task type has no variant of its own",
            detection=found,
        )
    return Selection(
        variant,
        Reason.DETECTED,
        f"variant '{variant}': {seen} (threshold {found.threshold:.2f})",
        detection=found,
    )


def _detector_labels(manifest: Manifest) -> tuple[str, ...]:
    return manifest.task_detector.labels if manifest.task_detector is not None else ()


# --- latency budget ------------------------------------------------------------------------


def _check_budget(max_latency_ms: object) -> None:
    ok = isinstance(max_latency_ms, (int, float)) and not isinstance(max_latency_ms, bool)
    if not ok or not math.isfinite(max_latency_ms) or max_latency_ms <= 0:
        raise InputError(f"max_latency_ms must be a positive number, not {max_latency_ms!r}")


def _within_budget(manifest: Manifest, rule: Selection, budget: float, provider: str) -> Selection:
    """The most accurate variant for the rules' task whose measured latency meets `budget`."""
    known = {
        v.name: m
        for i, v in enumerate(manifest.variants)
        if (m := measured(v, provider, f"variants[{i}].latency")) is not None
    }
    stat = f"{BUDGET_STATISTIC} {BUDGET_TIMING.removesuffix('_ms')}"
    if not known:
        raise LatencyBudgetError(
            f"max_latency_ms: no variant of {manifest.path} has a latency measured on {provider}; "
            f"run `vlmprune profile --manifest {manifest.path} --write-manifest` on the target device"
        )
    unmeasured = [n for n in manifest.variant_names if n not in known]
    skipped = f"; not measured on {provider}: {', '.join(unmeasured)}" if unmeasured else ""
    fits = [v for v in manifest.variants if v.name in known and known[v.name].request_ms <= budget]
    if not fits:
        fastest = min(known.values(), key=lambda m: m.request_ms)
        raise LatencyBudgetError(
            f"no variant meets max_latency_ms={budget:g}: the fastest, '{fastest.variant}', "
            f"takes {fastest.request_ms:.1f} ms ({stat}, {provider} on {fastest.device}){skipped}"
        )
    datasets, task = _task_datasets(manifest, rule)
    best = min(fits, key=lambda v: _rank(v, datasets, rule.variant))
    m: Measured = known[best.name]
    fit = f"{m.request_ms:.1f} ms <= {budget:g} ms ({stat}, {provider} on {m.device})"
    if best.name == rule.variant:
        message = f"{rule.message}; within the latency budget: {fit}"
        return replace(rule, message=message, latency_ms=m.request_ms)
    score = _accuracy(best, datasets)
    evidence = (
        f"mean test score {score:.3f}" if score is not None else "no scores: fewest blocks removed"
    )
    message = (
        f"variant '{best.name}': the most accurate for {task} within max_latency_ms={budget:g} "
        f"({evidence}; {fit}); the rules chose '{rule.variant}' ({rule.reason.value})"
    )
    return Selection(
        best.name, Reason.LATENCY_BUDGET, message, rule.hint, rule.detection, rule, m.request_ms
    )


def _task_datasets(manifest: Manifest, rule: Selection) -> tuple[list[str], str]:
    """The datasets whose scores say how accurate a variant is for the rules' task, and the
    task in words. Unknown task (default, fallbacks, a variant named): all datasets."""
    everything = sorted({d for v in manifest.variants for d in v.scores})
    if rule.reason is Reason.DATASET_HINT and rule.hint is not None:
        found = _lookup(manifest.dataset_to_variant, _norm(rule.hint))
        if found is not None:
            return [found[0]], f"dataset '{found[0]}'"
    task_type = None
    if rule.reason is Reason.TASK_TYPE_HINT and rule.hint is not None:
        found = _lookup(manifest.task_type_to_variant, _norm(rule.hint))
        task_type = found[0] if found is not None else None
    elif rule.reason is Reason.DETECTED and rule.detection is not None:
        task_type = rule.detection.task_type
    if task_type is not None:
        own = sorted(
            {v.objective for v in manifest.variants if v.task_type == task_type} & set(everything)
        )
        if own:
            return own, f"task type '{task_type}' ({', '.join(own)})"
    return everything, "all datasets (no task known)" if everything else "the task"


def _accuracy(variant: Variant, datasets: list[str]) -> float | None:
    """Mean test-split score over `datasets`; None unless the variant has all of them."""
    if not datasets or any(d not in variant.scores for d in datasets):
        return None
    return sum(variant.scores[d] for d in datasets) / len(datasets)


def _rank(variant: Variant, datasets: list[str], chosen: str) -> tuple:
    """Sort key, best first: measured accuracy, then the rules' choice, then fewer removed."""
    score = _accuracy(variant, datasets)
    return (score is None, -(score or 0.0), variant.name != chosen, len(variant.removed_blocks))
