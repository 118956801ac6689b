"""The datasets one can name: the built-in synthetic suite, registered on first use.

`get_dataset("shapes_vqa")`, `all_datasets()` (suite order) and `parse_dataset_names`
(the `--datasets` option's value) are the lookups every command uses; `as_dataset` lets
a stage take either a built-in name or a dataset object (a suite file's table).
"""

from __future__ import annotations

from ..errors import VlmpruneError
from . import synthetic  # noqa: F401  (registers the built-in datasets, in suite order)
from .base import DATASETS, TaskDataset


def get_dataset(name: str) -> TaskDataset:
    return DATASETS.get(name)


def as_dataset(dataset: str | TaskDataset) -> TaskDataset:
    """A name is a built-in dataset's; an object (a suite file's table, JSONL) is itself."""
    return get_dataset(dataset) if isinstance(dataset, str) else dataset


def all_datasets() -> list[TaskDataset]:
    return [DATASETS.get(n) for n in DATASETS.names()]


def parse_dataset_names(spec: str | None) -> list[str]:
    """'all', None or 'a,b' -> validated names, in suite order for 'all'."""
    if spec is None or spec.strip() in ("", "all"):
        return [d.name for d in all_datasets()]
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise VlmpruneError("--datasets is empty")
    for name in names:
        get_dataset(name)
    return names
