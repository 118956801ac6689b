"""ST-VQA: the Scene Text VQA challenge's task files (train_task_<n>.json).

Read from the files' layout as ST-VQA readers use it (rrc.cvc.uab.es/?ch=11; e.g.
lmms-eval's stvqa task and the readers that open `data[i]["file_path"]`):

    {"data": [{"question_id", "question", "answers": [strings], "file_path", "dataset", ...}]}
    image: <images>/<file_path>         (file_path is "<source dataset>/<file name>")

The files carry no split label; the official test file has no answers and cannot be
scored, so calib and test are both drawn from train_task_*.json. Metric: ANLS, the
challenge's metric.
"""

from __future__ import annotations

from ..base import TaskType
from ..metrics import Metric
from .base import PathField, PathKind, register_format
from .common import SHORT_ANSWER, key_of
from .data_list import DataListFormat


@register_format
class StVqa(DataListFormat):
    name = "stvqa"
    paths = (
        PathField("annotations", many=True, help="train_task_<n>.json"),
        PathField("images", PathKind.DIR, help="folder holding each record's file_path"),
    )
    id_key = "question_id"
    task_type = TaskType.SCENE_TEXT_QA
    metric = Metric.ANLS
    prompt = SHORT_ANSWER
    max_new_tokens = 32  # lmms-eval's stvqa generation_kwargs
    skill = "read scene text in photos (COCO-Text, VizWiz, IIIT...) to answer a question"

    def image_name(self, row: dict, where: str) -> str:
        return key_of(row, "file_path", str, where)
