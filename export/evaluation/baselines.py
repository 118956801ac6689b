"""Trivial baselines: what a model that ignores the image and question would score."""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..tasks.base import Split, TaskDataset
from ..tasks.metrics import score_examples


def majority_baseline(dataset: TaskDataset, split: Split, limit: int | None = None) -> float:
    """Score of always answering calib's most frequent first reference (caption, letter, word).

    The answer is chosen on calib, never on the split it is scored on; for multiple choice
    it is the most frequent option letter, i.e. about 1/options.
    """
    calib = [e.answers[0] for e in dataset.examples(Split.CALIB, limit)]
    answer = Counter(calib).most_common(1)[0][0]
    refs = [tuple(e.answers) for e in dataset.examples(split, limit)]
    return float(np.mean(score_examples(dataset.metric, [answer] * len(refs), refs)))
