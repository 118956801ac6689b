"""VQA v2 and OK-VQA: a questions file plus an annotations file per split (official layout).

Read from the VQA API (github.com/GT-Vision-Lab/VQA: PythonHelperTools/vqaTools/vqa.py
and vqaDemo.py; OK-VQA ships the same two files):

    questions:   {"data_subtype": "val2014", "questions": [{"question_id", "image_id", "question"}]}
    annotations: {"annotations": [{"question_id", "image_id", "question_type", "answer_type",
                                   "answers": [{"answer", "answer_confidence", "answer_id"}]}]}
    image:       <images>/COCO_<data_subtype>_<image_id as 12 digits>.jpg

`images` may hold "{data_subtype}" (e.g. "coco/{data_subtype}") so that train2014 and
val2014 files can be merged. The 10 human answers are the references (VQA accuracy:
min(#matching humans / 3, 1) over the 10 leave-one-out subsets, as vqaEval.py).
Split labels are the questions files' `data_subtype` ("train2014", "val2014").
"""

from __future__ import annotations

from pathlib import Path

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
from .common import SHORT_ANSWER, answer_strings, key_of, labels, load_json, top_list


def _paths(prefix: str) -> tuple[PathField, ...]:
    """The suite keys; VQA v2's file names start with "v2_", OK-VQA's do not."""
    return (
        PathField(
            "questions", many=True, help=f"{prefix}OpenEnded_mscoco_<subtype>_questions.json"
        ),
        PathField("annotations", many=True, help=f"{prefix}mscoco_<subtype>_annotations.json"),
        PathField("images", PathKind.DIR, help="folder of COCO_<subtype>_<id>.jpg"),
    )


@register_format
class Vqav2(Format):
    name = "vqav2"
    paths = _paths("v2_")
    strata = ("answer_type", "question_type")
    has_splits = True
    task_type = TaskType.VQA
    metric = Metric.VQA_ACCURACY
    prompt = SHORT_ANSWER
    max_new_tokens = 16  # lmms-eval's vqav2 generation_kwargs
    stratify = "answer_type"  # yes/no, number, other: three well-filled strata
    skill = "open-ended questions about everyday photos (COCO), 10 human answers each"

    def read(self, source: Source, problems: Problems) -> Read:
        annotations = {}
        for path in source.files("annotations"):
            for i, ann in enumerate(top_list(load_json(path), "annotations", path)):
                qid = key_of(ann, "question_id", int, f"{path.name} annotation {i}")
                annotations[qid] = (path, ann)
        records = []
        for path in source.files("questions"):
            data = load_json(path)
            subtype = key_of(data, "data_subtype", str, path.name)
            folder = Path(str(source.path("images")).replace("{data_subtype}", subtype))
            for i, question in enumerate(top_list(data, "questions", path)):
                qid = key_of(question, "question_id", int, f"{path.name} question {i}")
                where = f"{path.name} question_id {qid}"
                if qid not in annotations:
                    names = ", ".join(p.name for p in source.files("annotations"))
                    problems.add(f"{where}: no annotation for this question in {names}")
                    continue
                records.append(_record(question, annotations[qid], subtype, folder, where))
        return Read(records)


def _record(
    question: dict, annotation: tuple[Path, dict], subtype: str, folder: Path, where: str
) -> Record:
    ann_path, ann = annotation
    ann_where = f"{ann_path.name} question_id {question['question_id']}"
    text = key_of(question, "question", str, where)
    image_id = key_of(question, "image_id", int, where)
    answers = key_of(ann, "answers", list, ann_where)
    refs = answer_strings(
        [key_of(a, "answer", str, f"{ann_where} answers") for a in answers], ann_where
    )
    return Record(
        key=str(question["question_id"]),
        where=where,
        fields={"question": text},
        answers=refs,
        image=FileImage(folder / f"COCO_{subtype}_{image_id:012d}.jpg"),
        splits=labels(subtype),
        strata={
            "answer_type": str(ann.get("answer_type", "")),
            "question_type": str(ann.get("question_type", "")),
        },
    )


@register_format
class OkVqa(Vqav2):
    """OK-VQA: the VQA v2 files' layout (OpenEnded_mscoco_val2014_questions.json, ...)."""

    name = "okvqa"
    paths = _paths("")
    # OK-VQA's answer_type is "other" throughout; its question_type is a knowledge category.
    stratify = "question_type"
    skill = "questions that need outside knowledge about COCO photos, 10 human answers each"
