"""The synthetic suite: registry, determinism, splits, disjointness, answers, images."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from vlmprune.export.tasks.base import (
    DATASETS,
    IMAGE_SIZE,
    Split,
    TaskType,
    split_of_key,
)
from vlmprune.export.tasks.catalog import all_datasets, get_dataset
from vlmprune.export.tasks.metrics import Metric

SUITE = [
    "shapes_vqa",
    "count_vqa",
    "scene_captions",
    "receipts_docqa",
    "bar_charts",
    "option_mcq",
    "code_match",
    "sign_textvqa",
]


def test_registry_holds_the_eight_datasets_in_suite_order():
    assert [d.name for d in all_datasets()] == SUITE
    assert len(DATASETS) == 8


def test_every_task_type_is_covered():
    types = Counter(d.task_type for d in all_datasets())
    assert set(types) == set(TaskType)
    assert types[TaskType.VQA] == 2 and types[TaskType.DOC_QA] == 2


def test_metrics_per_dataset():
    metrics = {d.name: d.metric for d in all_datasets()}
    assert metrics["scene_captions"] is Metric.CIDER_D
    assert metrics["bar_charts"] is Metric.RELAXED_ACCURACY
    assert metrics["receipts_docqa"] is Metric.ANLS
    assert metrics["option_mcq"] is Metric.OPTION_ACCURACY
    assert all(d.skill for d in all_datasets())


def test_unknown_dataset_suggests_close_names():
    with pytest.raises(KeyError, match="Did you mean 'shapes_vqa'"):
        get_dataset("shape_vqa")


@pytest.mark.parametrize("name", SUITE)
def test_same_seed_gives_pixel_identical_examples(name):
    dataset = get_dataset(name)
    first = list(dataset.examples(Split.TRAIN, limit=5))
    second = list(dataset.examples(Split.TRAIN, limit=5))
    for a, b in zip(first, second, strict=True):
        assert (a.key, a.prompt, a.answers) == (b.key, b.prompt, b.answers)
        assert a.image.tobytes() == b.image.tobytes()
    # sample() with equal RNG states agrees with itself too
    x, y = dataset.sample(random.Random(7)), dataset.sample(random.Random(7))
    assert x.image.tobytes() == y.image.tobytes() and x.key == y.key


@pytest.mark.parametrize("name", SUITE)
def test_examples_are_well_formed(name):
    dataset = get_dataset(name)
    for example in dataset.examples(Split.CALIB, limit=40):
        assert example.image.mode == "RGB"
        assert example.image.size == (IMAGE_SIZE, IMAGE_SIZE)
        assert example.prompt.strip() and example.task_type is dataset.task_type
        assert example.answers and all(a.strip() for a in example.answers)
        assert split_of_key(example.key) is Split.CALIB
        assert example.key.startswith(f"{name}|")


@pytest.mark.parametrize("name", SUITE)
def test_reference_counts(name):
    dataset = get_dataset(name)
    expected = {TaskType.VQA: 10, TaskType.SCENE_TEXT_QA: 10, TaskType.CAPTIONING: 5}.get(
        dataset.task_type, 1
    )
    for draft in dataset.drafts(Split.TRAIN, limit=50):
        assert len(draft.answers) == expected


def test_captions_are_short_closed_vocabulary_paraphrases():
    vocabulary: set[str] = set()
    for draft in get_dataset("scene_captions").drafts(Split.TRAIN, limit=500):
        assert len(set(draft.answers)) == 5
        for caption in draft.answers:
            words = caption.replace(",", " ").replace(":", " ").split()
            assert len(words) <= 12, caption
            vocabulary.update(words)
    assert len(vocabulary) < 70  # colours, shapes and plurals, numbers, places, relations


def test_limit_and_full_split_sizes():
    dataset = get_dataset("shapes_vqa")
    assert len(list(dataset.examples(Split.TEST, limit=25))) == 25
    assert sum(1 for _ in dataset.drafts(Split.TRAIN, limit=300)) == 300
    # A full split: exactly 1000, and (almost) every scene/question in it is distinct.
    assert dataset.split_size(Split.TEST) == 1000
    keys = [e.key for e in dataset.examples(Split.TEST)]
    assert len(keys) == 1000 and len(set(keys)) >= 950


@pytest.mark.parametrize("name", SUITE)
def test_splits_are_disjoint(name):
    dataset = get_dataset(name)
    limit = None if name == "count_vqa" else 300  # one dataset checks its full splits
    calib = {d.key for d in dataset.drafts(Split.CALIB, limit=limit)}
    test = {d.key for d in dataset.drafts(Split.TEST, limit=limit)}
    train = {d.key for d in dataset.drafts(Split.TRAIN, limit=3000)}
    assert not calib & test
    assert not train & calib and not train & test
    # keys rarely repeat inside a split: the key space is large enough
    assert len(calib) >= 0.95 * (limit or 1000) and len(test) >= 0.95 * (limit or 1000)


def test_mcq_answer_letters_are_uniform():
    drafts = list(get_dataset("option_mcq").drafts(Split.TRAIN, limit=2000))
    letters = Counter(d.answers[0] for d in drafts)
    assert set(letters) == {"A", "B", "C", "D"}
    assert all(400 <= count <= 600 for count in letters.values()), letters
    for draft in drafts[:50]:
        letter = draft.answers[0]
        assert f"{letter}. " in draft.prompt


def test_prompts_are_varied_per_dataset():
    for dataset in all_datasets():
        prompts = {d.prompt for d in itertools.islice(dataset.drafts(Split.TRAIN), 300)}
        assert len(prompts) >= 5, dataset.name


@pytest.mark.parametrize("name", SUITE)
def test_sample_matches_draft_then_paint(name):
    dataset = get_dataset(name)
    example = dataset.sample(random.Random(3))
    draft = dataset.draft(random.Random(3))
    assert example.key == draft.key and example.image.tobytes() == draft.paint().tobytes()
