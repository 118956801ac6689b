"""The task detector's held-out phrasings: written by hand, never fitted or calibrated on.

`benchmarks/detector_heldout.jsonl` holds one phrasing a line, {"prompt", "task_type",
"style", "source"}: 403 in all, at least 53 per task type. `written_v2` (331) were written
before the current detector's features and paraphrase generator, in varied styles;
`written_v1` (72) are the earlier hand-written set. Neither the fitter nor the threshold
choice reads this file; `benchmarks/detector_eval.py` scores a detector on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..errors import VlmpruneError
from ..tasks.base import TaskType

HELDOUT_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "detector_heldout.jsonl"


class Style(str, Enum):
    QUESTION = "question"
    COMMAND = "command"
    SHORT = "short"  # three words or fewer
    LONG = "long"
    NO_KEYWORDS = "no_keywords"  # without the words the task type is usually asked with
    CASUAL = "casual"
    FORMAL = "formal"
    TYPO = "typo"
    MIXED_LANGUAGE = "mixed_language"  # words of another language mixed in
    WORD_ORDER = "word_order"  # another language's word order, English words


@dataclass(frozen=True)
class HeldoutPrompt:
    prompt: str
    task_type: TaskType
    style: Style
    source: str

    def row(self) -> tuple[str, str, str]:
        return self.prompt, self.task_type.value, self.style.value


def load_heldout(path: Path = HELDOUT_PATH) -> tuple[HeldoutPrompt, ...]:
    """Every phrasing of `path`; VlmpruneError naming the line for a malformed one."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise VlmpruneError(f"held-out phrasings unreadable: {path} ({exc})") from None
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out.append(
                HeldoutPrompt(
                    str(d["prompt"]), TaskType(d["task_type"]), Style(d["style"]), str(d["source"])
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise VlmpruneError(f"{path}:{number}: not a held-out phrasing ({exc})") from None
    return tuple(out)
