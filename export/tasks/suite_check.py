"""`vlmprune suite validate`: every problem of a suite file and its data, one line each.

Checks the suite file (keys, types, that every named file exists), then per dataset:
its files parse, every question has an annotation, every image of every record exists
(not only the drawn ones), and calib + test can be drawn. Reading stops at a file-level
problem (a malformed file) but collects record-level ones, up to a limit per dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import VlmpruneError
from .file_dataset import FileDataset, missing_image
from .formats.base import Problems
from .suite_file import parse_suite

PER_DATASET = 20  # problem lines listed per dataset before "... and N more"


@dataclass(frozen=True)
class DatasetReport:
    name: str
    records: int  # in the requested splits
    skipped: int
    calib: int
    test: int


@dataclass(frozen=True)
class SuiteReport:
    problems: list[str]
    datasets: list[DatasetReport]


def check_suite(path: str | Path) -> SuiteReport:
    problems: list[str] = []
    try:
        spec = parse_suite(path, problems)
    except VlmpruneError as exc:
        return SuiteReport([str(exc)], [])
    reports = []
    for dataset_spec in spec.datasets:
        dataset = FileDataset(dataset_spec)
        found = Problems(strict=False, limit=PER_DATASET)
        try:
            report = _check(dataset, found)
        except VlmpruneError as exc:
            found.add(str(exc))
            report = None
        problems += [f"{dataset.name}: {line}" for line in found.items]
        if found.count > len(found.items):
            problems.append(f"{dataset.name}: ... and {found.count - len(found.items)} more")
        if report is not None and not found.count:
            reports.append(report)
    return SuiteReport(problems, reports)


def _check(dataset: FileDataset, found: Problems) -> DatasetReport:
    pool = dataset.pool(found)
    for record in pool.records:
        if not record.image.exists():
            found.add(missing_image(record))
    drawn = dataset.draw_records(pool.records)  # the draw a run makes, checking every image above
    return DatasetReport(
        dataset.name, len(pool.records), pool.skipped, len(drawn.calib), len(drawn.test)
    )
