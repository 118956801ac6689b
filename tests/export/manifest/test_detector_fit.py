"""Fitting the task detector on a suite, choosing its threshold, the held-out phrasings."""

import re
from collections import Counter
from types import MappingProxyType

import numpy as np
import pytest

from vlmprune.export.manifest import detector_phrasebank as bank
from vlmprune.export.manifest.detector import (
    DetectorFitConfig,
    Half,
    fit_task_detector,
    split_templates,
    suite_pairs,
    template_key,
)
from vlmprune.export.manifest.detector_calibrate import (
    Outcome,
    choose_threshold,
    evaluate,
    wilson_upper,
)
from vlmprune.export.manifest.detector_heldout import Style, load_heldout
from vlmprune.runtime.detect import Detection

TASK_TYPES = {"vqa", "captioning", "doc_qa", "multiple_choice", "exact_match", "scene_text_qa"}
SMALL = DetectorFitConfig(prompts_per_dataset=100, per_type=300, validation_per_type=100, steps=100)


@pytest.fixture(scope="module")
def fitted():
    from vlmprune.export.manifest.detector import fit_detector

    return fit_detector(SMALL)


def test_fit_on_suite_train_prompts(fitted):
    assert set(fitted.labels) == TASK_TYPES
    assert len(fitted.provenance["datasets"]) == 8 and fitted.provenance["split"] == "train"
    samples = suite_pairs(50)
    probs = fitted.probabilities([p for p, _ in samples])
    predicted = [fitted.labels[i] for i in probs.argmax(1)]
    assert np.mean([p == t for p, (_, t) in zip(predicted, samples, strict=True)]) > 0.95


def test_threshold_is_calibrated_on_validation(fitted):
    cal = fitted.calibration
    assert cal["threshold"] == fitted.threshold and cal["n"] == 6 * SMALL.validation_per_type
    assert cal["wrong_rate"] <= cal["wrong_rate_upper95"] <= cal["target_wrong_rate"] == 0.02
    assert cal["right_rate"] + cal["fallback_rate"] + cal["wrong_rate"] == pytest.approx(1.0)


def test_templates_split_by_wording_every_type_keeps_a_fitting_one():
    pairs = suite_pairs(100)
    halves = split_templates(pairs)
    assert {t for _, t in halves[Half.FIT]} == TASK_TYPES
    assert sorted(halves[Half.FIT] + halves[Half.VALIDATION]) == sorted(pairs)
    rare = frozenset({"circle", "star"})
    assert template_key("What color is the circle? A. red B. 3", rare) == (
        "what color is the _ ? L . _ L . #"
    )


class _Stub:
    """A detector answering from a table: prompt -> (task type, confidence)."""

    def __init__(self, table):
        self.table = table

    def detect(self, prompt):
        label, conf = self.table[prompt]
        return Detection(label, conf, 0.5, MappingProxyType({}))


def test_choose_threshold_meets_the_target_with_confidence():
    # 1000 right at 0.9, 10 wrong at 0.8, 10 wrong at 0.4
    table = {f"r{i}": ("vqa", 0.9) for i in range(1000)}
    table |= {f"w{i}": ("doc_qa", 0.8) for i in range(10)} | {
        f"x{i}": ("doc_qa", 0.4) for i in range(10)
    }
    samples = [(p, "vqa") for p in table]
    cal = choose_threshold(_Stub(table), samples, target=0.02)
    assert cal.threshold == 0.8  # 10/1020 wrong: upper bound 1.8% <= 2%; 20 would be 2.9%
    assert cal.wrong_rate == pytest.approx(10 / 1020) and cal.fallback_rate == pytest.approx(
        10 / 1020
    )
    strict = choose_threshold(_Stub(table), samples, target=0.005)
    assert strict.threshold == 0.9 and strict.wrong_rate == 0.0
    never = choose_threshold(_Stub({"w": ("doc_qa", 0.99)}), [("w", "vqa")], target=0.02)
    assert never.threshold == 1.0 and never.right_rate == 0.0


def test_wilson_upper_bound():
    assert wilson_upper(0, 100) == pytest.approx(0.037, abs=1e-3)
    assert wilson_upper(5, 100) > 0.05 and wilson_upper(0, 0) == 1.0


def test_heldout_phrasings_are_many_varied_and_separate():
    heldout = load_heldout()
    mine = [h for h in heldout if h.source == "written_v2"]
    assert len(heldout) >= 400 and len(mine) >= 300
    per_type = Counter(h.task_type.value for h in mine)
    assert set(per_type) == TASK_TYPES and min(per_type.values()) >= 50
    assert {h.style for h in mine} == set(Style)
    assert len({h.prompt for h in heldout}) == len(heldout)
    norm = lambda s: re.sub(r"[^\w ]", "", s.lower()).strip()  # noqa: E731
    written = {norm(h.prompt) for h in heldout}
    assert not written & {norm(f) for fs in bank.FRAMES.values() for f in fs}
    # Natural wordings the suite happens to use too; the benchmark reports figures without them.
    assert len(written & {norm(p) for p, _ in suite_pairs(1000)}) == 6


def test_evaluation_rates_add_up(fitted):
    rows = [h.row() for h in load_heldout()[:60]]
    result = evaluate(fitted, rows)
    assert result.n == 60 and sum(result.rates().values()) == pytest.approx(1.0)
    loose = evaluate(fitted, rows, threshold=0.0)
    assert loose.rates()[Outcome.FALLBACK] == pytest.approx(
        sum(fitted.detect(p).note is not None for p, _, _ in rows) / 60
    )
    assert {r.outcome for r in result.mistakes} <= {Outcome.FALLBACK, Outcome.WRONG}


def test_fit_task_detector_returns_manifest_section():
    section = fit_task_detector(
        DetectorFitConfig(prompts_per_dataset=30, per_type=60, validation_per_type=30, steps=10)
    )
    assert section["format_version"] == 2 and len(section["labels"]) == 6
    assert 0 <= section["threshold"] <= 1 and section["calibration"]["target_wrong_rate"] == 0.02
