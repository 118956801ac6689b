"""User JSONL datasets: good files load lazily; bad ones fail naming file, line and field."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from vlmprune.export.errors import VlmpruneError
from vlmprune.export.tasks.base import Split, TaskType
from vlmprune.export.tasks.jsonl import JsonlDataset
from vlmprune.export.tasks.metrics import Metric


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (32, 24), "red").save(tmp_path / "imgs" / "a.png")
    Image.new("L", (16, 16), 128).save(tmp_path / "imgs" / "b.png")  # grayscale -> RGB
    return tmp_path


def row(**overrides):
    base = {"image": "imgs/a.png", "prompt": "What color?", "answers": ["red"], "task_type": "vqa"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_good_file_loads(folder):
    absolute = str(folder / "imgs" / "b.png")
    path = write_jsonl(folder / "data.jsonl", [row(), "", row(image=absolute, answers="gray")])
    dataset = JsonlDataset(path)
    assert dataset.name == "data" and len(dataset) == 2
    assert dataset.task_type is TaskType.VQA and dataset.metric is Metric.VQA_ACCURACY
    examples = list(dataset.examples(Split.TEST))
    assert [e.answers for e in examples] == [("red",), ("gray",)]
    assert all(e.image.mode == "RGB" for e in examples)
    assert examples[0].image.size == (32, 24)
    assert len(list(dataset.examples("calib", limit=1))) == 1
    assert len({e.key for e in examples}) == 2


@pytest.mark.parametrize(
    ("task_type", "metric"),
    [
        ("captioning", Metric.CIDER_D),
        ("doc_qa", Metric.ANLS),
        ("multiple_choice", Metric.OPTION_ACCURACY),
        ("exact_match", Metric.EXACT_MATCH),
        ("scene_text_qa", Metric.VQA_ACCURACY),
    ],
)
def test_default_metric_per_task_type(folder, task_type, metric):
    dataset = JsonlDataset(write_jsonl(folder / "d.jsonl", [row(task_type=task_type)]))
    assert dataset.metric is metric


def test_explicit_metric(folder):
    dataset = JsonlDataset(
        write_jsonl(folder / "d.jsonl", [row(task_type="doc_qa", metric="relaxed_accuracy")])
    )
    assert dataset.metric is Metric.RELAXED_ACCURACY


def test_images_load_lazily(folder):
    path = write_jsonl(folder / "data.jsonl", [row()])
    dataset = JsonlDataset(path)
    (folder / "imgs" / "a.png").write_bytes(b"not a png")  # broken after validation
    with pytest.raises(VlmpruneError, match=r"data.jsonl:1: cannot read image"):
        next(dataset.examples(Split.TEST))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [row(), row(answers=[])],
            r"data.jsonl:2: field 'answers' must be a non-empty list of strings",
        ),
        ([row(answers=[1])], r"data.jsonl:1: field 'answers' must be a non-empty list"),
        ([row(answers=None)], r"data.jsonl:1: field 'answers'"),
        ([row(prompt="")], r"data.jsonl:1: field 'prompt' must be a non-empty string"),
        ([row(image=None)], r"data.jsonl:1: field 'image'"),
        ([row(image="imgs/missing.png")], r"data.jsonl:1: image file 'imgs/missing.png' not found"),
        (
            [row(task_type="ocr")],
            r"data.jsonl:1: field 'task_type' is 'ocr'; expected one of: vqa, ",
        ),
        ([row(task_type=None)], r"data.jsonl:1: field 'task_type' is missing"),
        ([row(metric="bleu")], r"data.jsonl:1: field 'metric' is 'bleu'"),
        ([row(), "{not json"], r"data.jsonl:2: not valid JSON"),
        ([row(), "[1, 2]"], r"data.jsonl:2: expected a JSON object, got list"),
        (
            [row(), row(), row(task_type="captioning")],
            r"data.jsonl:3: .*differs from vqa/vqa_accuracy on line 1",
        ),
        ([], r"data.jsonl: no examples"),
    ],
)
def test_bad_files_name_file_line_and_field(folder, rows, message):
    path = write_jsonl(folder / "data.jsonl", rows)
    with pytest.raises(VlmpruneError, match=message):
        JsonlDataset(path)


def test_missing_file_and_bad_split(folder):
    with pytest.raises(VlmpruneError, match="nope.jsonl: no such JSONL file"):
        JsonlDataset(folder / "nope.jsonl")
    dataset = JsonlDataset(write_jsonl(folder / "data.jsonl", [row()]))
    with pytest.raises(VlmpruneError, match="unknown split 'dev'"):
        list(dataset.examples("dev"))
