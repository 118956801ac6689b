"""ST-VQA task files: file_path images, no split labels, ANLS."""

import pytest

from vlmprune.export.errors import VlmpruneError
from vlmprune.export.tasks.metrics import Metric

from .fixtures import one_dataset, record, score, write_stvqa


def test_reads_records_and_images(tmp_path):
    ds = one_dataset(tmp_path, write_stvqa(tmp_path), calib=2, test=2)
    assert ds.metric is Metric.ANLS and ds.max_new_tokens == 32
    rec = record(ds, "7001")
    assert rec.answers == ("brand1", "Brand 1") and rec.splits == frozenset()
    assert rec.image.path.as_posix().endswith(
        "stvqa/train/coco-text/COCO_train2014_000000000001.jpg"
    )
    assert all(e.image.size == (16, 12) for e in ds.examples("calib"))


def test_anls_by_hand(tmp_path):
    ds = one_dataset(tmp_path, write_stvqa(tmp_path))
    # "cofee" vs "coffee": one edit over 6 characters -> 1 - 1/6.
    assert score(ds, "7000", "cofee") == pytest.approx(5 / 6)
    # "tea" vs "coffee": 5 edits / 6 >= 0.5 -> 0.
    assert score(ds, "7000", "tea") == 0.0
    # Case is ignored; the best of the references counts.
    assert score(ds, "7001", "BRAND 1") == 1.0


def test_the_files_have_no_splits(tmp_path):
    with pytest.raises(VlmpruneError, match=r"split: format 'stvqa' files carry no split names"):
        one_dataset(tmp_path, write_stvqa(tmp_path), split="train")
