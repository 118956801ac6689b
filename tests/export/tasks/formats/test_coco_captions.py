"""COCO captions files (official and Karpathy's): one example per image, CIDEr-D."""

import pytest

from vlmprune.export.tasks.base import TaskType
from vlmprune.export.tasks.metrics import Metric, score_examples

from .fixtures import one_dataset, record, write_coco_captions, write_karpathy


def test_official_captions_group_by_image(tmp_path):
    ds = one_dataset(tmp_path, write_coco_captions(tmp_path), calib=2, test=2)
    assert ds.task_type is TaskType.CAPTIONING and ds.metric is Metric.CIDER_D
    rec = record(ds, "0")
    assert rec.answers == ("a dog", "a dog") and rec.fields == {}
    assert rec.image.path.name == "COCO_val2014_000000000000.jpg"
    assert ds.prompt(rec) == "Provide a one-sentence caption for the provided image."


def test_cider_d_by_hand(tmp_path):
    ds = one_dataset(tmp_path, write_coco_captions(tmp_path))
    refs = [record(ds, "0").answers, record(ds, "1").answers]  # ("a dog", "a dog"), ("a cat",)
    # Over these two images "a" is in both (idf log(2/2) = 0); "dog", "a dog", "cat",
    # "a cat" in one (idf log 2). "a dog" for image 0: cosine 1 for unigrams and bigrams,
    # 0 for the empty 3- and 4-grams, no length penalty: 10 * (1 + 1) / 4 = 5 per reference.
    # "a bird" for image 1 shares only "a", whose weight is 0: 0.
    assert score_examples(ds.metric, ["a dog", "a bird"], refs) == pytest.approx([5.0, 0.0])


def test_karpathy_split_file(tmp_path):
    ds = one_dataset(tmp_path, write_karpathy(tmp_path), split="val+restval")
    assert {r.key for r in ds.pool().records} == {"1", "2", "5"}
    rec = record(ds, "2")
    assert rec.answers == ("A photo number 2.",) and rec.splits == {"val"}
    assert rec.image.path.as_posix().endswith("coco/val2014/COCO_val2014_000000000002.jpg")
