"""Suite files: real benchmarks in their official formats, one TOML table per dataset.

    schema_version = 1
    seed = 20261126                       # optional; a table's own `seed` wins
    [datasets.text_vqa]                   # the table's name is the dataset's name everywhere
    format = "textvqa"                    # a name from export/tasks/formats
    annotations = "textvqa/TextVQA_0.5.1_val.json"   # the format's files, relative to this file
    images = "textvqa/train_images"
    split = "train+val"                   # optional: merge the files' splits of these names
    calib = 3000                          # calib and test: disjoint, seeded, stratified draws
    test = 1000
    # optional: task_type, metric, max_new_tokens, prompt, seed, stratify, skill

Everything is checked when the file is parsed (keys, types, that each named file exists),
before any benchmark file is read; reading and drawing happen when a dataset is first used
(file_dataset.py). `suite_hash` identifies the suite file and the data files it names.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import hashlib
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UnknownNameError, VlmpruneError
from .base import SUITE_SEED, TaskType
from .formats.base import Format, PathField, PathKind, Source
from .formats.catalog import format_names, get_format
from .formats.common import CAPTION, OPTION_LETTER, SHORT_ANSWER
from .metrics import Metric, parse_metric

SCHEMA_VERSION = 1
TOP_KEYS = ("schema_version", "seed", "datasets")
COMMON_KEYS = (
    "format",
    "split",
    "calib",
    "test",
    "task_type",
    "metric",
    "max_new_tokens",
    "prompt",
    "seed",
    "stratify",
    "skill",
)
_GLOB = frozenset("*?[")
# Prompts for a format whose defaults leave the prompt to the task type (hf, no preset).
_TASK_PROMPTS = {
    TaskType.MULTIPLE_CHOICE: OPTION_LETTER,
    TaskType.CAPTIONING: CAPTION,
}


@dataclass(frozen=True)
class DatasetSpec:
    """One `[datasets.<name>]` table, validated, with every default filled in."""

    name: str
    format: Format
    source: Source
    splits: tuple[str, ...] | None  # None: every record of the files
    calib: int
    test: int
    task_type: TaskType
    metric: Metric
    prompt: str
    max_new_tokens: int | None  # None: the evaluator's default (from the references)
    stratify: str | None
    seed: int
    skill: str


@dataclass(frozen=True)
class SuiteSpec:
    path: Path
    datasets: tuple[DatasetSpec, ...]

    def hash(self) -> str:
        return suite_hash(self)


def parse_suite(path: str | Path, problems: list[str] | None = None) -> SuiteSpec:
    """The validated suite; one VlmpruneError line naming file, table and key otherwise.

    With `problems`, a bad dataset table is reported there and left out instead (for
    `vlmprune suite validate`); a bad file or top level still raises.
    """
    path = Path(path)
    doc = _load_toml(path)
    _check_keys(doc, TOP_KEYS, f"{path.name}: top level")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        shown = "missing" if version is None else repr(version)
        raise VlmpruneError(f"{path.name}: schema_version is {shown}; expected {SCHEMA_VERSION}")
    seed = _int(doc.get("seed", SUITE_SEED), f"{path.name}: seed", minimum=None)
    tables = doc.get("datasets")
    if not isinstance(tables, dict) or not tables:
        raise VlmpruneError(f"{path.name}: no [datasets.<name>] tables")
    specs = []
    for name, table in tables.items():
        where = f"{path.name} [datasets.{name}]"
        try:
            if not isinstance(table, dict):
                raise VlmpruneError(f"{where}: expected a table, got {type(table).__name__}")
            specs.append(_dataset(name, table, path, seed, where))
        except VlmpruneError as exc:
            if problems is None:
                raise
            problems.append(str(exc))
    return SuiteSpec(path, tuple(specs))


def _load_toml(path: Path) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise VlmpruneError("reading a suite file needs Python 3.11 or newer (tomllib)") from None
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise VlmpruneError(f"{path}: no such suite file") from None
    except OSError as exc:
        raise VlmpruneError(f"{path}: cannot read: {exc}") from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise VlmpruneError(f"{path.name}: not valid TOML ({exc})") from None


def _dataset(name: str, table: dict, suite: Path, seed: int, where: str) -> DatasetSpec:
    if not name.replace("_", "").replace("-", "").isalnum():
        raise VlmpruneError(f"{where}: a dataset name has letters, digits, '_' and '-' only")
    fmt = _format(table.get("format"), where)
    _check_keys(table, COMMON_KEYS + tuple(p.name for p in fmt.paths) + fmt.options, where)
    explicit_type = _enum(table, "task_type", TaskType, where)
    source = Source(
        dataset=name,
        suite_file=suite,
        paths=_paths(fmt, table, suite.parent, where),
        options={k: table[k] for k in fmt.options if k in table},
        task_type=explicit_type,
    )
    try:
        defaults = fmt.defaults(source)
    except UnknownNameError as exc:
        raise VlmpruneError(f"{where}: {exc}") from None
    task_type = explicit_type or defaults.task_type
    if task_type is None:
        raise VlmpruneError(f"{where}: format {fmt.name!r} needs task_type (or a preset)")
    metric = _metric(table, where) or defaults.metric or _default_metric(task_type)
    prompt = _prompt(table, defaults.prompt or _TASK_PROMPTS.get(task_type, SHORT_ANSWER), where)
    _check_placeholders(prompt, defaults.fields, where)
    stratify = _stratify(fmt, table, defaults.stratify, where)
    calib = _int(table.get("calib"), f"{where} calib")
    test = _int(table.get("test"), f"{where} test")
    if calib + test == 0:
        raise VlmpruneError(f"{where}: calib and test are both 0")
    tokens = table.get("max_new_tokens", defaults.max_new_tokens)
    return DatasetSpec(
        name=name,
        format=fmt,
        source=dataclasses.replace(source, stratify=stratify),
        splits=_splits(fmt, table.get("split"), where),
        calib=calib,
        test=test,
        task_type=task_type,
        metric=metric,
        prompt=prompt,
        max_new_tokens=None if tokens is None else _int(tokens, f"{where} max_new_tokens", 1),
        stratify=stratify,
        seed=_int(table.get("seed", seed), f"{where} seed", minimum=None),
        skill=_str(table.get("skill", defaults.skill), f"{where} skill"),
    )


def _hint(value: str, names: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, names, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _check_keys(table: dict, allowed: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in allowed:
            hint = _hint(key, allowed)
            raise VlmpruneError(
                f"{where}: unknown key {key!r}.{hint} Allowed: {', '.join(allowed)}"
            )


def _format(name: Any, where: str) -> Format:
    if not isinstance(name, str):
        raise VlmpruneError(f"{where}: 'format' must name a format ({', '.join(format_names())})")
    try:
        return get_format(name)
    except UnknownNameError as exc:
        raise VlmpruneError(f"{where}: {exc}") from None


def _paths(fmt: Format, table: dict, folder: Path, where: str) -> dict[str, tuple[Path, ...]]:
    out = {}
    for field in fmt.paths:
        value = table.get(field.name)
        if value is None:
            if field.required:
                raise VlmpruneError(f"{where}: missing {field.name!r} ({field.help})")
            continue
        values = value if isinstance(value, list) and field.many else [value]
        if not values or not all(isinstance(v, str) and v for v in values):
            kind = "a path or a list of paths" if field.many else "a path string"
            raise VlmpruneError(f"{where} {field.name}: must be {kind}")
        out[field.name] = tuple(p for v in values for p in _resolve(field, v, folder, where))
    return out


def _resolve(field: PathField, value: str, folder: Path, where: str) -> list[Path]:
    path = Path(value).expanduser()
    path = path if path.is_absolute() else folder / path
    if field.many and _GLOB & set(value):
        matches = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
        if not matches:
            raise VlmpruneError(f"{where} {field.name}: no file matches {value!r}")
        return matches
    if field.kind is PathKind.FILE and not path.is_file():
        raise VlmpruneError(f"{where} {field.name}: file {value!r} not found (looked for {path})")
    # A folder may be a template ("coco/{data_subtype}"): its format checks it when filled.
    if field.kind is PathKind.DIR and "{" not in value and not path.is_dir():
        raise VlmpruneError(f"{where} {field.name}: folder {value!r} not found (looked for {path})")
    return [path]


def _enum(table: dict, key: str, enum: type[TaskType], where: str) -> TaskType | None:
    value = table.get(key)
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        names = [m.value for m in enum]
        hint = _hint(str(value), names)
        raise VlmpruneError(
            f"{where} {key}: unknown {key} {value!r}.{hint} Available: {', '.join(names)}"
        ) from None


def _metric(table: dict, where: str) -> Metric | None:
    if "metric" not in table:
        return None
    try:
        return parse_metric(_str(table["metric"], f"{where} metric"))
    except UnknownNameError as exc:
        raise VlmpruneError(f"{where} metric: {exc}") from None


def _default_metric(task_type: TaskType) -> Metric:
    from .jsonl import DEFAULT_METRICS

    return DEFAULT_METRICS[task_type]


def _prompt(table: dict, default: str, where: str) -> str:
    prompt = _str(table.get("prompt", default), f"{where} prompt")
    if not prompt.strip():
        raise VlmpruneError(f"{where} prompt: is empty")
    return prompt


def _check_placeholders(prompt: str, fields: tuple[str, ...], where: str) -> None:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(prompt) if name is not None]
    except ValueError as exc:
        raise VlmpruneError(f"{where} prompt: {exc} (write {{{{ and }}}} for braces)") from None
    for name in names:
        if name not in fields:
            offered = ", ".join("{" + f + "}" for f in fields) or "none"
            raise VlmpruneError(
                f"{where} prompt: unknown placeholder {{{name}}}; this format offers: {offered}"
            )


def _stratify(fmt: Format, table: dict, default: str | None, where: str) -> str | None:
    value = table.get("stratify", default)
    if value is None or value is False or value == "none":
        return None
    value = _str(value, f"{where} stratify")
    if fmt.strata is not None and value not in fmt.strata:
        offered = ", ".join([*fmt.strata, "none"])
        raise VlmpruneError(
            f"{where} stratify: format {fmt.name!r} has no stratum {value!r}; use one of: {offered}"
        )
    return value


def _splits(fmt: Format, value: Any, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(s.strip() for s in _str(value, f"{where} split").split("+"))
    if not all(names):
        raise VlmpruneError(f"{where} split: {value!r} has an empty name (write 'train+val')")
    if not fmt.has_splits:
        raise VlmpruneError(
            f"{where} split: format {fmt.name!r} files carry no split names; "
            "list the files to merge instead"
        )
    return names


def _int(value: Any, what: str, minimum: int | None = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        shown = "missing" if value is None else repr(value)
        raise VlmpruneError(f"{what}: must be an integer, got {shown}")
    if minimum is not None and value < minimum:
        raise VlmpruneError(f"{what}: must be at least {minimum}, got {value}")
    return value


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise VlmpruneError(f"{what}: must be a string, got {type(value).__name__}")
    return value


def suite_hash(spec: SuiteSpec) -> str:
    """sha256 of the suite file's bytes and the size + mtime of every data file it names.

    Size and modification time (as make and rsync judge staleness), not content hashes:
    annotation and parquet files run to gigabytes, and hashing them on every load would
    cost minutes. Image folders count by path only (a benchmark's images are named by its
    annotation files); folders that are the data (a datasets folder, AI2D's questions/)
    count every file inside.
    """
    digest = hashlib.sha256(spec.path.read_bytes())
    for ds in sorted(spec.datasets, key=lambda d: d.name):
        digest.update(f"\0{ds.name}\0{_files_identity(ds)}".encode())
    return digest.hexdigest()


def dataset_hash(spec: DatasetSpec) -> str:
    """sha256 of what decides one dataset's examples and scores: its data files (as in
    `suite_hash`), split, counts, seed, strata, prompt, metric and budget. Unlike the
    suite hash it ignores the other tables, so it can key cached evaluations."""
    fields = (
        spec.format.name,
        spec.splits,
        spec.calib,
        spec.test,
        spec.seed,
        spec.stratify,
        spec.prompt,
        spec.task_type.value,
        spec.metric.value,
        spec.max_new_tokens,
        sorted(spec.source.options.items()),
    )
    return hashlib.sha256(f"{fields!r}\0{_files_identity(spec)}".encode()).hexdigest()


def _files_identity(ds: DatasetSpec) -> str:
    return "\0".join(
        f"{field.name}={_identity(path, field)}"
        for field in ds.format.paths
        for path in ds.source.files(field.name)
    )


def _identity(path: Path, field: PathField) -> str:
    if path.is_file():
        stat = path.stat()
        return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    if field.identity and path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return "|".join(_identity(p, field) for p in files)
    return str(path.resolve())
