"""ScienceQA files: problems.json + pid_splits.json, image-less problems skipped, letters."""

import pytest

from vlmprune.export.errors import VlmpruneError
from vlmprune.export.tasks.base import TaskType
from vlmprune.export.tasks.metrics import Metric

from .fixtures import dump, load_json_file, one_dataset, record, score, write_scienceqa


def test_reads_image_problems_with_lettered_options(tmp_path):
    ds = one_dataset(tmp_path, write_scienceqa(tmp_path), calib=2, test=2)
    assert ds.task_type is TaskType.MULTIPLE_CHOICE and ds.metric is Metric.OPTION_ACCURACY
    pool = ds.pool()
    assert pool.skipped == 2 and len(pool.records) == 6  # problems 4 and 8 have no image
    rec = record(ds, "2")
    assert rec.answers == ("C",) and rec.splits == {"val"}
    assert rec.image.path.as_posix().endswith("scienceqa/images/val/2/image.png")
    assert ds.prompt(rec) == (
        "Context: Look closely.\nWhich color is object 1?\nA. red\nB. green\nC. brown\n"
        "Answer with the option's letter from the given choices directly."
    )
    assert ds.prompt(record(ds, "1")).startswith("Which color is object 0?\nA. red")


def test_option_accuracy_by_hand(tmp_path):
    ds = one_dataset(tmp_path, write_scienceqa(tmp_path))
    assert score(ds, "1", "C") == 1.0
    assert score(ds, "1", "C. brown") == 1.0
    assert score(ds, "1", "The answer is (c)") == 1.0
    assert score(ds, "1", "B") == 0.0


def test_split_test_only(tmp_path):
    ds = one_dataset(tmp_path, write_scienceqa(tmp_path), split="test")
    assert {r.key for r in ds.pool().records} == {"3", "6"}
    with pytest.raises(
        VlmpruneError,
        match=r"split 'validation' is not in the files \(they have: test, train, val\)",
    ):
        one_dataset(tmp_path, write_scienceqa(tmp_path), split="validation").pool()


def test_a_split_list_naming_an_unknown_problem(tmp_path):
    table = write_scienceqa(tmp_path)
    splits = load_json_file(tmp_path / table["splits"])
    splits["test"].append("999")
    dump(tmp_path / table["splits"], splits)
    with pytest.raises(
        VlmpruneError, match=r"pid_splits.json: 'test' lists pid '999', not in problems"
    ):
        one_dataset(tmp_path, table).pool()
