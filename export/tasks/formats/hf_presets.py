"""Column names and defaults of the lmms-lab copies of the benchmarks (parquet on the Hub).

Read from lmms-eval (github.com/EvolvingLMMs-Lab/lmms-eval, lmms_eval/tasks/<task>/):
the `doc[...]` keys of each task's utils.py, the prompts and generation_kwargs of its
yaml, and the features of its upload_*.py. The user downloads the files; a preset only
says which column is what:

    vqav2/utils.py       question, answers [{"answer"}], question_id, image; answer_type
    ok_vqa/utils.py      question, answers [strings], question_id, image
    textvqa/utils.py     question, answers [strings], question_id, image
    docvqa/utils.py      question, answers [strings], questionId, image
    chartqa/utils.py     question, answer (string), type (human_test/augmented_test), image
    ai2d/utils.py        question, options [strings], answer (index as a string), image
    scienceqa/utils.py   question, choices [strings], answer (int index), hint, image
    coco_cap/utils.py    answer [captions], question_id (the file name), image
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...registry import Registry
from ..base import TaskType
from ..metrics import Metric
from .common import CAPTION, OPTION_LETTER, SHORT_ANSWER

ROLES = ("image", "question", "answers", "options", "hint", "id")


@dataclass(frozen=True)
class Preset:
    name: str
    task_type: TaskType
    metric: Metric
    prompt: str
    columns: dict[str, str] = field(default_factory=dict)  # role -> column
    max_new_tokens: int | None = None
    stratify: str | None = None  # a column
    skill: str = ""


PRESETS: Registry[Preset] = Registry("hf preset")


def _add(preset: Preset) -> None:
    # Lower-case keys: the Hub's names are case-insensitive ("lmms-lab/textvqa").
    PRESETS.register(preset.name.lower())(preset)


def get_preset(name: str) -> Preset:
    return PRESETS.get(name.lower())


_QA = {"image": "image", "question": "question", "answers": "answers", "id": "question_id"}

_add(
    Preset(
        "lmms-lab/VQAv2",
        TaskType.VQA,
        Metric.VQA_ACCURACY,
        SHORT_ANSWER,
        dict(_QA),
        max_new_tokens=16,
        stratify="answer_type",
        skill="open-ended questions about everyday photos (COCO), 10 human answers each",
    )
)
_add(
    Preset(
        "lmms-lab/OK-VQA",
        TaskType.VQA,
        Metric.VQA_ACCURACY,
        SHORT_ANSWER,
        dict(_QA),
        skill="questions that need outside knowledge about COCO photos",
    )
)
_add(
    Preset(
        "lmms-lab/textvqa",
        TaskType.SCENE_TEXT_QA,
        Metric.VQA_ACCURACY,
        SHORT_ANSWER,
        dict(_QA),
        skill="read scene text in photos to answer a question, 10 human answers each",
    )
)
_add(
    Preset(
        "lmms-lab/DocVQA",
        TaskType.DOC_QA,
        Metric.ANLS,
        SHORT_ANSWER,
        {**_QA, "id": "questionId"},
        max_new_tokens=32,
        skill="answer questions about scanned documents (forms, letters, tables)",
    )
)
_add(
    Preset(
        "lmms-lab/ChartQA",
        TaskType.DOC_QA,
        Metric.RELAXED_ACCURACY,
        "{question}\nAnswer the question with a single word.",
        {"image": "image", "question": "question", "answers": "answer"},
        max_new_tokens=16,
        stratify="type",
        skill="read values off real charts and compute with them (5% numeric tolerance)",
    )
)
_add(
    Preset(
        "lmms-lab/ai2d",
        TaskType.MULTIPLE_CHOICE,
        Metric.OPTION_ACCURACY,
        OPTION_LETTER,
        {"image": "image", "question": "question", "options": "options", "answers": "answer"},
        max_new_tokens=16,
        skill="grade-school science diagrams: multiple choice about labelled parts",
    )
)
_add(
    Preset(
        "lmms-lab/ScienceQA-IMG",
        TaskType.MULTIPLE_CHOICE,
        Metric.OPTION_ACCURACY,
        OPTION_LETTER,
        {
            "image": "image",
            "question": "question",
            "options": "choices",
            "answers": "answer",
            "hint": "hint",
        },
        max_new_tokens=16,
        skill="grade-school science multiple choice over diagrams and photos",
    )
)
_add(
    Preset(
        "lmms-lab/COCO-Caption",
        TaskType.CAPTIONING,
        Metric.CIDER_D,
        CAPTION,
        {"image": "image", "answers": "answer", "id": "question_id"},
        max_new_tokens=64,
        skill="describe everyday photos (COCO) in one sentence, 5 human captions each",
    )
)
