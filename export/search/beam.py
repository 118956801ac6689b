"""Beam search over removal sets, per dataset and for a generic objective.

An objective maps a removal set to a loss (a relative drop: lower is better). One beam
search returns the best set for every k = 1..K; width 1 is greedy; `exhaustive` scores every
set of size k (ground truth for small N·K). Ties are broken by the sorted block tuple, so
results are deterministic. Each step evaluates all of its candidates before ranking them,
so a ScoreSource with a worker pool runs them in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from itertools import combinations

import numpy as np

from ..errors import VlmpruneError
from .scoring import ScoreSource

Loss = Callable[[tuple[int, ...]], float]
# A step's candidates, grouped by the beam entry they extend -> the candidates to rank.
Shortlist = Callable[[dict[tuple[int, ...], list[tuple[int, ...]]]], Iterable[tuple[int, ...]]]


class GenericObjective(str, Enum):
    MEAN = "mean"  # mean over datasets of the per-dataset relative drop
    POOLED = "pooled"  # relative drop of the mean score over all datasets' examples merged
    WORST = "worst"  # the worst per-dataset relative drop


@dataclass(frozen=True)
class BestSet:
    k: int
    removed_blocks: tuple[int, ...]
    loss: float  # relative drop under the objective

    def to_json(self) -> dict:
        return {
            "k": self.k,
            "removed_blocks": list(self.removed_blocks),
            "relative_drop": self.loss,
        }


class SourceLoss:
    """A loss read from a ScoreSource over some datasets.

    It knows which evaluations it reads, so a search step can ask for all of its candidates
    at once (in parallel when the source has a pool) before ranking them one by one.
    """

    def __init__(
        self, source: ScoreSource, datasets: list[str], loss: Callable[[tuple[int, ...]], float]
    ) -> None:
        self.source = source
        self.datasets = datasets
        self._loss = loss

    def __call__(self, removed: tuple[int, ...]) -> float:
        return self._loss(removed)

    def prefetch(self, candidates: list[tuple[int, ...]]) -> None:
        # Relative drops also read the unpruned baseline ().
        self.source.prefetch((d, c) for c in [(), *candidates] for d in self.datasets)


def dataset_loss(source: ScoreSource, dataset: str) -> SourceLoss:
    return SourceLoss(source, [dataset], lambda removed: source.relative_drop(dataset, removed))


def generic_loss(
    source: ScoreSource, datasets: list[str], objective: GenericObjective
) -> SourceLoss:
    objective = GenericObjective(objective)
    if objective is GenericObjective.POOLED:
        source.prefetch((d, ()) for d in datasets)  # the baselines, in parallel
        base = np.concatenate([source.per_example(d, ()) for d in datasets]).mean()

        def pooled(removed: tuple[int, ...]) -> float:
            score = np.concatenate([source.per_example(d, removed) for d in datasets]).mean()
            return float((base - score) / base) if base > 0 else 0.0

        return SourceLoss(source, datasets, pooled)
    reduce = np.mean if objective is GenericObjective.MEAN else np.max
    return SourceLoss(
        source,
        datasets,
        lambda removed: float(reduce([source.relative_drop(d, removed) for d in datasets])),
    )


def check_search_args(num_blocks: int, max_remove: int, beam_width: int) -> None:
    if beam_width < 1:
        raise VlmpruneError(f"--beam-width must be at least 1 (got {beam_width})")
    if not 1 <= max_remove < num_blocks:
        raise VlmpruneError(
            f"--max-remove must be between 1 and {num_blocks - 1} for a model with {num_blocks} blocks "
            f"(got {max_remove})"
        )


def beam_search(
    loss: Loss,
    num_blocks: int,
    max_remove: int,
    beam_width: int,
    shortlist: Shortlist | None = None,
) -> list[BestSet]:
    """`shortlist` (None: every candidate) picks which of a step's candidates `loss` ranks."""
    check_search_args(num_blocks, max_remove, beam_width)
    beams: list[tuple[int, ...]] = [()]
    best = []
    for k in range(1, max_remove + 1):
        children = {
            beam: [tuple(sorted((*beam, b))) for b in range(num_blocks) if b not in beam]
            for beam in beams
        }
        candidates = sorted({c for kids in children.values() for c in kids})
        if shortlist is not None:
            candidates = sorted(set(shortlist(children)))
        ranked = _rank(loss, candidates)
        beams = [c for c, _ in ranked[:beam_width]]
        best.append(BestSet(k, ranked[0][0], ranked[0][1]))
    return best


def exhaustive_search(loss: Loss, num_blocks: int, max_remove: int) -> list[BestSet]:
    check_search_args(num_blocks, max_remove, 1)
    best = []
    for k in range(1, max_remove + 1):
        ranked = _rank(loss, combinations(range(num_blocks), k))
        best.append(BestSet(k, ranked[0][0], ranked[0][1]))
    return best


def _rank(loss: Loss, candidates: Iterable[tuple[int, ...]]) -> list[tuple[tuple[int, ...], float]]:
    candidates = [tuple(c) for c in candidates]
    prefetch = getattr(loss, "prefetch", None)  # plain callables (e.g. the tests') have none
    if prefetch is not None:
        prefetch(candidates)
    scored = [(c, loss(c)) for c in candidates]
    return sorted(scored, key=lambda item: (item[1], item[0]))
