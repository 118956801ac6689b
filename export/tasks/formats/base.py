"""The format interface: what a benchmark reader returns, and the registry of readers.

A format reads a benchmark's official files into `Record`s: the prompt's fields, the
reference answers and where the image is. It does not open images, sample or build
prompts; the suite layer (export/tasks/suite_file.py) does that the same way for every
format, so a new format is only its reader.

Problems that concern one record (a question without an annotation) go through
`Problems`: loading stops at the first one, `vlmprune suite validate` collects them all.
Problems that make a whole file unusable (missing, not JSON) raise at once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image, UnidentifiedImageError

from ...errors import VlmpruneError
from ...registry import Registry
from ..base import TaskType
from ..metrics import Metric


class PathKind(str, Enum):
    FILE = "file"
    DIR = "dir"


@dataclass(frozen=True)
class PathField:
    """A key of the suite table that names files or a folder, relative to the suite file."""

    name: str
    kind: PathKind = PathKind.FILE
    required: bool = True
    many: bool = False  # a list of paths is accepted; their records are merged
    help: str = ""  # one line for docs and error messages
    identity: bool = False  # a folder that is the data itself: its files go into suite_hash


@dataclass(frozen=True)
class Source:
    """A format's input: the resolved paths and the format's own options from the suite table."""

    dataset: str  # the suite table's name, for messages
    suite_file: Path
    paths: Mapping[str, tuple[Path, ...]]
    options: Mapping[str, Any] = field(default_factory=dict)  # the format's own keys
    task_type: TaskType | None = None  # the suite table's, where it sets one
    stratify: str | None = None  # the stratum the suite draws by (a column, for hf)

    def path(self, name: str) -> Path | None:
        paths = self.paths.get(name, ())
        return paths[0] if paths else None

    def files(self, name: str) -> tuple[Path, ...]:
        return self.paths.get(name, ())


class FileImage:
    """An image file on disk, opened only when an example is built."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def identity(self) -> str:  # equal identities mean the same picture
        return str(self.path)

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> Image.Image:
        try:
            with Image.open(self.path) as image:
                return image.convert("RGB")
        except FileNotFoundError:
            raise VlmpruneError(f"image file {str(self.path)!r} not found") from None
        except (UnidentifiedImageError, OSError) as exc:
            raise VlmpruneError(f"cannot read image {str(self.path)!r}: {exc}") from None


class LazyImage:
    """An image held by a table (a parquet or `datasets` row), decoded on demand."""

    def __init__(self, identity: str, present: bool, load: Callable[[], Image.Image]) -> None:
        self.identity = identity
        self._present = present
        self._load = load

    def exists(self) -> bool:
        return self._present

    def load(self) -> Image.Image:
        return self._load().convert("RGB")


ImageSource = FileImage | LazyImage


@dataclass(frozen=True)
class Record:
    """One benchmark question before sampling: prompt fields, references, image."""

    key: str  # unique within the dataset (question id, pid...): sampling and example keys
    where: str  # "<file> <id field> <id>": where a message about this record points
    fields: Mapping[str, str]  # values for the prompt template's {placeholders}
    answers: tuple[str, ...]
    image: ImageSource = field(compare=False)
    splits: frozenset[str] = frozenset()  # the files' split labels for it (none: no labels)
    strata: Mapping[str, str] = field(default_factory=dict)  # stratify name -> value


@dataclass(frozen=True)
class Read:
    records: list[Record]
    skipped: int = 0  # records the format leaves out by definition (ScienceQA without image)


@dataclass(frozen=True)
class Defaults:
    """What a dataset of this format gets when the suite table does not say otherwise."""

    task_type: TaskType | None  # None: the suite table must set it (hf without a preset)
    metric: Metric | None  # None: the task type's standard metric
    prompt: str | None  # None: the task type's default prompt
    max_new_tokens: int | None
    stratify: str | None  # None: random draw; else a name from `strata`
    fields: tuple[str, ...]  # the placeholders its prompt may use
    skill: str


class Problems:
    """Record-level problems: raised at once when strict, else collected for a report."""

    def __init__(self, strict: bool = True, limit: int = 20) -> None:
        self.strict = strict
        self.limit = limit  # a report lists this many per dataset, then counts the rest
        self.items: list[str] = []
        self.count = 0

    def add(self, message: str) -> None:
        if self.strict:
            raise VlmpruneError(message)
        self.count += 1
        if len(self.items) < self.limit:
            self.items.append(message)


class Format(ABC):
    """A benchmark's file layout: the suite keys it reads, its defaults, its reader."""

    name: ClassVar[str]
    paths: ClassVar[tuple[PathField, ...]]
    options: ClassVar[tuple[str, ...]] = ()  # non-path keys of the suite table it reads
    # What `stratify` may name; None: any name, checked by the reader (hf: a column).
    strata: ClassVar[tuple[str, ...] | None] = ()
    has_splits: ClassVar[bool] = False  # records carry a split label that `split` selects
    task_type: ClassVar[TaskType]
    metric: ClassVar[Metric]
    prompt: ClassVar[str]
    max_new_tokens: ClassVar[int | None] = None
    stratify: ClassVar[str | None] = None
    fields: ClassVar[tuple[str, ...]] = ("question",)
    skill: ClassVar[str]

    def defaults(self, source: Source) -> Defaults:
        """The defaults; a format whose defaults depend on its options (hf) overrides this."""
        return Defaults(
            self.task_type,
            self.metric,
            self.prompt,
            self.max_new_tokens,
            self.stratify,
            self.fields,
            self.skill,
        )

    @abstractmethod
    def read(self, source: Source, problems: Problems) -> Read:
        """Every record of the files, in file order; images are not opened."""


FORMATS: Registry[Format] = Registry("format")


def register_format(cls: type[Format]) -> type[Format]:
    FORMATS.register(cls.name)(cls())
    return cls
