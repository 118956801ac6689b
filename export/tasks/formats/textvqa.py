"""TextVQA: one JSON file per split (TextVQA_0.5.1_<split>.json, official layout).

Read from the files' published layout (textvqa.org/dataset; the readers in
github.com/facebookresearch/mmf and lmms-eval's textvqa task agree):

    {"dataset_type": "val", "dataset_name": "textvqa", "dataset_version": "0.5.1",
     "data": [{"question_id", "question", "image_id", "answers": [10 strings], "set_name"}]}
    image: <images>/<image_id>.jpg      (train_images/ holds both train and val images)

Split labels are each record's `set_name` ("train", "val"); the test file has no answers
and cannot be scored. Metric: VQA accuracy over the 10 answers, as TextVQA's evaluation.
"""

from __future__ import annotations

from ..base import TaskType
from ..metrics import Metric
from .base import PathField, PathKind, register_format
from .common import SHORT_ANSWER, key_of
from .data_list import DataListFormat


@register_format
class TextVqa(DataListFormat):
    name = "textvqa"
    paths = (
        PathField("annotations", many=True, help="TextVQA_0.5.1_<split>.json"),
        PathField("images", PathKind.DIR, help="folder of <image_id>.jpg (train_images/)"),
    )
    has_splits = True
    id_key = "question_id"
    record_split_key = "set_name"
    file_split_key = "dataset_type"
    task_type = TaskType.SCENE_TEXT_QA
    metric = Metric.VQA_ACCURACY
    prompt = SHORT_ANSWER
    skill = "read scene text in photos to answer a question, 10 human answers each"

    def image_name(self, row: dict, where: str) -> str:
        return f"{key_of(row, 'image_id', str, where)}.jpg"
