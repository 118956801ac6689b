"""Suite datasets read from benchmark files, with the interface the evaluator uses.

A `FileDataset` reads its files on first use, keeps the records of the requested splits,
and draws calib and test from them (sampling.py). Only calib and test exist: the files
are an evaluation set, and training data is streamed by the synthetic suite only.
Before the first example is built, every drawn image is checked, so a missing image
stops a run before any model work (or output file) happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..errors import VlmpruneError
from ..registry import Registry
from .base import Draft, Example, Split
from .formats.base import Problems, Record
from .sampling import Draw, draw
from .suite_file import DatasetSpec, SuiteSpec, dataset_hash, parse_suite


@dataclass(frozen=True)
class Pool:
    """The records calib and test are drawn from."""

    records: list[Record]
    skipped: int  # left out by the format's definition (ScienceQA questions without image)
    labels: frozenset[str]  # every split label the files carry


class FileDataset:
    def __init__(self, spec: DatasetSpec, suite: Suite | None = None) -> None:
        self.spec = spec
        self.suite = suite  # the suite file it is a table of: its hash goes into provenance
        self.name = spec.name
        self.task_type = spec.task_type
        self.metric = spec.metric
        self.skill = spec.skill
        self.max_new_tokens = spec.max_new_tokens
        self.seed = spec.seed  # the calib/test draw's seed
        self._pool: Pool | None = None
        self._draws: dict[int, Draw] = {}
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        """sha256 of this dataset's files and settings: a cache key where `name` is not one."""
        if self._fingerprint is None:
            self._fingerprint = dataset_hash(self.spec)
        return self._fingerprint

    def pool(self, problems: Problems | None = None) -> Pool:
        """Read the files (once) and keep the requested splits; `problems` collects, if given."""
        if problems is not None:
            return self._read(problems)
        if self._pool is None:
            with _named(self.name):
                self._pool = self._read(Problems(strict=True))
        return self._pool

    def _read(self, problems: Problems) -> Pool:
        read = self.spec.format.read(self.spec.source, problems)
        found = frozenset(label for r in read.records for label in r.splits)
        records = _unique(read.records)
        if self.spec.splits is not None:
            _check_splits(self.spec.splits, found)
            wanted = set(self.spec.splits)
            records = [r for r in records if r.splits & wanted]
        return Pool(records, read.skipped, found)

    def draw_records(self, records: list[Record], seed: int | None = None) -> Draw:
        """Calib and test from `records` with this dataset's counts, seed and strata."""
        spec = self.spec
        seed = spec.seed if seed is None else seed
        return draw(records, spec.calib, spec.test, seed, self.name, spec.stratify, content_key)

    def draw(self, seed: int | None = None) -> Draw:
        seed = self.spec.seed if seed is None else seed
        if seed not in self._draws:
            records = self.pool().records
            with _named(self.name):
                drawn = self.draw_records(records, seed)
                for record in drawn.calib + drawn.test:
                    if not record.image.exists():
                        raise VlmpruneError(missing_image(record))
            self._draws[seed] = drawn
        return self._draws[seed]

    def records(self, split: Split | str, seed: int | None = None) -> list[Record]:
        split = _parse_split(self.name, split)
        drawn = self.draw(seed)
        return drawn.calib if split is Split.CALIB else drawn.test

    def split_size(self, split: Split | str) -> int:
        return len(self.records(split))

    def prompt(self, record: Record) -> str:
        return self.spec.prompt.format_map(record.fields)

    def drafts(
        self, split: Split | str, limit: int | None = None, seed: int | None = None
    ) -> Iterator[Draft]:
        """Keys, prompts and answers without opening an image (`paint` opens it)."""
        for record in self.records(split, seed)[:limit]:
            yield Draft(
                key=f"{self.name}|{record.key}",
                prompt=self.prompt(record),
                answers=record.answers,
                paint=lambda record=record: self._open(record),
            )

    def examples(
        self, split: Split | str, limit: int | None = None, seed: int | None = None
    ) -> Iterator[Example]:
        for d in self.drafts(split, limit, seed):
            yield d.finish(self.task_type)

    def _open(self, record: Record) -> Image.Image:
        try:
            return record.image.load()
        except VlmpruneError as exc:
            raise VlmpruneError(f"{self.name}: {record.where}: {exc}") from None


@contextmanager
def _named(name: str) -> Iterator[None]:
    """Prefix errors with the dataset's name: a run reads several suites' files."""
    try:
        yield
    except VlmpruneError as exc:
        raise VlmpruneError(f"{name}: {exc}") from None


def missing_image(record: Record) -> str:
    return f"{record.where}: image {record.image.identity!r} not found"


def content_key(record: Record) -> tuple:
    """Two records with equal content ask the same question about the same picture."""
    return record.image.identity, tuple(sorted(record.fields.items()))


def _unique(records: list[Record]) -> list[Record]:
    first: dict[str, Record] = {}
    for record in records:
        if record.key in first:
            raise VlmpruneError(
                f"{record.where}: id {record.key!r} appears twice (also {first[record.key].where}); "
                "is a file listed twice?"
            )
        first[record.key] = record
    return records


def _check_splits(wanted: tuple[str, ...], found: frozenset[str]) -> None:
    if not found:
        raise VlmpruneError(f"split {'+'.join(wanted)!r}: the files carry no split names")
    for split in wanted:
        if split not in found:
            raise VlmpruneError(
                f"split {split!r} is not in the files (they have: {', '.join(sorted(found))})"
            )


def _parse_split(name: str, split: Split | str) -> Split:
    try:
        split = Split(split)
    except ValueError:
        raise VlmpruneError(f"unknown split {split!r}; expected calib or test") from None
    if split is Split.TRAIN:
        raise VlmpruneError(
            f"{name}: a suite dataset has no train split (its files give calib and test only)"
        )
    return split


class Suite:
    """A parsed suite file and its datasets, by name, in file order."""

    def __init__(self, spec: SuiteSpec) -> None:
        self.spec = spec
        self.path = spec.path
        self.datasets = {d.name: FileDataset(d, self) for d in spec.datasets}
        self._names: Registry[FileDataset] = Registry("suite dataset")
        for name, dataset in self.datasets.items():
            self._names.register(name)(dataset)
        self._hash: str | None = None

    @property
    def hash(self) -> str:
        if self._hash is None:
            self._hash = self.spec.hash()
        return self._hash

    def select(self, names: str | None = None) -> list[FileDataset]:
        """'all', None or 'a,b' -> datasets; unknown names raise with suggestions."""
        if names is None or names.strip() in ("", "all"):
            return list(self.datasets.values())
        chosen = [n.strip() for n in names.split(",") if n.strip()]
        if not chosen:
            raise VlmpruneError("--datasets is empty")
        return [self._names.get(n) for n in chosen]


def load_suite(path: str | Path) -> Suite:
    return Suite(parse_suite(path))
