"""The selection rules of issue 6, one test per rule; the result always says why."""

import warnings

import pytest
from conftest import edit_manifest

from vlmprune.runtime import (
    DetectionFallbackWarning,
    InputError,
    UnknownHintError,
    UnknownHintWarning,
)
from vlmprune.runtime.manifest import load_manifest
from vlmprune.runtime.select import Reason, select, valid_hints


@pytest.fixture
def manifest(toy_manifest):
    return load_manifest(toy_manifest)


@pytest.mark.parametrize(
    "hint, variant, reason",
    [
        ("shapes_vqa", "shapes_vqa", Reason.DATASET_HINT),
        ("count_vqa", "shapes_vqa", Reason.DATASET_HINT),  # two datasets may share a variant
        ("code_match", "code_match", Reason.DATASET_HINT),
        ("vqa", "shapes_vqa", Reason.TASK_TYPE_HINT),
        ("exact_match", "code_match", Reason.TASK_TYPE_HINT),
        ("Exact-Match", "code_match", Reason.TASK_TYPE_HINT),  # case and '-' forgiven
        ("generic", "generic", Reason.VARIANT_HINT),
        ("captioning", "generic", Reason.NO_VARIANT_FOR_TYPE),  # a known type without a variant
    ],
)
def test_hint_rules(manifest, hint, variant, reason):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these may warn
        s = select(manifest, task_hint=hint)
    assert (s.variant, s.reason, s.hint) == (variant, reason, hint)
    assert s.message.startswith(f"variant '{variant}': ")


def test_no_hint_is_generic(manifest):
    s = select(manifest)
    assert (s.variant, s.reason) == ("generic", Reason.DEFAULT)
    assert "no task hint" in s.message
    assert select(manifest, task_hint="  ").reason is Reason.DEFAULT  # blank = no hint


def test_unknown_hint_warns_naming_valid_hints(manifest):
    with pytest.warns(
        UnknownHintWarning,
        match=r"unknown task hint 'poetry'; valid hints: shapes_vqa, count_vqa, code_match, vqa, exact_match, generic",
    ):
        s = select(manifest, task_hint="poetry")
    assert (s.variant, s.reason) == ("generic", Reason.UNKNOWN_HINT)
    assert "valid hints" in s.message


def test_unknown_hint_strict_raises(manifest):
    with pytest.raises(UnknownHintError, match="unknown task hint 'poetry'; valid hints: .*vqa"):
        select(manifest, task_hint="poetry", strict=True)


def test_valid_hints_lists_datasets_types_and_variants(manifest):
    assert valid_hints(manifest) == [
        "shapes_vqa",
        "count_vqa",
        "code_match",
        "vqa",
        "exact_match",
        "generic",
    ]


def test_detection_confident_picks_type_variant(manifest):
    s = select(manifest, prompt="Read the code in the box.", detect=True)
    assert (s.variant, s.reason) == ("code_match", Reason.DETECTED)
    assert (
        s.detection.task_type == "exact_match" and s.detection.confidence >= s.detection.threshold
    )
    assert "detected 'exact_match' with confidence" in s.message


def test_detection_below_threshold_falls_back(manifest):
    s = select(manifest, prompt="zebra quantum flux", detect=True)  # nothing but odd n-grams
    assert (s.variant, s.reason) == ("generic", Reason.LOW_CONFIDENCE)
    assert s.detection.confidence < s.detection.threshold
    assert f"below the threshold {s.detection.threshold:.2f}" in s.message


def test_threshold_comes_from_the_manifest(toy_manifest):
    prompt = "Read the code in the box."
    confident = select(load_manifest(toy_manifest), prompt=prompt, detect=True)
    edit_manifest(toy_manifest, lambda d: d["task_detector"].update(threshold=1.0))
    s = select(load_manifest(toy_manifest), prompt=prompt, detect=True)
    assert confident.reason is Reason.DETECTED and s.reason is Reason.LOW_CONFIDENCE


def test_detected_type_without_variant_is_generic(manifest):
    s = select(manifest, prompt="Write a caption.", detect=True)
    assert s.detection.task_type == "captioning" and s.detection.accepted
    assert (s.variant, s.reason) == ("generic", Reason.NO_VARIANT_FOR_TYPE)


def test_hint_wins_over_detection(manifest):
    s = select(manifest, task_hint="vqa", prompt="Read the code in the box.", detect=True)
    assert (s.variant, s.reason, s.detection) == ("shapes_vqa", Reason.TASK_TYPE_HINT, None)


def test_detection_without_detector(toy_manifest):
    edit_manifest(toy_manifest, lambda d: d.pop("task_detector"))
    m = load_manifest(toy_manifest)
    with pytest.warns(DetectionFallbackWarning, match="has no task detector"):
        s = select(m, prompt="Read the code.", detect=True)
    assert (s.variant, s.reason) == ("generic", Reason.NO_DETECTOR)
    with pytest.raises(InputError, match="no task detector"):
        select(m, prompt="Read the code.", detect=True, strict=True)


def test_detection_needs_a_prompt(manifest):
    with pytest.raises(InputError, match="needs the prompt"):
        select(manifest, detect=True)


def test_default_variant_comes_from_the_manifest(toy_manifest):
    edit_manifest(toy_manifest, lambda d: d.update(default_variant="shapes_vqa"))
    assert select(load_manifest(toy_manifest)).variant == "shapes_vqa"
