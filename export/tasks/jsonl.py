"""User datasets from a JSONL file: one example per line, one task type per file.

Each line is an object with `image` (a path, relative to the JSONL file's folder or
absolute), `prompt`, `answers` (a list of strings, or one string), `task_type` (a
TaskType value) and an optional `metric` (default: the task type's standard metric).
The whole file is validated up front; images are opened only when an example is used.

    {"image": "imgs/0.png", "prompt": "What color is the car?", "answers": ["red"], "task_type": "vqa"}
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from ..errors import VlmpruneError
from .base import Example, Split, TaskType
from .metrics import Metric

DEFAULT_METRICS = {
    TaskType.VQA: Metric.VQA_ACCURACY,
    TaskType.CAPTIONING: Metric.CIDER_D,
    TaskType.DOC_QA: Metric.ANLS,
    TaskType.MULTIPLE_CHOICE: Metric.OPTION_ACCURACY,
    TaskType.EXACT_MATCH: Metric.EXACT_MATCH,
    TaskType.SCENE_TEXT_QA: Metric.VQA_ACCURACY,
}


@dataclass(frozen=True)
class JsonlRecord:
    line: int  # 1-based line number in the file, for error messages
    image: Path  # resolved path
    prompt: str
    answers: tuple[str, ...]


class JsonlDataset:
    """A user dataset with the suite's interface (`name`, `task_type`, `metric`, `examples`).

    The file is used whole for every split: a user file is one evaluation set, so `split`
    is only validated.
    """

    def __init__(self, path: str | Path, name: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise VlmpruneError(f"{self.path}: no such JSONL file")
        self.name = name or self.path.stem
        self.records, self.task_type, self.metric = _parse(self.path)
        self.skill = f"user dataset {self.path.name}"

    def __len__(self) -> int:
        return len(self.records)

    def split_size(self, split: Split) -> int:
        _parse_split(split)
        return len(self.records)

    def examples(
        self, split: Split | str = Split.TEST, limit: int | None = None
    ) -> Iterator[Example]:
        _parse_split(split)
        records = self.records if limit is None else self.records[:limit]
        for record in records:
            yield Example(
                image=self._load(record),
                prompt=record.prompt,
                answers=record.answers,
                task_type=self.task_type,
                key=f"{self.name}|{record.line}|{record.image.name}|{record.prompt}",
            )

    def _load(self, record: JsonlRecord) -> Image.Image:
        try:
            with Image.open(record.image) as image:
                return image.convert("RGB")
        except FileNotFoundError:
            raise VlmpruneError(
                f"{self._where(record.line)}: image file {str(record.image)!r} not found"
            ) from None
        except (UnidentifiedImageError, OSError) as exc:
            raise VlmpruneError(
                f"{self._where(record.line)}: cannot read image {str(record.image)!r}: {exc}"
            ) from None

    def _where(self, line: int) -> str:
        return f"{self.path.name}:{line}"


def _parse_split(split: Split | str) -> Split:
    try:
        return Split(split)
    except ValueError:
        valid = ", ".join(s.value for s in Split)
        raise VlmpruneError(f"unknown split {split!r}; expected one of: {valid}") from None


def _parse(path: Path) -> tuple[list[JsonlRecord], TaskType, Metric]:
    records: list[JsonlRecord] = []
    first: tuple[int, TaskType, Metric] | None = None  # (line, task type, metric) of line 1
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            where = f"{path.name}:{number}"
            obj = _json_object(text, where)
            task_type = _enum_field(obj, "task_type", TaskType, where)
            metric = (
                _enum_field(obj, "metric", Metric, where)
                if "metric" in obj
                else DEFAULT_METRICS[task_type]
            )
            if first is None:
                first = (number, task_type, metric)
            elif (task_type, metric) != first[1:]:
                raise VlmpruneError(
                    f"{where}: task_type/metric {task_type.value}/{metric.value} differs from "
                    f"{first[1].value}/{first[2].value} on line {first[0]}; one file holds one task type"
                )
            records.append(_record(obj, number, path.parent, where))
    if first is None:
        raise VlmpruneError(f"{path.name}: no examples (the file is empty)")
    return records, first[1], first[2]


def _json_object(text: str, where: str) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VlmpruneError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise VlmpruneError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _enum_field(
    obj: dict[str, Any], field: str, enum: type[TaskType] | type[Metric], where: str
) -> Any:
    value = obj.get(field)
    try:
        return enum(value)
    except ValueError:
        valid = ", ".join(member.value for member in enum)
        shown = "missing" if value is None else repr(value)
        raise VlmpruneError(
            f"{where}: field {field!r} is {shown}; expected one of: {valid}"
        ) from None


def _record(obj: dict[str, Any], number: int, folder: Path, where: str) -> JsonlRecord:
    image = obj.get("image")
    if not isinstance(image, str) or not image.strip():
        raise VlmpruneError(f"{where}: field 'image' must be a non-empty path string")
    image_path = Path(image) if Path(image).is_absolute() else folder / image
    if not image_path.is_file():
        raise VlmpruneError(f"{where}: image file {image!r} not found (looked for {image_path})")
    prompt = obj.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise VlmpruneError(f"{where}: field 'prompt' must be a non-empty string")
    answers = obj.get("answers")
    if isinstance(answers, str):
        answers = [answers]
    if (
        not isinstance(answers, list)
        or not answers
        or not all(isinstance(a, str) and a.strip() for a in answers)
    ):
        raise VlmpruneError(f"{where}: field 'answers' must be a non-empty list of strings")
    return JsonlRecord(line=number, image=image_path, prompt=prompt, answers=tuple(answers))
