"""Hugging Face tables: lmms-lab parquet copies through presets, save_to_disk folders."""

import datasets
import pytest

from vlmprune.export.errors import VlmpruneError
from vlmprune.export.tasks.base import TaskType
from vlmprune.export.tasks.metrics import Metric

from .fixtures import _png, one_dataset, record, score, write_lmms_parquet


@pytest.fixture(autouse=True)
def _hf_cache(tmp_path, monkeypatch):
    # load_dataset("parquet") converts to Arrow in the datasets cache: keep it in the test.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")


@pytest.mark.parametrize(
    ("preset", "task_type", "metric", "key", "answers", "prompt_start"),
    [
        (
            "lmms-lab/VQAv2",
            TaskType.VQA,
            Metric.VQA_ACCURACY,
            "101",
            ("red",) * 2 + ("blue",) * 8,
            "Question 1?\nAnswer the question using",
        ),
        (
            "lmms-lab/OK-VQA",
            TaskType.VQA,
            Metric.VQA_ACCURACY,
            "101",
            ("fish",) * 10,
            "Question 1?",
        ),
        (
            "lmms-lab/textvqa",
            TaskType.SCENE_TEXT_QA,
            Metric.VQA_ACCURACY,
            "101",
            ("stop",) + ("go",) * 9,
            "Question 1?",
        ),
        ("lmms-lab/DocVQA", TaskType.DOC_QA, Metric.ANLS, "q1", ("$1,234", "1234"), "Total 1?"),
        (
            "lmms-lab/ChartQA",
            TaskType.DOC_QA,
            Metric.RELAXED_ACCURACY,
            "validation:1",
            ("14",),
            "Value 1?\nAnswer the question with a single word.",
        ),
        (
            "lmms-lab/ai2d",
            TaskType.MULTIPLE_CHOICE,
            Metric.OPTION_ACCURACY,
            "validation:1",
            ("C",),
            "What is A 1?\nA. ears\nB. nose\nC. face",
        ),
        (
            "lmms-lab/ScienceQA-IMG",
            TaskType.MULTIPLE_CHOICE,
            Metric.OPTION_ACCURACY,
            "validation:1",
            ("B",),
            "Context: Look.\nWhich color 1?\nA. red\nB. blue",
        ),
        (
            "lmms-lab/COCO-Caption",
            TaskType.CAPTIONING,
            Metric.CIDER_D,
            "COCO_val2014_000000000001.jpg",
            ("thing 1",) * 5,
            "Provide a one-sentence caption",
        ),
    ],
)
def test_lmms_lab_presets(tmp_path, preset, task_type, metric, key, answers, prompt_start):
    ds = one_dataset(tmp_path, write_lmms_parquet(tmp_path, preset), calib=2, test=2)
    assert (ds.task_type, ds.metric) == (task_type, metric)
    rec = record(ds, key)
    assert rec.answers == answers and rec.splits == {"validation"}
    assert ds.prompt(rec).startswith(prompt_start)
    images = [e.image for e in ds.examples("test")]
    assert [i.size for i in images] == [(16, 12)] * 2 and images[0].mode == "RGB"


def test_preset_metrics_by_hand(tmp_path):
    vqa = one_dataset(tmp_path / "v", write_lmms_parquet(tmp_path / "v", "lmms-lab/VQAv2"))
    assert score(vqa, "100", "red") == pytest.approx(0.6)  # (2 * 1/3 + 8 * 2/3) / 10
    text = one_dataset(tmp_path / "t", write_lmms_parquet(tmp_path / "t", "lmms-lab/textvqa"))
    assert score(text, "100", "stop") == pytest.approx(0.3)  # 9 * (1/3) / 10
    doc = one_dataset(tmp_path / "d", write_lmms_parquet(tmp_path / "d", "lmms-lab/DocVQA"))
    assert score(doc, "q0", "1,234") == pytest.approx(5 / 6)  # 1 edit over 6 characters


def test_vqav2_preset_stratifies_by_answer_type(tmp_path):
    ds = one_dataset(tmp_path, write_lmms_parquet(tmp_path, "lmms-lab/VQAv2", n=8), calib=2, test=2)
    assert ds.spec.stratify == "answer_type"
    assert sorted(r.strata["answer_type"] for r in ds.draw().calib) == ["other", "yes/no"]


def test_save_to_disk_folder_with_splits(tmp_path):
    table = datasets.Dataset.from_dict(
        {
            "query": ["a?", "b?", "c?"],
            "label": ["1", "2", "3"],
            "picture": [_png(i) for i in range(3)],
        }
    ).cast_column("picture", datasets.Image())
    datasets.DatasetDict({"train": table, "test": table.select([0])}).save_to_disk(
        tmp_path / "mine"
    )
    spec = {
        "format": "hf",
        "path": "mine",
        "task_type": "doc_qa",
        "columns": {"question": "query", "answers": "label", "image": "picture"},
    }
    ds = one_dataset(tmp_path, spec, calib=1, test=1, split="train")
    assert ds.metric is Metric.ANLS and len(ds.pool().records) == 3
    assert record(ds, "train:2").answers == ("3",)
    assert next(ds.examples("calib")).image.size == (16, 12)
    assert len(one_dataset(tmp_path, spec, calib=1, test=0, split="test").pool().records) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"columns": {"answers": "label"}},
            r"columns.answers names column 'label', which it does not have \(columns: ",
        ),
        (
            {"columns": {"answer": "x"}},
            r"columns: unknown role 'answer'; expected one of: image, question",
        ),
        (
            {"preset": "lmms-lab/textvq"},
            r"Unknown hf preset 'lmms-lab/textvq'. Did you mean 'lmms-lab/textvqa'",
        ),
        ({"stratify": "kind"}, r"stratify names column 'kind', which it does not have"),
        ({"split": "test"}, r"split 'test' is not in the files \(they have: validation\)"),
    ],
)
def test_bad_tables(tmp_path, change, message):
    table = write_lmms_parquet(tmp_path, "lmms-lab/textvqa") | change
    with pytest.raises(VlmpruneError, match=message):
        one_dataset(tmp_path, table).pool()


def test_malformed_parquet_and_no_task_type(tmp_path):
    table = write_lmms_parquet(tmp_path, "lmms-lab/textvqa")
    (tmp_path / "textvqa" / "data" / "validation-00000-of-00001.parquet").write_bytes(
        b"PAR1 broken"
    )
    with pytest.raises(
        VlmpruneError, match=r"validation-00000-of-00001.parquet: not a readable parquet file"
    ):
        one_dataset(tmp_path, table).pool()
    with pytest.raises(VlmpruneError, match=r"format 'hf' needs task_type \(or a preset\)"):
        one_dataset(tmp_path, {"format": "hf", "data_files": table["data_files"]})


def test_a_row_without_an_image_is_reported(tmp_path):
    rows = {"question": ["a?", "b?"], "answers": [["x"], ["y"]], "image": [_png(0), None]}
    table = datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image())
    (tmp_path / "data").mkdir()
    table.to_parquet(str(tmp_path / "data" / "test-00000-of-00001.parquet"))
    spec = {
        "format": "hf",
        "data_files": "data/*.parquet",
        "task_type": "vqa",
        "columns": {"question": "question", "answers": "answers", "image": "image"},
    }
    ds = one_dataset(tmp_path, spec, calib=1, test=1, split="test")
    assert [r.image.exists() for r in ds.pool().records] == [True, False]
    with pytest.raises(
        VlmpruneError, match=r"ds: test-00000-of-00001.parquet row 1: image .* not found"
    ):
        ds.draw()
