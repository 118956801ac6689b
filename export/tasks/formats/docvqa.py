"""DocVQA: the Document VQA task-1 files (<split>_v1.0.json or <split>_v1.0_withQT.json).

Read from the files' layout (rrc.cvc.uab.es/?ch=17; lmms-eval's docvqa task reads the
same keys from its parquet copy: questionId, question, answers, data_split):

    {"dataset_name": "docvqa", "dataset_split": "val", "dataset_version": "1.0",
     "data": [{"questionId", "question", "image": "documents/<name>.png", "answers": [...],
               "docId", "data_split", "question_types" (withQT files)}]}
    image: <images>/<image>     (without `images`: next to the file, as in the release:
                                 train/train_v1.0.json, train/documents/)

Split labels are each record's `data_split`, else the file's `dataset_split`. The test
file has no answers. Metric: ANLS (threshold 0.5), the challenge's metric.
"""

from __future__ import annotations

from ..base import TaskType
from ..metrics import Metric
from .base import PathField, PathKind, register_format
from .common import SHORT_ANSWER, key_of
from .data_list import DataListFormat


@register_format
class DocVqa(DataListFormat):
    name = "docvqa"
    paths = (
        PathField("annotations", many=True, help="<split>_v1.0.json"),
        PathField(
            "images", PathKind.DIR, required=False, help="default: each annotation file's folder"
        ),
    )
    has_splits = True
    id_key = "questionId"
    record_split_key = "data_split"
    file_split_key = "dataset_split"
    task_type = TaskType.DOC_QA
    metric = Metric.ANLS
    prompt = SHORT_ANSWER
    max_new_tokens = 32  # lmms-eval's docvqa generation_kwargs
    skill = "answer questions about scanned documents (forms, letters, tables)"

    def image_name(self, row: dict, where: str) -> str:
        return key_of(row, "image", str, where)
