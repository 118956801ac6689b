"""Tables of the Hugging Face `datasets` library: a save_to_disk folder, or parquet files.

    path       = "textvqa_hf"                    # datasets.load_from_disk (Dataset or DatasetDict)
    data_files = ["textvqa/data/*.parquet"]      # datasets.load_dataset("parquet", data_files=...)
    preset     = "lmms-lab/textvqa"              # column names of the lmms-lab copy (hf_presets.py)
    columns    = {question = "query"}            # role -> column, over the preset's

Roles: image (an HF `Image` feature: a dict with bytes, decoded on demand), question,
answers (a list of strings, a list of {"answer": ...} as VQA v2, one string or number;
for multiple choice the correct option's index or letter), options, hint, id.
Split labels are a DatasetDict's split names, or the Hub's parquet file naming
"<split>-00000-of-00001.parquet" (datasets' own data-files convention). Rows are read
without decoding images, so listing, sampling and validation stay cheap.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from ...errors import VlmpruneError
from ..base import TaskType
from .base import (
    Defaults,
    Format,
    LazyImage,
    PathField,
    PathKind,
    Problems,
    Read,
    Record,
    Source,
    register_format,
)
from .common import (
    MC_FIELDS,
    answer_strings,
    expect,
    labels,
    option_fields,
    option_letter,
)
from .hf_presets import ROLES, get_preset

_HUB_SHARD = re.compile(r"(?P<split>\w+?)-\d{5}-of-\d{5}(-.*)?")
_LETTER = re.compile(r"\s*\(?([A-Z])[.)]?\s*")


@register_format
class HfTable(Format):
    name = "hf"
    paths = (
        PathField(
            "path", PathKind.DIR, required=False, identity=True, help="a save_to_disk folder"
        ),
        PathField("data_files", many=True, required=False, help="parquet files (globs allowed)"),
    )
    options = ("preset", "columns")
    strata = None  # any column
    has_splits = True
    skill = "a Hugging Face datasets table"

    def defaults(self, source: Source) -> Defaults:
        preset = _preset(source)
        task_type = preset.task_type if preset else source.task_type
        fields = MC_FIELDS if task_type is TaskType.MULTIPLE_CHOICE else ("question",)
        if preset is None:
            return Defaults(task_type, None, None, None, None, fields, self.skill)
        return Defaults(
            preset.task_type,
            preset.metric,
            preset.prompt,
            preset.max_new_tokens,
            preset.stratify,
            fields,
            preset.skill,
        )

    def read(self, source: Source, problems: Problems) -> Read:
        columns = _columns(source)
        task_type = source.task_type or self.defaults(source).task_type
        tables = _open(source)
        records = []
        for label, (where, table) in tables.items():
            _check_columns(table, columns, source.stratify, where)
            records.extend(_rows(table, columns, task_type, source.stratify, label, where))
        return Read(records)


def _preset(source: Source) -> Any:
    name = source.options.get("preset")
    if name is None:
        return None
    return get_preset(expect(name, str, f"[datasets.{source.dataset}] preset"))


def _columns(source: Source) -> dict[str, str]:
    preset = _preset(source)
    columns = dict(preset.columns) if preset else {}
    given = source.options.get("columns", {})
    expect(given, dict, f"[datasets.{source.dataset}] columns")
    for role, column in given.items():
        if role not in ROLES:
            raise VlmpruneError(
                f"[datasets.{source.dataset}] columns: unknown role {role!r}; "
                f"expected one of: {', '.join(ROLES)}"
            )
        columns[role] = expect(column, str, f"[datasets.{source.dataset}] columns.{role}")
    for role in ("image", "answers"):
        if role not in columns:
            raise VlmpruneError(
                f"[datasets.{source.dataset}] columns: no {role!r} column "
                "(give a preset or columns = {" + role + ' = "..."})'
            )
    return columns


def _open(source: Source) -> dict[str, tuple[str, Any]]:
    """split label -> (name for messages, datasets.Dataset)."""
    import datasets

    datasets.disable_progress_bars()  # one line per problem on the terminal, no bars
    folder, files = source.path("path"), source.files("data_files")
    if (folder is None) == (not files):
        raise VlmpruneError(
            f"[datasets.{source.dataset}] give exactly one of 'path' (a datasets folder) "
            "and 'data_files' (parquet files)"
        )
    if folder is not None:
        try:
            loaded = datasets.load_from_disk(str(folder))
        except (FileNotFoundError, ValueError, OSError) as exc:
            raise VlmpruneError(f"{folder}: not a datasets save_to_disk folder ({exc})") from None
        parts = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [("", loaded)]
        tables = {
            label: (f"{folder.name}[{label}]" if label else folder.name, t) for label, t in parts
        }
        return tables
    groups: dict[str, list[Path]] = {}
    for path in files:
        _check_parquet(path)
        match = _HUB_SHARD.fullmatch(path.stem)
        groups.setdefault(match["split"] if match else "", []).append(path)
    tables = {}
    for label, paths in groups.items():
        table = datasets.load_dataset("parquet", data_files=[str(p) for p in paths], split="train")
        tables[label] = (paths[0].name if len(paths) == 1 else f"{paths[0].parent.name}/*", table)
    return tables


def _check_parquet(path: Path) -> None:
    import pyarrow.parquet as pq

    try:
        pq.read_schema(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError... for a broken footer
        raise VlmpruneError(f"{path.name}: not a readable parquet file ({exc})") from None


def _check_columns(table: Any, columns: dict[str, str], stratify: str | None, where: str) -> None:
    wanted = [(f"columns.{role}", col) for role, col in columns.items()]
    if stratify:
        wanted.append(("stratify", stratify))
    for key, column in wanted:
        if column not in table.column_names:
            raise VlmpruneError(
                f"{where}: {key} names column {column!r}, which it does not have "
                f"(columns: {', '.join(table.column_names)})"
            )


def _rows(
    table: Any,
    columns: dict[str, str],
    task_type: TaskType,
    stratify: str | None,
    label: str,
    where: str,
) -> list[Record]:
    text_columns = sorted({c for r, c in columns.items() if r != "image"} | {stratify} - {None})
    values = table.select_columns(text_columns)[:] if text_columns else {}
    present = _present(table, columns["image"])
    records = []
    for i in range(table.num_rows):
        row = {c: values[c][i] for c in text_columns}
        key = str(row[columns["id"]]) if "id" in columns else f"{label or 'rows'}:{i}"
        here = f"{where} row {i}" + (f" ({columns['id']} {key})" if "id" in columns else "")
        fields, answers = _fields(row, columns, task_type, here)
        records.append(
            Record(
                key=key,
                where=here,
                fields=fields,
                answers=answers,
                image=LazyImage(f"{where}#{i}", present[i], _loader(table, columns["image"], i)),
                splits=labels(label),
                strata={stratify: str(row[stratify])} if stratify else {},
            )
        )
    return records


def _fields(
    row: dict, columns: dict[str, str], task_type: TaskType, where: str
) -> tuple[dict[str, str], tuple[str, ...]]:
    question = str(row[columns["question"]]) if "question" in columns else ""
    answer = row[columns["answers"]]
    if task_type is not TaskType.MULTIPLE_CHOICE:
        if isinstance(answer, list) and answer and all(isinstance(a, dict) for a in answer):
            answer = [a.get("answer") for a in answer]  # VQA v2: [{"answer", "answer_id", ...}]
        return {"question": question}, answer_strings(answer, where)
    if "options" not in columns:
        raise VlmpruneError(f"{where}: multiple choice needs columns.options")
    options = [str(o) for o in expect(row[columns["options"]], list, f"{where}: the options")]
    hint = str(row[columns["hint"]] or "") if "hint" in columns else ""
    fields = option_fields(question, options, hint, where)
    letter = _LETTER.fullmatch(answer) if isinstance(answer, str) else None
    if letter:  # the answer is already a letter ("B", "(B)")
        return fields, (letter.group(1),)
    return fields, (option_letter(answer, len(options), where),)


def _present(table: Any, column: str) -> list[bool]:
    """Per row: does the image column hold an image (bytes or a path), read from Arrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    data = table.data.column(column)
    ok = pc.invert(pc.is_null(data))
    if pa.types.is_struct(data.type):  # an HF Image: {"bytes", "path"}, either may be set
        names = [f.name for f in data.type if f.name in ("bytes", "path")]
        parts = [pc.invert(pc.is_null(pc.struct_field(data, [name]))) for name in names]
        if parts:
            held = parts[0] if len(parts) == 1 else pc.or_(*parts)
            ok = pc.and_(ok, held)
    return [bool(v) for v in ok.to_pylist()]


def _loader(table: Any, column: str, row: int) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        value = table[row][column]
        if isinstance(value, Image.Image):
            return value
        if isinstance(value, dict) and value.get("bytes"):  # an undecoded HF Image struct
            return Image.open(io.BytesIO(value["bytes"]))
        raise VlmpruneError(f"row {row}: column {column!r} holds no image")

    return load
