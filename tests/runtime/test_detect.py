"""The task detector: features, manifest round trip, fit on the suite, held-out measurement."""

import json

import numpy as np
import pytest

from vlmprune.export.manifest.detector import (
    DetectorFitConfig,
    evaluate_detector,
    fit_detector,
    fit_task_detector,
    training_prompts,
)
from vlmprune.export.manifest.detector_heldout import HELDOUT
from vlmprune.runtime.detect import TaskDetector, features, tokens

TASK_TYPES = {"vqa", "captioning", "doc_qa", "multiple_choice", "exact_match", "scene_text_qa"}


@pytest.fixture(scope="module")
def suite_detector():
    return fit_detector(DetectorFitConfig(prompts_per_dataset=300, steps=200))


def test_tokens_normalise_numbers_labels_and_caps():
    assert tokens("How much is the CAKE? 11.70") == [
        "how",
        "much",
        "is",
        "the",
        "<caps>",
        "?",
        "<num>",
    ]
    assert tokens("A. red B. blue") == ["<letter>", ".", "red", "<letter>", ".", "blue"]
    assert tokens("WHAT COLOR IS IT") == ["what", "color", "is", "it"]  # shouting is not labels
    assert tokens("Count the circles") == ["count", "the", "circle"]


def test_features_are_unigrams_and_bigrams_with_boundaries():
    assert features("Read it") == ["w:read", "w:it", "b:<s> read", "b:read it", "b:it </s>"]


def test_round_trip_through_json(suite_detector):
    d = json.loads(json.dumps(suite_detector.to_dict()))
    again = TaskDetector.from_dict(d)
    prompts = ["What is the price of TEA?", "Describe the image."]
    np.testing.assert_allclose(
        again.probabilities(prompts), suite_detector.probabilities(prompts), atol=1e-4
    )
    assert d["kind"] == "ngram_logreg" and d["provenance"]["split"] == "train"


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda d: d.update(kind="bayes"), "kind must be"),
        (lambda d: d.update(threshold=1.5), "threshold 1.5"),
        (lambda d: d.update(bias=[0.0]), "bias shape"),
        (lambda d: d.update(features=d["features"][:-1]), "weights shape"),
        (lambda d: d.update(format_version=99), "format_version 99"),
    ],
)
def test_invalid_parameters_refused(suite_detector, change, match):
    d = suite_detector.to_dict()
    change(d)
    with pytest.raises(ValueError, match=match):
        TaskDetector.from_dict(d)


def test_fit_on_suite_train_prompts(suite_detector):
    assert set(suite_detector.labels) == TASK_TYPES
    assert suite_detector.provenance["datasets"] and len(suite_detector.provenance["datasets"]) == 8
    samples = training_prompts(50)
    probs = suite_detector.probabilities([p for p, _ in samples])
    predicted = [suite_detector.labels[i] for i in probs.argmax(1)]
    assert np.mean([p == t for p, (_, t) in zip(predicted, samples, strict=True)]) > 0.95


def test_detect_reports_confidence_and_acceptance(suite_detector):
    found = suite_detector.detect("Which option is correct? A. red B. blue C. green D. pink")
    assert found.task_type == "multiple_choice" and found.accepted
    assert found.confidence == pytest.approx(max(found.probabilities.values()))
    nothing = suite_detector.detect("zzz qqq")
    assert not nothing.accepted  # no known feature: near-uniform probabilities


def test_heldout_phrasings_are_separate_and_balanced():
    assert set(HELDOUT) == TASK_TYPES
    assert all(len(p) >= 8 for p in HELDOUT.values())
    train = {p for p, _ in training_prompts(1000)}
    assert not train & {p for ps in HELDOUT.values() for p in ps}


def test_heldout_evaluation_counts(suite_detector):
    result = evaluate_detector(suite_detector)
    assert result.n == sum(len(p) for p in HELDOUT.values())
    assert result.accuracy + result.fallback_rate + result.wrong_accepted_rate == pytest.approx(1.0)
    assert result.top1_accuracy >= result.accuracy
    loose = evaluate_detector(suite_detector, threshold=0.0)
    assert loose.fallback_rate == 0.0 and loose.accuracy == pytest.approx(loose.top1_accuracy)


def test_fit_task_detector_returns_manifest_section():
    section = fit_task_detector(DetectorFitConfig(prompts_per_dataset=50, steps=20))
    assert section["threshold"] == 0.6 and len(section["weights"]) == len(section["labels"]) == 6
