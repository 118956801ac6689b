"""Which suite a command's datasets come from: the built-in one, or a suite file's tables.

Scores files and manifests record it in their provenance: `suite` (the file as given) and
`suite_hash` (suite_file.suite_hash) for a suite file, nothing for the built-in suite, so
files written before suite files existed read as built-in. `vlmprune export` compares
`suite_hash` to refuse scores computed on another suite (search/files.py).

    suite = DatasetSuite.builtin()               # or DatasetSuite.of_file(load_suite(path))
    suite.get("text_vqa")                        # a dataset; unknown names: did you mean
    suite.provenance()                           # {} or {"suite": ..., "suite_hash": ...}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import VlmpruneError
from ..registry import Registry
from .base import SUITE_SEED, Split, TaskDataset

if TYPE_CHECKING:
    from .file_dataset import Suite

BUILTIN = "the built-in suite"


@dataclass(frozen=True)
class DatasetSuite:
    datasets: tuple[TaskDataset, ...] = field(repr=False)  # in suite order
    path: Path | None = None  # None: the built-in suite
    hash: str | None = None

    @classmethod
    def builtin(cls) -> DatasetSuite:
        from .catalog import all_datasets

        return cls(tuple(all_datasets()))

    @classmethod
    def of_file(cls, suite: Suite) -> DatasetSuite:
        return cls(tuple(suite.datasets.values()), suite.path, suite.hash)

    @property
    def is_builtin(self) -> bool:
        return self.path is None

    def names(self) -> list[str]:
        return [d.name for d in self.datasets]

    def get(self, name: str) -> TaskDataset:
        """The dataset called `name`; an unknown name raises with suggestions."""
        if self.is_builtin:
            from .catalog import get_dataset

            return get_dataset(name)  # its message is the one every built-in command gives
        names: Registry[TaskDataset] = Registry("suite dataset")
        for dataset in self.datasets:
            names.register(dataset.name)(dataset)
        return names.get(name)

    def provenance(self) -> dict:
        """What an output records about this suite ({} for the built-in one)."""
        return {} if self.is_builtin else {"suite": str(self.path), "suite_hash": self.hash}

    def describe(self) -> str:
        return describe_suite(self.provenance())


def describe_suite(recorded: Mapping[str, object]) -> str:
    """'the built-in suite' or 'suite file F (suite hash 0123456789ab…)', from provenance."""
    digest = recorded.get("suite_hash")
    if not digest:
        return BUILTIN
    return f"suite file {recorded.get('suite')} (suite hash {str(digest)[:12]}…)"


def recorded_suite(datasets: Iterable[TaskDataset]) -> dict:
    """Provenance of scores computed on `datasets`: their draw seed, and their suite file.

    A suite file's datasets know their suite (FileDataset.suite); the built-in datasets and
    JSONL files have none and record only the seed, as before suite files existed.
    """
    datasets = list(datasets)
    suites = list(dict.fromkeys(s for d in datasets if (s := getattr(d, "suite", None))))
    if len(suites) > 1:
        raise ValueError("datasets of several suite files cannot share one scores run")
    seeds = {d.name: getattr(d, "seed", SUITE_SEED) for d in datasets}
    seed = next(iter(seeds.values())) if len(set(seeds.values())) == 1 else seeds
    if not suites:
        return {"seed": seed}
    return {"seed": seed, **DatasetSuite.of_file(suites[0]).provenance()}


def require_examples(
    datasets: Iterable[TaskDataset], split: Split | str, minimum: int, why: str
) -> None:
    """A suite file may give a split few or no examples (`test = 0`): say so before any work.

    `why` completes the line: "...has 0 example(s); <why> at least 1".
    """
    split = Split(split)
    for dataset in datasets:
        size = dataset.split_size(split)
        if size is not None and size < minimum:
            suite = getattr(dataset, "suite", None)
            where = f" ({suite.path}: [datasets.{dataset.name}] {split.value})" if suite else ""
            raise VlmpruneError(
                f"{dataset.name}: the {split.value} split has {size} example(s); "
                f"{why} at least {minimum}{where}"
            )
