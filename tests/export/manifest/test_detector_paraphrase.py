"""The detector's paraphrase generator: deterministic, two disjoint halves, labels kept."""

import random
import re
from collections import Counter

import pytest

from vlmprune.export.manifest import detector_phrasebank as bank
from vlmprune.export.manifest.detector_paraphrase import (
    Half,
    framed,
    material,
    options_layout,
    paraphrase,
    split_of,
    to_command,
    typos,
    word_order,
)
from vlmprune.runtime.detect_features import features

PAIRS = [
    ("What color is the circle?", "vqa"),
    (
        "Which shape is red? A. circle B. star C. ring D. heart Answer with the letter.",
        "multiple_choice",
    ),
    ("Read the code in the box exactly.", "exact_match"),
]


def test_paraphrases_are_deterministic_and_keep_labels():
    a = paraphrase(PAIRS, Half.FIT, per_prompt=5, seed=3)
    assert a == paraphrase(PAIRS, Half.FIT, per_prompt=5, seed=3)
    assert a != paraphrase(PAIRS, Half.FIT, per_prompt=5, seed=4)
    assert [t for _, t in a] == [t for _, t in PAIRS for _ in range(5)]
    assert len({p for p, _ in a}) > 10  # they differ from each other


def test_halves_share_no_material():
    fit, val = material(Half.FIT), material(Half.VALIDATION)
    for name in ("prefixes", "suffixes", "colors", "objects", "items", "layouts", "verbs"):
        assert not set(getattr(fit, name)) & set(getattr(val, name)), name
    assert not set(fit.languages) & set(val.languages)
    for f, v in zip(fit.synonyms, val.synonyms, strict=True):
        assert set(f) & set(v) == {f[0]}  # only the phrase prompts contain
    assert split_of("anything") is split_of("anything")


def test_synonym_groups_are_disjoint():
    counts = Counter(p for group in bank.SYNONYMS for p in group)
    assert [p for p, n in counts.items() if n > 1] == []  # one phrase, one meaning


def test_multiple_choice_options_survive_rewrites():
    rewritten = paraphrase(PAIRS[1:2], Half.FIT, per_prompt=40, seed=0)
    kept = sum(
        any(f.startswith("s:options") or f == "s:abcd" for f in features(p)) for p, _ in rewritten
    )
    assert kept >= 0.8 * len(rewritten)


@pytest.mark.parametrize(
    "op, text, expect",
    [
        (to_command, "What is the total on the receipt?", r"^\w.* the total on the receipt[.!]?$"),
        (to_command, "How many red stars are there?", r"red stars"),
        (word_order, "What color is the circle?", r"^the circle"),
        (word_order, "Read the code in the box.", r"^the code in the box read\.$"),
        (options_layout, "Which? A. red B. blue C. pink D. grey", r"red.*blue.*pink.*grey"),
    ],
)
def test_operations(op, text, expect):
    out = op(text, random.Random(0), material(Half.FIT))
    assert re.search(expect, out), out


def test_typos_change_letters_not_length_much():
    out = typos("transcribe the characters exactly please", random.Random(1), material(Half.FIT))
    assert out != "transcribe the characters exactly please"
    assert abs(len(out) - 40) <= 5


def test_frames_cover_every_task_type_in_both_halves():
    for half in Half:
        out = framed(sorted(bank.FRAMES), half, per_type=5, seed=0)
        assert Counter(t for _, t in out) == {t: 5 for t in bank.FRAMES}
        assert not any("{" in p for p, _ in out)  # every slot filled
