"""The runtime's task detector: features, the manifest section, abstaining on bad input."""

import json
import re
import warnings

import numpy as np
import pytest
from conftest import edit_manifest

from vlmprune.runtime import DetectionFallbackWarning, InputError
from vlmprune.runtime.detect import OutdatedDetectorError, TaskDetector
from vlmprune.runtime.detect_features import FeatureSpec, features, scripts, tokens
from vlmprune.runtime.errors import ManifestError
from vlmprune.runtime.manifest import load_manifest
from vlmprune.runtime.select import Reason, select

SPEC = FeatureSpec(word_classes={"red": "<color>", "blue": "<color>", "two": "<numword>"})
LABELS = ("captioning", "exact_match", "vqa")
PROMPTS = ("What color is the red circle?", "Copy the code in the box.", "Describe the image.")


def test_tokens_normalise_numbers_labels_caps_and_classes():
    assert tokens("How much is the CAKE? 11.70 or 3", SPEC) == [
        "how", "much", "is", "the", "<caps>", "?", "<dec>", "or", "<num>",
    ]  # fmt: skip
    assert tokens("A. red B. blue", SPEC) == [
        "<letter>",
        ".",
        "<color>",
        "<letter>",
        ".",
        "<color>",
    ]
    assert tokens("WHAT COLOR IS IT") == ["what", "color", "is", "it"]  # shouting is not labels
    assert tokens("Count the circles, what's this") == [
        "count",
        "the",
        "circle",
        ",",
        "what's",
        "this",
    ]


def test_features_words_classes_char_ngrams_and_layout():
    found = features("the red sign", SPEC)
    assert {"w:<color>", "w:red", "b:the <color>", "b:<color> sign", "b:<s> the"} <= set(found)
    assert {"c:<si", "c:sign>", "c:<sign", "c:ign>"} <= set(found)  # 3- to 5-grams, padded
    assert "s:len3-5" in found and "s:question" not in found
    options = features("Which? A) red B) blue C) pink D) grey")
    assert "s:options3" in options and "s:abcd" in options and "s:question" not in options
    assert "s:options3" in features("(a) star (b) ring (c) heart")
    assert not any(f.startswith("s:options") for f in features("bar A and bar B."))
    assert not any(f[0] == "c" for f in features("read", FeatureSpec(char_ngrams=(0, 0))))


def test_typo_shares_most_char_ngrams():
    right = {f for f in features("transcribe") if f[0] == "c"}
    typo = {f for f in features("trasncribe") if f[0] == "c"}
    assert len(right & typo) >= 0.4 * len(right)


def test_scripts_counts_letters():
    assert scripts("Read it 12!") == {"LATIN": 6}
    assert scripts("读 the 标志") == {"CJK": 3, "LATIN": 3}
    assert scripts("ما هذا") == {"ARABIC": 5}


@pytest.fixture(scope="module")
def detector():
    vocab = sorted({f for p in PROMPTS for f in features(p, SPEC)})
    rng = np.random.default_rng(0)
    weights = rng.normal(0, 1, (len(LABELS), len(vocab))).astype(np.float32)
    for label, prompt in zip(("vqa", "exact_match", "captioning"), PROMPTS, strict=True):
        cols = [vocab.index(f) for f in features(prompt, SPEC)]
        weights[LABELS.index(label), cols] += 4.0  # each prompt votes for its own label
    return TaskDetector(
        labels=LABELS,
        vocabulary={f: i for i, f in enumerate(vocab)},
        weights=weights,
        bias=np.zeros(len(LABELS), np.float32),
        threshold=0.6,
        spec=SPEC,
        calibration={"target_wrong_rate": 0.02},
    )


def test_detect_reports_confidence_and_acceptance(detector):
    found = detector.detect("Copy the code in the box.")
    assert found.task_type == "exact_match" and found.accepted and found.note is None
    assert found.confidence == pytest.approx(max(found.probabilities.values()))
    assert detector.probabilities(list(PROMPTS)).shape == (3, 3)


@pytest.mark.parametrize(
    "prompt, note",
    [
        ("", "the prompt is empty"),
        ("   \n\t", "the prompt is empty"),
        ("这个标志上写着什么？", r"script the detector was not fitted on \(CJK\)"),
        ("ماذا تقول اللافتة؟", r"not fitted on \(ARABIC\)"),
        ("zzqx vvkj", "no word of the prompt is known"),
    ],
)
def test_detector_abstains_on_what_it_cannot_read(detector, prompt, note):
    found = detector.detect(prompt)
    assert found.task_type is None and not found.accepted and found.confidence == 0.0
    assert pytest.approx(0.0) == sum(found.probabilities.values())
    assert re.search(note, found.note)


def test_round_trip_through_json(detector):
    d = json.loads(json.dumps(detector.to_dict()))
    again = TaskDetector.from_dict(d)
    prompts = [*PROMPTS, "What is the price of TEA?"]
    # int8 weights: a probability moves by far less than any threshold margin
    np.testing.assert_allclose(
        again.probabilities(prompts), detector.probabilities(prompts), atol=0.01
    )
    assert d["kind"] == "ngram_logreg" and d["format_version"] == 2
    assert again.spec.word_classes == SPEC.word_classes and again.scripts == {"LATIN"}
    assert again.calibration["target_wrong_rate"] == 0.02


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda d: d.update(kind="bayes"), "kind must be"),
        (lambda d: d.update(threshold=1.5), "threshold 1.5"),
        (lambda d: d.update(bias=[0.0]), "bias shape"),
        (lambda d: d.update(features=d["features"][:-1]), "weights_int8 holds"),
        (lambda d: d.update(weights_int8="not base64!"), "base64|Non-base64|Incorrect padding"),
        (lambda d: d.update(format_version=99), "format_version 99 is newer"),
        (lambda d: d.update(format_version="2"), "must be an integer"),
        (lambda d: d["featurizer"].update(char_ngrams=[4, 2]), "char_ngrams"),
        (lambda d: d["featurizer"].update(word_classes={"red": 3}), "word_classes"),
        (lambda d: d.update(labels=["vqa"] * 3), "unique"),
    ],
)
def test_invalid_parameters_refused(detector, change, match):
    d = detector.to_dict()
    change(d)
    with pytest.raises(ValueError, match=match):
        TaskDetector.from_dict(d)


def test_old_format_is_outdated(detector):
    old = {"kind": "ngram_logreg", "format_version": 1, "threshold": 0.6, "labels": []}
    with pytest.raises(OutdatedDetectorError, match="format_version 1 is older"):
        TaskDetector.from_dict(old)


# --- through the manifest and select() ---------------------------------------------------


@pytest.fixture
def manifest(toy_manifest):
    return load_manifest(toy_manifest)


@pytest.mark.parametrize(
    "prompt, says",
    [
        ("", "the prompt is empty"),
        ("  ", "the prompt is empty"),
        ("这是什么颜色？", "(CJK)"),
        ("ما لون الدائرة؟", "(ARABIC)"),
    ],
)
def test_unreadable_prompt_runs_generic_saying_why(manifest, prompt, says):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = select(manifest, prompt=prompt, detect=True, strict=True)
    assert (s.variant, s.reason) == ("generic", Reason.UNDETECTABLE)
    assert s.message.startswith("variant 'generic': ") and says in s.message
    assert s.detection is not None and s.detection.note is not None


def test_calibration_is_in_the_manifest(manifest):
    cal = manifest.task_detector.calibration
    assert cal["threshold"] == manifest.task_detector.threshold
    assert cal["target_wrong_rate"] == 0.02 and cal["wrong_rate_upper95"] <= 0.02


def test_manifest_with_old_detector_loads_and_detection_falls_back(toy_manifest):
    old = {"kind": "ngram_logreg", "format_version": 1, "threshold": 0.6, "labels": ["vqa"]}
    edit_manifest(toy_manifest, lambda d: d.update(task_detector=old))
    m = load_manifest(toy_manifest)  # hints and generic keep working
    assert m.task_detector is None and "format_version 1 is older" in m.task_detector_note
    assert select(m, task_hint="vqa").variant == "shapes_vqa"
    with pytest.warns(DetectionFallbackWarning, match="re-export the manifest"):
        s = select(m, prompt="Read the code in the box.", detect=True)
    assert (s.variant, s.reason) == ("generic", Reason.NO_DETECTOR)
    with pytest.raises(InputError, match="not usable here"):
        select(m, prompt="Read the code in the box.", detect=True, strict=True)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda t: t.pop("labels"), r"'task_detector' invalid \(missing 'labels'\)"),
        (lambda t: t.update(weights_int8="AAAA"), r"'task_detector' invalid .*weights_int8 holds"),
        (lambda t: t.update(threshold="high"), r"'task_detector' invalid"),
        (lambda t: t.update(format_version=7), r"'task_detector' invalid .*newer"),
    ],
)
def test_malformed_detector_is_one_clear_manifest_error(toy_manifest, change, match):
    edit_manifest(toy_manifest, lambda d: change(d["task_detector"]))
    with pytest.raises(ManifestError, match=match):
        load_manifest(toy_manifest)


def test_detector_section_not_an_object_refused(toy_manifest):
    edit_manifest(toy_manifest, lambda d: d.update(task_detector=[1, 2]))
    with pytest.raises(ManifestError, match="'task_detector' must be an object"):
        load_manifest(toy_manifest)
