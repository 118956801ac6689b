"""Which variants to export: removal sets chosen from the `scores/<model>/` files.

A variant is `(objective, removed_blocks)`; the objective is a dataset name, `generic`,
`full` (nothing removed) or `custom` (blocks given on the command line). Blocks are
numbered in the unpruned model. A rule picks one of an objective's best sets (written by
`vlmprune search`, docs/contracts.md):

- `Rule(remove=K)`: the best set of size K;
- `Rule(max_drop_pct=P)`: the largest best set whose calib relative drop is <= P percent of
  the unpruned score (none qualifies: nothing removed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..search.files import GENERIC, ScoresError, read_scores

if TYPE_CHECKING:
    from ..tasks.suites import DatasetSuite

FULL = "full"
CUSTOM = "custom"


@dataclass(frozen=True)
class BestSet:
    k: int
    removed_blocks: tuple[int, ...]
    relative_drop: float | None  # calib; for generic: the generic objective's value


@dataclass(frozen=True)
class ObjectiveScores:
    """The part of one scores file that export needs."""

    path: Path
    objective: str
    task_type: str | None
    num_blocks: int
    best: tuple[BestSet, ...]
    datasets: tuple[str, ...]  # generic.json: the datasets its objective covered

    def of_size(self, k: int) -> BestSet | None:
        return next((b for b in self.best if b.k == k), None)

    def drop_of(self, removed: Sequence[int]) -> float | None:
        removed = tuple(sorted(removed))
        match = next((b for b in self.best if b.removed_blocks == removed), None)
        return match.relative_drop if match else None


@dataclass(frozen=True)
class Rule:
    remove: int | None = None  # K
    max_drop_pct: float | None = None  # P

    def __post_init__(self) -> None:
        if (self.remove is None) == (self.max_drop_pct is None):
            raise ValueError("a rule needs exactly one of remove / max_drop_pct")

    def describe(self) -> dict:
        return (
            {"remove": self.remove}
            if self.remove is not None
            else {"max_drop_pct": self.max_drop_pct}
        )

    def choose(self, scores: ObjectiveScores, search: str) -> BestSet:
        if self.remove is not None:
            chosen = scores.of_size(self.remove)
            if chosen is None:
                ks = sorted(b.k for b in scores.best)
                have = f"k = {ks[0]}..{ks[-1]}" if ks else "no k"
                raise ScoresError(
                    f"{scores.path} holds best sets for {have}, not k = {self.remove}; run "
                    f"`{search} --max-remove {self.remove}`"
                )
            return chosen
        limit = self.max_drop_pct / 100.0
        within = [
            b for b in scores.best if b.relative_drop is not None and b.relative_drop <= limit
        ]
        if any(b.relative_drop is None for b in scores.best):
            raise ScoresError(
                f"{scores.path}: a best set has no relative_drop; --max-drop needs it"
            )
        return max(within, key=lambda b: b.k, default=BestSet(0, (), 0.0))


@dataclass(frozen=True)
class VariantSpec:
    name: str
    objective: str
    task_type: str | None
    removed_blocks: tuple[int, ...]
    expected_drop: float | None  # calib relative drop of the objective (scores files)

    def kept_blocks(self, num_blocks: int) -> list[int]:
        return [b for b in range(num_blocks) if b not in self.removed_blocks]


@dataclass(frozen=True)
class ScoresSource:
    folder: Path  # scores/<model>
    search: str  # for messages: the command that creates the files ("vlmprune search --model demo")
    model_hash: str
    num_blocks: int
    suite: DatasetSuite | None = None  # the files must be of this suite (None: the built-in one)

    def path(self, objective: str) -> Path:
        return self.folder / f"{objective}.json"

    def dataset_suite(self) -> DatasetSuite:
        """The suite whose datasets the objectives name."""
        from ..tasks.suites import DatasetSuite

        return self.suite or DatasetSuite.builtin()

    def load(self, objective: str) -> ObjectiveScores:
        path = self.path(objective)
        suite = self.suite.provenance() if self.suite else {}
        doc = read_scores(path, self.model_hash, rerun=self.search, expected_suite=suite)
        if doc.get("num_blocks") != self.num_blocks:
            raise ScoresError(
                f"{path}: num_blocks is {doc.get('num_blocks')}, the model has {self.num_blocks}"
            )
        return _parse(doc, path)


def validate_removal(blocks: Sequence[int], num_blocks: int) -> tuple[int, ...]:
    from ..models.removal import validate_removal as check  # torch: imported only when planning

    return check(blocks, num_blocks)


def _parse(doc: dict, path: Path) -> ObjectiveScores:
    try:
        rows = doc["search"]["best"]
        best = tuple(
            BestSet(
                k=int(row["k"]),
                removed_blocks=validate_removal(
                    [int(b) for b in row["removed_blocks"]], doc["num_blocks"]
                ),
                relative_drop=None
                if row.get("relative_drop") is None
                else float(row["relative_drop"]),
            )
            for row in rows
        )
        covered = next((tuple(row["per_dataset"]) for row in rows if row.get("per_dataset")), ())
        return ObjectiveScores(
            path=path,
            objective=str(doc["objective"]),
            task_type=doc.get("task_type"),
            num_blocks=int(doc["num_blocks"]),
            best=best,
            datasets=covered,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ScoresError(
            f"{path}: no usable search results ({exc}); rerun `vlmprune search`"
        ) from None


def check_rule(rule: Rule, num_blocks: int) -> None:
    if rule.remove is not None and rule.remove >= num_blocks:
        raise ScoresError(
            f"--remove {rule.remove}: the model has {num_blocks} blocks; remove at most {num_blocks - 1}"
        )


def suite_dataset_names(generic: ObjectiveScores, suite: DatasetSuite | None = None) -> list[str]:
    """The datasets the generic objective covered, else the whole suite (in suite order)."""
    from ..tasks.suites import DatasetSuite

    order = (suite or DatasetSuite.builtin()).names()
    if not generic.datasets:
        return order
    return [n for n in order if n in generic.datasets] + [
        n for n in generic.datasets if n not in order
    ]


def plan_all_tasks(source: ScoresSource, rule: Rule, include_full: bool) -> list[VariantSpec]:
    """`generic` first (the default variant), one variant per dataset, optionally `full`."""
    check_rule(rule, source.num_blocks)
    generic = source.load(GENERIC)
    specs = [_from_scores(GENERIC, None, generic, rule, source.search)]
    for name in suite_dataset_names(generic, source.dataset_suite()):
        scores = source.load(name)
        specs.append(_from_scores(name, scores.task_type, scores, rule, source.search))
    if include_full:
        specs.append(full_variant())
    return specs


def plan_single(
    source: ScoresSource, rule: Rule, task: str | None, blocks: tuple[int, ...] | None
) -> VariantSpec:
    """`--task NAME` (its best set by the rule), `--blocks 3,4`, or both (that set, named NAME)."""
    if task == FULL:
        if blocks:
            raise ScoresError("--task full removes nothing; drop --blocks")
        return full_variant()
    if task is not None and task != GENERIC:
        source.dataset_suite().get(task)  # unknown names fail here, with suggestions
    if blocks is None:
        check_rule(rule, source.num_blocks)
        scores = source.load(task)
        return _from_scores(task, scores.task_type, scores, rule, source.search)
    removed = validate_removal(blocks, source.num_blocks)
    if task is None:
        name = "blocks_" + "_".join(str(b) for b in removed)
        return VariantSpec(name, CUSTOM, None, removed, None)
    known = source.load(task) if source.path(task).is_file() else None
    task_type = known.task_type if known else _task_type(source, task)
    return VariantSpec(task, task, task_type, removed, known.drop_of(removed) if known else None)


def full_variant() -> VariantSpec:
    return VariantSpec(FULL, FULL, None, (), 0.0)


def _from_scores(
    name: str, task_type: str | None, scores: ObjectiveScores, rule: Rule, search: str
) -> VariantSpec:
    chosen = rule.choose(scores, search)
    return VariantSpec(
        name, scores.objective, task_type, chosen.removed_blocks, chosen.relative_drop
    )


def _task_type(source: ScoresSource, dataset: str) -> str | None:
    if dataset == GENERIC:
        return None
    return source.dataset_suite().get(dataset).task_type.value
