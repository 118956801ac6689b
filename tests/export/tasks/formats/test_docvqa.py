"""DocVQA files: questionId records, image paths under the split folder, ANLS."""

import pytest

from vlmprune.export.tasks.base import TaskType
from vlmprune.export.tasks.metrics import Metric

from .fixtures import one_dataset, record, score, write_docvqa


def test_reads_records(tmp_path):
    ds = one_dataset(tmp_path, write_docvqa(tmp_path), split="val")
    assert ds.task_type is TaskType.DOC_QA and ds.metric is Metric.ANLS
    rec = record(ds, "9000")
    assert rec.answers == ("$1,234", "1234") and rec.splits == {"val"}
    assert rec.image.path.as_posix().endswith("docvqa/val/documents/doc0.png")
    assert rec.where == "val_v1.0.json questionId 9000"


def test_anls_by_hand(tmp_path):
    ds = one_dataset(tmp_path, write_docvqa(tmp_path))
    assert score(ds, "9000", "1234") == 1.0  # equals the second reference
    # "1,234" vs "$1,234": 1 edit / 6 -> 5/6; vs "1234": 1 edit / 5 -> 4/5; max 5/6.
    assert score(ds, "9000", "1,234") == pytest.approx(5 / 6)
    # "12" vs "1234": 2/4 = 0.5, not below the 0.5 threshold -> 0.
    assert score(ds, "9000", "12") == 0.0


def test_train_and_val_without_images_resolve_beside_each_file(tmp_path):
    train = write_docvqa(tmp_path, split="train")
    val = write_docvqa(tmp_path, split="val")
    # Both fixtures number their questions alike: renumber val's by rewriting the file.
    path = tmp_path / val["annotations"]
    path.write_text(path.read_text().replace('"questionId": 90', '"questionId": 80'))
    table = {"format": "docvqa", "annotations": [train["annotations"], val["annotations"]]}
    ds = one_dataset(tmp_path, table, calib=4, test=4, split="train+val")
    assert record(ds, "9000").image.path.as_posix().endswith("docvqa/train/documents/doc0.png")
    assert record(ds, "8000").image.path.as_posix().endswith("docvqa/val/documents/doc0.png")
    assert {tuple(r.splits) for r in ds.pool().records} == {("train",), ("val",)}
