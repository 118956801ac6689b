"""The task detector of an export made on a suite file: fitted on that suite's prompts.

The built-in suite's detector learns from its streamed train prompts (detector.py). A
suite file has no train split; its calib and test prompts are what the variants were
chosen and measured on, so those are the samples, labelled with each table's task type.
Only the samples are gathered here; the fit is `fit_detector`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..tasks.base import Split, TaskDataset
from ..tasks.suites import DatasetSuite
from .detector import fit_detector

SPLITS = (Split.CALIB, Split.TEST)


def suite_prompts(datasets: Sequence[TaskDataset]) -> list[tuple[str, str]]:
    """Distinct (prompt, task type) pairs of every dataset's calib and test splits."""
    pairs: dict[tuple[str, str], None] = {}
    for dataset in datasets:
        for split in SPLITS:
            for draft in dataset.drafts(split):  # prompts only: no image is opened
                pairs[(draft.prompt, dataset.task_type.value)] = None
    return list(pairs)


def fit_suite_detector(datasets: Sequence[TaskDataset], suite: DatasetSuite) -> dict | None:
    """The manifest's `task_detector` section, or None when there is nothing to tell apart.

    The runtime's detector chooses between task types; with one task type among the
    datasets it would be a constant, so the manifest goes without one (a hint, or the
    default variant, decides).
    """
    samples = suite_prompts(datasets)
    if len({task_type for _, task_type in samples}) < 2:
        return None
    section = fit_detector(samples=samples).to_dict()
    section["provenance"] = {
        **section["provenance"],
        "split": "+".join(s.value for s in SPLITS),
        "datasets": [d.name for d in datasets],
        **suite.provenance(),
    }
    section["provenance"].pop("prompts_per_dataset", None)  # a built-in train-split setting
    return section
