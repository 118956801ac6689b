"""The task suite's core types: task types, splits, examples, and the dataset interface.

Splits are disjoint by construction: every example has a content key (the scene's
parameters, not its pixels), and a key's split is a pure function of its hash. A split's
examples are drawn by rejection until the key hashes into that split, so the same scene
can never appear in two splits, however many examples are drawn.
"""

from __future__ import annotations

import hashlib
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from PIL import Image

from ..registry import Registry
from .metrics import Metric

IMAGE_SIZE = 96  # every suite image is IMAGE_SIZE x IMAGE_SIZE RGB


class TaskType(str, Enum):
    VQA = "vqa"
    CAPTIONING = "captioning"
    DOC_QA = "doc_qa"
    MULTIPLE_CHOICE = "multiple_choice"
    EXACT_MATCH = "exact_match"
    SCENE_TEXT_QA = "scene_text_qa"


class Split(str, Enum):
    TRAIN = "train"  # streamed, unlimited
    CALIB = "calib"  # scoring and search
    TEST = "test"  # held out, reporting only


# Share of the key space that each split owns (out of 100 hash buckets). Calib and test
# are small slices so that training sees almost every scene family.
_BUCKETS = {Split.TEST: range(0, 5), Split.CALIB: range(5, 10), Split.TRAIN: range(10, 100)}
SPLIT_SIZES = {Split.CALIB: 1000, Split.TEST: 1000}
SUITE_SEED = 20261126


def split_of_key(key: str) -> Split:
    bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % 100
    for split, buckets in _BUCKETS.items():
        if bucket in buckets:
            return split
    raise AssertionError("unreachable: buckets cover 0..99")


@dataclass(frozen=True)
class Example:
    image: Image.Image  # RGB, IMAGE_SIZE x IMAGE_SIZE
    prompt: str  # the user's question or instruction, without template or image token
    answers: tuple[str, ...]  # reference answers (VQA datasets carry 10, as in VQA v2)
    task_type: TaskType
    key: str  # content key: equal keys mean the same scene and question


@dataclass(frozen=True)
class Draft:
    """An example before its image is painted: a split only needs the key to decide.

    Calib and test keep 1 draw in 20, so painting only the kept drafts makes drawing
    those splits about 20 times cheaper. `paint` must use its own seeded RNG (drawn in
    the draft), so an example's pixels do not depend on whether other drafts were painted.
    """

    key: str
    prompt: str
    answers: tuple[str, ...]
    paint: Callable[[], Image.Image]

    def finish(self, task_type: TaskType) -> Example:
        return Example(self.paint(), self.prompt, self.answers, task_type, self.key)


class TaskDataset(ABC):
    """A dataset of the suite. Subclasses define `sample`; splits come for free."""

    name: ClassVar[str]
    task_type: ClassVar[TaskType]
    metric: ClassVar[Metric]
    skill: ClassVar[str]  # one line: what the dataset exercises

    @abstractmethod
    def sample(self, rng: random.Random) -> Example:
        """Draw one example from the whole scene space (any split)."""

    def draft(self, rng: random.Random) -> Draft:
        """`sample` without painting yet; override (see SyntheticDataset) to paint lazily."""
        example = self.sample(rng)
        return Draft(example.key, example.prompt, example.answers, lambda: example.image)

    def split_size(self, split: Split) -> int | None:
        return SPLIT_SIZES.get(split)

    def examples(
        self, split: Split, limit: int | None = None, seed: int = SUITE_SEED
    ) -> Iterator[Example]:
        """Deterministic examples of `split`; train is unlimited unless `limit` is given."""
        for draft in self.drafts(split, limit, seed):
            yield draft.finish(self.task_type)

    def drafts(
        self, split: Split, limit: int | None = None, seed: int = SUITE_SEED
    ) -> Iterator[Draft]:
        """`examples` before painting: the same sequence, for keys and answers only."""
        split = Split(split)
        size = self.split_size(split)
        count = size if limit is None else (limit if size is None else min(limit, size))
        rng = random.Random(f"{seed}:{self.name}:{split.value}")
        produced = 0
        while count is None or produced < count:
            draft = self.draft(rng)
            if split_of_key(draft.key) is split:
                produced += 1
                yield draft


class SyntheticDataset(TaskDataset):
    """A generated dataset: `draft` decides the content, its `paint` draws the pixels."""

    @abstractmethod
    def draft(self, rng: random.Random) -> Draft:
        """Draw the content (key, prompt, answers) and a seeded painter for the image."""

    def sample(self, rng: random.Random) -> Example:
        return self.draft(rng).finish(self.task_type)


DATASETS: Registry[TaskDataset] = Registry("dataset")


def register(cls: type[TaskDataset]) -> type[TaskDataset]:
    DATASETS.register(cls.name)(cls())
    return cls
