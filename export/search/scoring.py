"""Per-example scores of removal sets, through the evaluation cache.

Every command that needs "the score of removal set S on dataset D" asks a ScoreSource:
leave-one-out scores, every objective of the beam search and the compare report share
the same cached evaluations. Evaluations run in this process, or in parallel worker
processes when an EvalPool is attached; either way scoring and caching happen here, so the
results are the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from ..errors import VlmpruneError
from ..evaluation.cache import EvalCache, EvalEntry, EvalKey, dataset_key
from ..evaluation.evaluate import Evaluator, PreparedSet
from ..tasks.base import Split, TaskDataset
from ..tasks.metrics import score_examples

if TYPE_CHECKING:
    from ..evaluation.backend import EvalBackend


Pair = tuple[str, tuple[int, ...]]  # (dataset, removed blocks, sorted)


class ScoreSource:
    def __init__(
        self,
        evaluator: Evaluator,
        cache: EvalCache,
        datasets: Sequence[TaskDataset],
        split: Split = Split.CALIB,
        limit: int | None = None,
        pool: EvalBackend | None = None,
        progress: bool = False,
    ) -> None:
        self.evaluator = evaluator
        self.cache = cache
        self.datasets = {d.name: d for d in datasets}
        self.split = Split(split)
        self.limit = limit
        self.pool = pool  # None: evaluate in this process, one pair after the other
        self.progress = progress
        self.computed = 0  # (dataset, removal set) evaluations actually run
        self._memory: dict[Pair, np.ndarray] = {}
        if pool is not None and pool.model_hash != self.model_hash:
            # The cache is keyed by the parent's hash: the workers must run that very model.
            raise VlmpruneError("the evaluation workers loaded a different model (files changed?)")

    @property
    def model_hash(self) -> str:
        return self.evaluator.vlm.model_hash

    @property
    def num_blocks(self) -> int:
        return self.evaluator.vlm.num_blocks

    def n(self, dataset: str) -> int:
        return self._prepared(dataset).n

    def per_example(self, dataset: str, removed: Iterable[int] = ()) -> np.ndarray:
        pair = (dataset, tuple(sorted(removed)))
        if pair not in self._memory:
            self._fetch([pair])
        return self._memory[pair]

    def prefetch(self, pairs: Iterable[tuple[str, Iterable[int]]]) -> None:
        """Evaluate every pair not in memory or on disk yet, in parallel when a pool is attached.

        Callers that know what they will ask next (a search step, leave-one-out) call this
        first, so the pool gets all the work at once instead of one pair at a time.
        """
        self._fetch([(dataset, tuple(sorted(removed))) for dataset, removed in pairs])

    def _fetch(self, pairs: list[Pair]) -> None:
        missing = [p for p in dict.fromkeys(pairs) if p not in self._memory and not self._load(p)]
        # A single miss (per_example) gets no bar of its own: it would flash once per call.
        with tqdm(
            total=len(missing),
            desc=f"evaluate {self.split.value}",
            unit="eval",
            leave=False,
            disable=not self.progress or len(missing) < 2,
        ) as bar:
            for pair, predictions in self._predict(missing):
                self._store(pair, predictions)
                bar.update()

    def _predict(self, pairs: list[Pair]) -> Iterator[tuple[Pair, list[str]]]:
        if self.pool is None:
            for dataset, removed in pairs:
                predictions = self.evaluator.predictions(self._prepared(dataset), removed)
                yield (dataset, removed), predictions
            return
        jobs = [(dataset, self.split.value, self.limit, removed) for dataset, removed in pairs]
        for (dataset, _, _, removed), predictions in self.pool.run(jobs):
            yield (dataset, removed), predictions

    def _load(self, pair: Pair) -> bool:
        entry = self.cache.get(self._key(pair))
        if entry is not None:
            self._remember(pair, entry)
        return entry is not None

    def _store(self, pair: Pair, predictions: list[str]) -> None:
        ds = self.datasets[pair[0]]
        scores = score_examples(ds.metric, predictions, self._prepared(pair[0]).references)
        entry = EvalEntry([float(x) for x in scores], predictions)
        self.cache.put(self._key(pair), entry)
        self.computed += 1
        self._remember(pair, entry)

    def _key(self, pair: Pair) -> EvalKey:
        dataset, removed = pair
        metric = self.datasets[dataset].metric.value
        name = dataset_key(self.datasets[dataset])  # a suite file's table: with its fingerprint
        return EvalKey(self.model_hash, name, self.split.value, self.n(dataset), removed, metric)

    def _remember(self, pair: Pair, entry: EvalEntry) -> None:
        self._memory[pair] = np.asarray(entry.per_example, dtype=np.float64)

    def _prepared(self, dataset: str) -> PreparedSet:
        return self.evaluator.prepare(self.datasets[dataset], self.split, self.limit)

    def score(self, dataset: str, removed: Iterable[int] = ()) -> float:
        return float(self.per_example(dataset, removed).mean())

    def relative_drop(self, dataset: str, removed: Iterable[int]) -> float:
        """(base − score) / base: comparable across metrics (CIDEr-D vs accuracy)."""
        base = self.score(dataset, ())
        if base <= 0:
            return 0.0
        return (base - self.score(dataset, removed)) / base
