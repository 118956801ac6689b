"""AI2D: one question file per diagram (ai2d/questions/<image>.json) and the diagrams.

Read from the AI2D release's layout (allenai.org/data/diagrams) as lmms-eval's
upload_ai2d.py reads it (data["imageName"], data["questions"][text]["answerTexts"],
["correctAnswer"]), with the per-question keys of the release:

    {"imageName": "0.png",
     "questions": {"What is A in the diagram?": {"abcLabel": true, "answerTexts": [4 strings],
                                                 "correctAnswer": 3, "questionId": "0.png-0"}}}
    image: <images>/<imageName>

`questions` is the folder of those files (or `question_files`, a list of them). The
release has no split labels. The prompt is lmms-eval's ai2d "mcq" one; the reference is
the correct letter (option accuracy).
"""

from __future__ import annotations

from pathlib import Path

from ...errors import VlmpruneError
from ..base import TaskType
from ..metrics import Metric
from .base import (
    FileImage,
    Format,
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
    OPTION_LETTER,
    key_of,
    load_json,
    option_fields,
    option_letter,
)


@register_format
class Ai2d(Format):
    name = "ai2d"
    paths = (
        PathField("questions", PathKind.DIR, identity=True, help="questions/: <image>.json files"),
        PathField("images", PathKind.DIR, help="the images/ folder"),
    )
    task_type = TaskType.MULTIPLE_CHOICE
    metric = Metric.OPTION_ACCURACY
    prompt = OPTION_LETTER
    max_new_tokens = 16  # lmms-eval's ai2d generation_kwargs
    fields = MC_FIELDS
    skill = "grade-school science diagrams: multiple choice about labelled parts"

    def read(self, source: Source, problems: Problems) -> Read:
        folder = source.path("questions")
        files = sorted(folder.glob("*.json"))
        if not files:
            raise VlmpruneError(
                f"{folder}: no question files (*.json) in the AI2D questions folder"
            )
        records = []
        for path in files:
            records.extend(_diagram(path, source.path("images")))
        return Read(records)


def _diagram(path: Path, images: Path) -> list[Record]:
    data = load_json(path)
    image = key_of(data, "imageName", str, path.name)
    out = []
    for text, question in key_of(data, "questions", dict, path.name).items():
        where = f"{path.name} question {text!r}"
        qid = key_of(question, "questionId", str, where)
        where = f"{path.name} questionId {qid}"
        options = [str(o) for o in key_of(question, "answerTexts", list, where)]
        out.append(
            Record(
                key=qid,
                where=where,
                fields=option_fields(text, options, "", where),
                answers=(option_letter(question.get("correctAnswer"), len(options), where),),
                image=FileImage(images / image),
            )
        )
    return out
