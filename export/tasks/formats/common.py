"""Helpers every reader shares: JSON files with one-line errors, typed fields, prompts."""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...errors import VlmpruneError

# Default prompts. The VQA and multiple-choice wording is lmms-eval's (its vqav2, textvqa,
# docvqa, stvqa, ai2d and scienceqa_img task yamls: `post_prompt`); the captioning one is
# its coco2014_cap_val `doc_to_text`. The option lines use the "A. text" style that
# metrics.parse_option_letter reads back (and export/tasks/mcq.py writes).
SHORT_ANSWER = "{question}\nAnswer the question using a single word or phrase."
OPTION_LETTER = "{context}{question}\n{options}\nAnswer with the option's letter from the given choices directly."
CAPTION = "Provide a one-sentence caption for the provided image."
MC_FIELDS = ("question", "options", "context", "hint")
LETTERS = string.ascii_uppercase


def load_json(path: Path) -> Any:
    """The parsed file, or one line naming the file and the position of the syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VlmpruneError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VlmpruneError(f"{path}: cannot read: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise VlmpruneError(
            f"{path.name}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None


def expect(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    """`value` if it has the type the format documents, else one line naming the field."""
    if not isinstance(value, kind) or isinstance(value, bool) and bool not in _as_tuple(kind):
        names = "/".join(k.__name__ for k in _as_tuple(kind))
        shown = "missing" if value is None else f"a {type(value).__name__}"
        raise VlmpruneError(f"{what} must be a {names}, got {shown}")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def key_of(obj: dict, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """obj[key] checked against `kind`; `where` names the file and record for the message."""
    if not isinstance(obj, dict):
        raise VlmpruneError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return expect(obj.get(key), kind, f"{where}: field {key!r}")


def top_list(data: Any, key: str | None, path: Path) -> list:
    """The file's record list: `data[key]` for wrapped files, `data` itself when key is None."""
    if key is None:
        return expect(data, list, f"{path.name}: the top level")
    if not isinstance(data, dict):
        raise VlmpruneError(
            f"{path.name}: expected a JSON object with {key!r}, got {type(data).__name__}"
        )
    return expect(data.get(key), list, f"{path.name}: field {key!r}")


def answer_strings(value: Any, where: str) -> tuple[str, ...]:
    """References from a list of strings (or numbers), one string, or one number."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(a, str | int | float) and not isinstance(a, bool) for a in value)
    ):
        raise VlmpruneError(f"{where}: the answers must be a non-empty list of strings")
    return tuple(str(a) for a in value)


def lettered(options: Sequence[str]) -> str:
    """'A. red\\nB. blue': the option block of the multiple-choice prompts."""
    return "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(options))


def option_fields(question: str, options: Sequence[str], hint: str, where: str) -> dict[str, str]:
    """Prompt fields of a multiple-choice record ({context} is "Context: hint\\n" or empty)."""
    if not 2 <= len(options) <= len(LETTERS):
        raise VlmpruneError(f"{where}: expected 2 to 26 options, got {len(options)}")
    context = f"Context: {hint}\n" if hint else ""
    return {"question": question, "options": lettered(options), "context": context, "hint": hint}


def option_letter(index: Any, count: int, where: str) -> str:
    """The letter of the correct option from its 0-based index (an int or a digit string)."""
    if isinstance(index, str) and index.strip().isdigit():
        index = int(index)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
        raise VlmpruneError(
            f"{where}: the answer index {index!r} is not one of the {count} options"
        )
    return LETTERS[index]


def labels(*names: str) -> frozenset[str]:
    """A record's split labels, leaving out empty names (files that give no split)."""
    return frozenset(n for n in names if n)
