"""TextVQA files: the data list, <image_id>.jpg images, set_name splits, VQA accuracy."""

import pytest

from vlmprune.export.errors import VlmpruneError
from vlmprune.export.tasks.base import TaskType
from vlmprune.export.tasks.metrics import Metric

from .fixtures import dump, load_json_file, one_dataset, record, score, write_textvqa


def test_reads_records(tmp_path):
    ds = one_dataset(tmp_path, write_textvqa(tmp_path))
    assert ds.task_type is TaskType.SCENE_TEXT_QA and ds.metric is Metric.VQA_ACCURACY
    first = record(ds, "34000")
    assert first.fields == {"question": "what does sign 0 say?"}
    assert first.image.path.name == "img0000.jpg" and first.splits == {"val"}
    assert len(first.answers) == 10


def test_vqa_accuracy_by_hand(tmp_path):
    ds = one_dataset(tmp_path, write_textvqa(tmp_path))
    # One "stop" among 10: leaving it out leaves no match (0), leaving out any of the
    # nine others leaves one (1/3): 9 * (1/3) / 10 = 0.3.
    assert score(ds, "34000", "stop") == pytest.approx(0.3)
    assert score(ds, "34000", "GO!") == pytest.approx(1.0)


def test_split_names_come_from_set_name(tmp_path):
    table = write_textvqa(tmp_path)
    assert len(one_dataset(tmp_path, table, split="val").pool().records) == 6
    with pytest.raises(
        VlmpruneError, match=r"ds: split 'train' is not in the files \(they have: val\)"
    ):
        one_dataset(tmp_path, table, split="train+val").pool()


def test_a_test_file_without_answers_cannot_be_scored(tmp_path):
    table = write_textvqa(tmp_path)
    data = load_json_file(tmp_path / table["annotations"])
    del data["data"][2]["answers"]
    dump(tmp_path / table["annotations"], data)
    with pytest.raises(VlmpruneError, match=r"question_id 34002: no 'answers'"):
        one_dataset(tmp_path, table).pool()
