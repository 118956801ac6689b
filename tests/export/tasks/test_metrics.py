"""Hand-computed cases for every metric, and CIDEr-D against pycocoevalcap's values."""

from __future__ import annotations

import pytest

from vlmprune.export.errors import UnknownNameError
from vlmprune.export.tasks.metrics import (
    Metric,
    _levenshtein,
    anls,
    cider_d,
    exact_match,
    metric_upper_bound,
    normalize_vqa_answer,
    option_accuracy,
    parse_option_letter,
    relaxed_accuracy,
    score_examples,
    vqa_accuracy,
)

# --- VQA accuracy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Two", "2"),
        ("ten", "10"),
        ("the red ball", "red ball"),
        ("an apple", "apple"),
        ("yes.", "yes"),
        ("  Yes!\n", "yes"),
        ("black/white", "black white"),  # no space beside "/": it separates words
        ("black / white", "black white"),  # a space beside it: deleted
        ("1,000", "1000"),  # a digit comma turns every mark into a deletion
        ("3.5", "3.5"),  # a period before a digit stays
        ("dont", "don't"),
        ("isnt it", "isn't it"),
    ],
)
def test_normalize_vqa_answer(raw, normalized):
    assert normalize_vqa_answer(raw) == normalized


def test_vqa_accuracy_ten_identical_references():
    assert vqa_accuracy("Yes", ["yes"] * 10) == 1.0
    assert vqa_accuracy("no", ["yes"] * 10) == 0.0


def test_vqa_accuracy_two_of_ten_is_0_6():
    # The 2 matching refs each see 1 other match -> 1/3; the 8 others see 2 -> 2/3.
    # (2 * 1/3 + 8 * 2/3) / 10 = 0.6. "two" is normalised to "2" first.
    refs = ["2", "2"] + ["3"] * 8
    assert vqa_accuracy("two", refs) == pytest.approx(0.6)


def test_vqa_accuracy_three_of_ten_is_0_9():
    # Matching refs see 2 others -> 2/3; the 7 others see 3 -> 1. (3*2/3 + 7) / 10 = 0.9.
    assert vqa_accuracy("3", ["3"] * 3 + ["4"] * 7) == pytest.approx(0.9)
    # Four or more matches saturate every term at 1.
    assert vqa_accuracy("3", ["3"] * 4 + ["4"] * 6) == 1.0


def test_vqa_accuracy_normalises_references_too():
    assert vqa_accuracy("the dog", ["A dog."] * 10) == 1.0


def test_vqa_accuracy_few_references():
    # One reference: exact match after normalisation.
    assert vqa_accuracy("Two", ["2"]) == 1.0
    assert vqa_accuracy("three", ["2"]) == 0.0
    # Two references, one match: ref 0 sees 0 other matches, ref 1 sees 1 -> (0 + 1/3) / 2.
    assert vqa_accuracy("cat", ["cat", "dog"]) == pytest.approx(1 / 6)


# --- CIDEr-D -----------------------------------------------------------------------------

# Reference values from pycocoevalcap==1.2 (numpy 2.4.6, Python 3.11.7), produced by
#   python3 -m venv /tmp/cocoref && /tmp/cocoref/bin/pip install pycocoevalcap==1.2
#   from pycocoevalcap.cider.cider import Cider
#   mean, scores = Cider().compute_score(dict(enumerate(refs)), {i: [p] for i, p in enumerate(preds)})
# with each corpus's predictions and references below, already lowercase and tokenized
# (which bypasses its Java PTB tokenizer). Printed with round(float(s), 10).
CAPTIONS = (
    ["a dog running on grass", "a man riding a red bike", "two cats on a couch", "a bowl of soup"],
    [
        [
            "a dog runs on the grass",
            "a brown dog running across a field",
            "the dog is playing outside",
        ],
        [
            "a man rides a red bicycle",
            "a person riding a bike down the street",
            "man on a red bike",
            "a cyclist in the city",
        ],
        [
            "two cats sleep on a sofa",
            "a pair of cats sleeping on the couch",
            "cats napping on a couch",
        ],
        [
            "a plate of food on a table",
            "a table with a plate of pasta",
            "pasta served on a white plate",
            "a meal on the table",
            "food on a plate",
        ],
    ],
)
CAPTIONS_CIDER = [1.5608052451, 1.9546093564, 2.2497684836, 0.0764662567]

# pycocoevalcap got the lowercase, punctuation-free form of these ("dont walk sign at a
# crossing", ...); cider_d gets them raw, so this also checks its tokenization.
RAW = (
    ["A red car, parked on the street.", "", "A YELLOW bus!", "Don't-walk sign at a crossing"],
    [
        [
            "A red car is parked on the street.",
            "Red car on a city street",
            "a small red car parked by the curb",
        ],
        [
            "a green traffic light",
            "Traffic lights at an intersection.",
            "a green light over the road",
        ],
        [
            "A yellow school bus",
            "a school bus parked on the street",
            "Yellow bus waiting at a stop.",
            "A bus",
        ],
        ["a don't walk sign", "Pedestrian crossing signal", "a walk signal at a crossing"],
    ],
)
RAW_CIDER = [3.4438465047, 0.0, 1.9796126903, 2.549266422]

# Repeated n-grams exercise the "-D" clipping; pycocoevalcap got "dont stop" and "cat".
CLIPPING = (
    ["dog dog dog dog dog", "Cat", "Don't stop", "a man on a horse"],
    [
        ["a dog", "the dog barks", "dog on grass"],
        ["cat", "a cat", "the cat sleeps"],
        ["dont stop", "stop sign", "do not stop here"],
        ["a man riding a horse", "a person on a horse", "a horse"],
    ],
)
CLIPPING_CIDER = [0.3542277928, 2.1635615541, 2.3620393147, 3.1037423372]


@pytest.mark.parametrize(
    ("corpus", "expected"),
    [(CAPTIONS, CAPTIONS_CIDER), (RAW, RAW_CIDER), (CLIPPING, CLIPPING_CIDER)],
)
def test_cider_d_matches_pycocoevalcap(corpus, expected):
    predictions, references = corpus
    assert cider_d(predictions, references) == pytest.approx(expected, abs=1e-6)
    assert score_examples(Metric.CIDER_D, predictions, references) == pytest.approx(
        expected, abs=1e-6
    )


def test_cider_d_is_corpus_level():
    # One example: idf = log(1) - log(df) = 0 for every n-gram, so even a perfect caption scores 0.
    assert cider_d(["a red car"], [["a red car"]]) == [0.0]
    # The same example scores differently depending on its neighbours' references.
    alone = cider_d(CAPTIONS[0][:2], CAPTIONS[1][:2])[0]
    assert alone != pytest.approx(CAPTIONS_CIDER[0], abs=1e-3)


# --- ANLS --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "distance"), [("kitten", "sitting", 3), ("", "abc", 3), ("flaw", "lawn", 2)]
)
def test_levenshtein(a, b, distance):
    assert _levenshtein(a, b) == distance
    assert _levenshtein(b, a) == distance


def test_anls():
    # One substitution in 10 characters: NL = 0.1 -> 0.9.
    assert anls("abcdefghij", ["abcdefghix"]) == pytest.approx(0.9)
    # NL = 1.0 and NL = 0.5 are not below the 0.5 threshold -> 0.
    assert anls("abcd", ["wxyz"]) == 0.0
    assert anls("ab", ["ax"]) == 0.0
    assert anls("ab", ["ax"], threshold=0.6) == pytest.approx(0.5)
    # Case and surrounding spaces don't count; the best reference wins (3/7 vs exact).
    assert anls("  Hello ", ["hello"]) == 1.0
    assert anls("kitten", ["sitting"]) == pytest.approx(4 / 7)
    assert anls("kitten", ["sitting", "Kitten"]) == 1.0


# --- Relaxed accuracy --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "reference", "score"),
    [
        ("104", "100", 1.0),
        ("105", "100", 1.0),  # exactly 5 %: inclusive
        ("106", "100", 0.0),
        ("95", "100", 1.0),
        ("12%", "12", 1.0),  # "%" is a unit, not a /100
        ("1,234", "1234", 1.0),
        ("$3.5", "3.5", 1.0),
        (" 7 ", "7", 1.0),
        ("-5", "5", 0.0),
        ("0", "0", 1.0),
        ("0.01", "0", 0.0),  # a zero reference needs equality
        ("Yes", "yes", 1.0),  # text: case-insensitive exact match
        ("yes", "no", 0.0),
        ("12", "twelve", 0.0),
        ("1,2", "12", 0.0),  # not a thousands separator, so compared as text
    ],
)
def test_relaxed_accuracy(prediction, reference, score):
    assert relaxed_accuracy(prediction, [reference]) == score


def test_relaxed_accuracy_tolerance_and_best_reference():
    assert relaxed_accuracy("110", ["100"], tolerance=0.1) == 1.0
    assert relaxed_accuracy("110", ["100"]) == 0.0
    assert relaxed_accuracy("110", ["100", "108"]) == 1.0


# --- Option accuracy ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("B", "B"),
        ("b", "B"),
        ("B.", "B"),
        ("(B)", "B"),
        ("B) red", "B"),
        ("Answer: B", "B"),
        ("option B", "B"),
        ("The answer is (c)", "C"),
        ("the answer is d.", "D"),
        ("I think it is D", "D"),
        ("Options: A) red B) blue. Answer: B", "B"),
        ("the answer is a dog", None),
        ("no idea", None),
        ("", None),
    ],
)
def test_parse_option_letter(text, letter):
    assert parse_option_letter(text) == letter


def test_option_accuracy():
    assert option_accuracy("(B) red", ["B"]) == 1.0
    assert option_accuracy("b", ["(B)"]) == 1.0
    assert option_accuracy("C", ["B"]) == 0.0
    assert option_accuracy("red", ["B"]) == 0.0
    with pytest.raises(ValueError, match="not an option letter"):
        option_accuracy("B", ["red"])


# --- Exact match -------------------------------------------------------------------------


def test_exact_match_is_case_sensitive():
    assert exact_match(" aB3 ", ["aB3"]) == 1.0
    assert exact_match("ab3", ["aB3"]) == 0.0
    assert exact_match("ab3", ["aB3", "ab3"]) == 1.0


# --- Dispatch ----------------------------------------------------------------------------


@pytest.mark.parametrize("metric", list(Metric))
def test_score_examples_every_metric(metric):
    # A correct and a wrong answer for every metric; CIDEr-D needs 2+ examples for nonzero idf.
    predictions = ["B", "zzz qqq"]
    references = [["B", "B", "B"], ["C", "C", "C"]]
    scores = score_examples(metric.value, predictions, references)
    assert len(scores) == 2
    assert scores[0] > 0.0
    assert scores[1] == 0.0


@pytest.mark.parametrize(
    ("predictions", "references", "message"),
    [
        (["a", "b"], [["a"]], "2 predictions but 1 reference lists"),
        (["a"], [[]], "no references"),
        (["a"], ["a"], "not the string"),
        ("ab", [["a"], ["b"]], "not one string"),
    ],
)
@pytest.mark.parametrize("metric", [Metric.VQA_ACCURACY, Metric.CIDER_D])
def test_score_examples_rejects_bad_input(metric, predictions, references, message):
    with pytest.raises(ValueError, match=message):
        score_examples(metric, predictions, references)


def test_unknown_metric_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean 'anls'"):
        score_examples("anl", ["a"], [["a"]])


@pytest.mark.parametrize(
    ("metric", "bound"),
    [
        (Metric.CIDER_D, None),
        ("cider_d", None),
        (Metric.ANLS, 1.0),
        ("vqa_accuracy", 1.0),
        (Metric.EXACT_MATCH, 1.0),
    ],
)
def test_metric_upper_bound(metric, bound):
    assert metric_upper_bound(metric) == bound
