"""Screening: rank a beam step's candidates by a teacher-forced measure, verify the best M.

Exact evaluation (greedy generation + the user's metric) costs one decoder call per
generated token; a teacher-forced measure (export/evaluation/teacher_forced.py) costs one
per batch. With screening, every beam entry's children are ranked by the measure and only
its best M are evaluated exactly; the search then ranks those by the exact loss as usual.

Why per beam entry and not per step: the beam keeps W entries, and a per-step cut to M < W
candidates could not refill it; with M per entry every entry keeps descendants, and a step
evaluates at most W·M candidates (fewer where entries share children). The first step
(k = 1) is not screened: its candidates are the single-block sets, which leave-one-out
evaluates exactly anyway (`search` runs it first), so a cut there would save nothing and
could only lose the best one.

The loss a candidate is screened by is the increase of the measure over the unpruned model,
in nats per answer token, per dataset; the generic objective takes its mean over datasets
(`worst`: its maximum). An increase, not a ratio: the demo model's unpruned NLL is ~0 on
datasets it always answers right (shapes_vqa, option_mcq), so ratios there would be huge
and drown every other dataset in the mean; and KL's unpruned value is 0 by definition.
Values are memoised for the run (every objective shares them), not cached on disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import VlmpruneError
from ..evaluation.evaluate import Evaluator
from ..evaluation.teacher_forced import Measure, TeacherForced, scored_reference
from ..tasks.base import Split, TaskDataset
from .beam import GenericObjective

Pair = tuple[str, tuple[int, ...]]  # (dataset, removed blocks, sorted)
SCREENED_PER = "beam_entry"  # what --verify-top counts per (recorded in the scores files)


@dataclass(frozen=True)
class ScreenSettings:
    measure: Measure
    verify_top: int  # M: candidates evaluated exactly per beam entry

    def to_json(self) -> dict:
        return {"measure": self.measure.value, "verify_top": self.verify_top, "per": SCREENED_PER}


def screen_settings(
    measure: str | None, verify_top: int | None, exhaustive: bool = False
) -> ScreenSettings | None:
    """The CLI's --screen / --verify-top, checked (None: no screening, the exact search)."""
    if measure is None:
        if verify_top is not None:
            raise VlmpruneError("--verify-top needs --screen nll or --screen kl")
        return None
    try:
        parsed = Measure(measure)
    except ValueError:
        raise VlmpruneError(
            f"Unknown --screen measure '{measure}'. Available: {', '.join(m.value for m in Measure)}"
        ) from None
    if exhaustive:
        raise VlmpruneError("--screen screens beam search steps; it does not apply to --exhaustive")
    verify_top = 2 if verify_top is None else verify_top
    if verify_top < 1:
        raise VlmpruneError(f"--verify-top must be at least 1 (got {verify_top})")
    return ScreenSettings(parsed, verify_top)


class ScreenSource:
    """Teacher-forced values of (dataset, removal set) pairs on one split, memoised."""

    def __init__(
        self,
        evaluator: Evaluator,
        datasets: Sequence[TaskDataset],
        measure: Measure,
        split: Split = Split.CALIB,
        limit: int | None = None,
    ) -> None:
        self.measure = Measure(measure)
        self.datasets = {d.name: d for d in datasets}
        self.split = Split(split)
        self.limit = limit
        self.evaluator = evaluator
        self.forced = TeacherForced(evaluator, self.measure)
        self.computed = 0  # (dataset, removal set) values actually computed
        self._memory: dict[Pair, float] = {}
        if self.measure is Measure.NLL:
            self._require_references()

    @property
    def passes(self) -> int:
        return self.forced.passes

    def _require_references(self) -> None:
        """Before anything runs: nll needs a reference answer text in every example."""
        for name, ds in self.datasets.items():
            # Drafts: the answers without painting any image.
            for i, draft in enumerate(ds.drafts(self.split, self.limit)):
                scored_reference(draft.answers, f"{name} {self.split.value} example {i}")

    def value(self, dataset: str, removed: Iterable[int] = ()) -> float:
        """Mean over the examples of the per-token measure."""
        pair = (dataset, tuple(sorted(removed)))
        if pair not in self._memory:
            prepared = self.evaluator.prepare(self.datasets[dataset], self.split, self.limit)
            per_example = self.forced.per_example(prepared, pair[1])
            self._memory[pair] = float(np.mean(per_example))
            self.computed += 1
        return self._memory[pair]

    def increase(self, dataset: str, removed: Iterable[int]) -> float:
        """The measure with `removed` taken out minus the unpruned model's (nats per token)."""
        return self.value(dataset, removed) - self.value(dataset, ())


def screen_loss(
    source: ScreenSource, datasets: list[str], objective: GenericObjective | None = None
) -> Callable[[tuple[int, ...]], float]:
    """One dataset's increase, or the generic objective's reduction of them (None: mean)."""
    reduce = np.max if objective is GenericObjective.WORST else np.mean
    return lambda removed: float(reduce([source.increase(d, removed) for d in datasets]))


class Shortlist:
    """The beam hook: each beam entry's best `verify_top` children by the screen loss."""

    def __init__(self, loss: Callable[[tuple[int, ...]], float], verify_top: int) -> None:
        self.loss = loss
        self.verify_top = verify_top
        self.candidates = 0  # distinct candidates the search's steps produced
        self.verified = 0  # of those, the ones handed on to exact evaluation

    def __call__(self, children: dict[tuple[int, ...], list[tuple[int, ...]]]) -> list:
        every = sorted({c for kids in children.values() for c in kids})
        if set(children) == {()}:  # k = 1: leave-one-out's sets, evaluated exactly anyway
            keep = every
        else:
            keep = sorted(
                {
                    c
                    for kids in children.values()
                    for c in sorted(kids, key=lambda c: (self.loss(c), c))[: self.verify_top]
                }
            )
        self.candidates += len(every)
        self.verified += len(keep)
        return keep

    def to_json(self) -> dict:
        return {"candidates": self.candidates, "verified": self.verified}
