"""Per-example scores of removal sets, through the evaluation cache.

Every command that needs "the score of removal set S on dataset D" asks a ScoreSource:
leave-one-out scores, every objective of the beam search and the compare report share
the same cached evaluations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .cache import EvalCache, EvalEntry, EvalKey
from .evaluate import Evaluator
from .metrics import score_examples
from .tasks.base import Split, TaskDataset


class ScoreSource:
    def __init__(
        self,
        evaluator: Evaluator,
        cache: EvalCache,
        datasets: Sequence[TaskDataset],
        split: Split = Split.CALIB,
        limit: int | None = None,
    ) -> None:
        self.evaluator = evaluator
        self.cache = cache
        self.datasets = {d.name: d for d in datasets}
        self.split = Split(split)
        self.limit = limit
        self.computed = 0  # (dataset, removal set) evaluations actually run
        self._memory: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}

    @property
    def model_hash(self) -> str:
        return self.evaluator.vlm.model_hash

    @property
    def num_blocks(self) -> int:
        return self.evaluator.vlm.num_blocks

    def n(self, dataset: str) -> int:
        return self.evaluator.prepare(self.datasets[dataset], self.split, self.limit).n

    def per_example(self, dataset: str, removed: Iterable[int] = ()) -> np.ndarray:
        removed = tuple(sorted(removed))
        memo = (dataset, removed)
        if memo in self._memory:
            return self._memory[memo]
        ds = self.datasets[dataset]
        prepared = self.evaluator.prepare(ds, self.split, self.limit)
        key = EvalKey(
            self.model_hash, dataset, self.split.value, prepared.n, removed, ds.metric.value
        )
        entry = self.cache.get(key)
        if entry is None:
            predictions = self.evaluator.predictions(prepared, removed)
            scores = score_examples(ds.metric, predictions, prepared.references)
            entry = EvalEntry([float(x) for x in scores], predictions)
            self.cache.put(key, entry)
            self.computed += 1
        values = np.asarray(entry.per_example, dtype=np.float64)
        self._memory[memo] = values
        return values

    def score(self, dataset: str, removed: Iterable[int] = ()) -> float:
        return float(self.per_example(dataset, removed).mean())

    def relative_drop(self, dataset: str, removed: Iterable[int]) -> float:
        """(base − score) / base: comparable across metrics (CIDEr-D vs accuracy)."""
        base = self.score(dataset, ())
        if base <= 0:
            return 0.0
        return (base - self.score(dataset, removed)) / base
