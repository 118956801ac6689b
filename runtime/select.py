"""Which variant runs, and why: the selection rules of issue 6, as one pure function.

1. a hint naming a dataset        -> that dataset's variant          (Reason.DATASET_HINT)
2. a hint naming a task type      -> that type's variant             (Reason.TASK_TYPE_HINT)
3. a hint naming a variant        -> that variant                    (Reason.VARIANT_HINT)
4. an unknown hint                -> the default (generic) + warning (Reason.UNKNOWN_HINT);
                                     `strict=True` raises UnknownHintError instead
5. no hint, detect=True           -> the detected type's variant if confidence >= the
                                     manifest's threshold (Reason.DETECTED), else generic
                                     (Reason.LOW_CONFIDENCE); no detector in the manifest
                                     -> generic + warning (Reason.NO_DETECTOR)
6. no hint                        -> the default variant, `generic`  (Reason.DEFAULT)

A hint wins over detection. Hints match case-insensitively, with '-' and ' ' read as '_'.
A task type with no variant of its own (a hint or a detection) -> generic, reason saying so.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from .detect import Detection
from .errors import DetectionFallbackWarning, InputError, UnknownHintError, UnknownHintWarning
from .manifest import Manifest


class Reason(str, Enum):
    DATASET_HINT = "dataset_hint"
    TASK_TYPE_HINT = "task_type_hint"
    VARIANT_HINT = "variant_hint"
    UNKNOWN_HINT = "unknown_hint"
    NO_VARIANT_FOR_TYPE = "no_variant_for_type"
    DETECTED = "detected"
    LOW_CONFIDENCE = "low_confidence"
    NO_DETECTOR = "no_detector"
    DEFAULT = "default"
    # Extension point: a latency budget (`max_latency_ms`, from each variant's `latency`
    # entry written by `vlmprune profile`) would add e.g. LATENCY_BUDGET here; see select().


@dataclass(frozen=True)
class Selection:
    variant: str  # the variant that runs
    reason: Reason
    message: str  # one sentence for people: which variant and why
    hint: str | None = None  # the hint as given
    detection: Detection | None = None  # set when detection ran


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
) -> Selection:
    """Apply the rules above. Warns (UnknownHintWarning, DetectionFallbackWarning) or, with
    `strict=True`, raises (UnknownHintError, InputError) where a request cannot be honoured."""
    if task_hint is not None and task_hint.strip():
        selection = _by_hint(manifest, task_hint, strict)
    elif detect:
        selection = _by_detection(manifest, prompt, strict)
    else:
        default = manifest.default_variant
        selection = Selection(
            default, Reason.DEFAULT, f"variant '{default}': no task hint given (the default)"
        )
    # Extension point for `max_latency_ms`: given a budget, replace `selection` here with
    # the most accurate variant whose measured latency fits, keeping the reason chain.
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
    if prompt is None or not prompt.strip():
        raise InputError("detect=True needs the prompt: detection reads the prompt's wording")
    detector = manifest.task_detector
    if detector is None:
        message = f"{manifest.path.name} has no task detector"
        if strict:
            raise InputError(f"{message}; pass a task hint instead of detect=True")
        warnings.warn(f"{message}; running '{default}'", DetectionFallbackWarning, stacklevel=3)
        return Selection(default, Reason.NO_DETECTOR, f"variant '{default}': {message}")
    found = detector.detect(prompt)
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
