"""ChartQA files: human + augmented lists, png images, source strata, relaxed accuracy."""

import pytest

from vlmprune.export.errors import VlmpruneError
from vlmprune.export.tasks.metrics import Metric

from .fixtures import dump, one_dataset, record, score, write_chartqa


def test_reads_both_files(tmp_path):
    ds = one_dataset(tmp_path, write_chartqa(tmp_path), calib=2, test=2)
    assert ds.metric is Metric.RELAXED_ACCURACY
    human = record(ds, "test_human:0")
    assert human.fields == {"question": "human value 0?"} and human.answers == ("14",)
    assert human.strata == {"source": "human"} and human.splits == {"test"}
    assert record(ds, "test_augmented:2").image.path.name == "chart2.png"
    drawn = ds.draw()
    assert sorted(r.strata["source"] for r in drawn.calib) == ["augmented", "human"]
    prompt = ds.prompt(human)
    assert prompt == "human value 0?\nAnswer the question with a single word."


def test_relaxed_accuracy_by_hand(tmp_path):
    ds = one_dataset(tmp_path, write_chartqa(tmp_path))
    assert score(ds, "test_human:0", "14.5") == 1.0  # |14.5 - 14| / 14 = 3.6% <= 5%
    assert score(ds, "test_human:0", "15") == 0.0  # 7.1% > 5%
    assert score(ds, "test_human:0", "14%") == 1.0


def test_a_record_without_imgname(tmp_path):
    table = write_chartqa(tmp_path)
    dump(tmp_path / table["annotations"][0], [{"query": "q?", "label": "1"}])
    with pytest.raises(
        VlmpruneError, match=r"test_human.json record 0: field 'imgname' must be a str, got missing"
    ):
        one_dataset(tmp_path, table).pool()


def test_images_default_to_the_png_folder_beside_the_file(tmp_path):
    table = write_chartqa(tmp_path)
    del table["images"]
    ds = one_dataset(tmp_path, table, split="test")
    assert record(ds, "test_human:1").image.path.as_posix().endswith("chartqa/test/png/chart1.png")
    assert all(r.image.exists() for r in ds.pool().records)
