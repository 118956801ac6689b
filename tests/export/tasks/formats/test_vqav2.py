"""VQA v2 / OK-VQA files: questions joined to annotations, COCO image names, VQA accuracy."""

import pytest

from vlmprune.export.errors import VlmpruneError
from vlmprune.export.tasks.base import Split, TaskType
from vlmprune.export.tasks.metrics import Metric

from .fixtures import dump, load_json_file, one_dataset, record, score, write_vqav2


def test_reads_questions_answers_and_images(tmp_path):
    ds = one_dataset(tmp_path, write_vqav2(tmp_path), calib=3, test=3)
    assert ds.task_type is TaskType.VQA and ds.metric is Metric.VQA_ACCURACY
    first = record(ds, "1000")
    assert first.fields == {"question": "Question 0?"}
    assert first.answers == ("yes",) * 10
    assert first.image.path.name == "COCO_val2014_000000000500.jpg"
    assert first.splits == {"val2014"}
    assert first.strata == {"answer_type": "yes/no", "question_type": "is the"}
    example = next(ds.examples(Split.TEST))
    assert example.prompt.endswith("\nAnswer the question using a single word or phrase.")
    assert example.image.mode == "RGB" and example.key.startswith("ds|")


def test_vqa_accuracy_by_hand(tmp_path):
    ds = one_dataset(tmp_path, write_vqav2(tmp_path))
    # Record 1002: 2 x "red", 8 x "blue". Leaving out a "red" annotator leaves 1 match
    # (1/3), leaving out a "blue" one leaves 2 (2/3): (2 * 1/3 + 8 * 2/3) / 10 = 0.6.
    assert score(ds, "1002", "red") == pytest.approx(0.6)
    # "blue": 8 matches, 7 or 8 after leaving one out -> min(., 1) = 1 everywhere.
    assert score(ds, "1002", "Blue.") == pytest.approx(1.0)
    # Record 1001: 7 x "2", 3 x "3"; "three" normalises to "3": (3 * 2/3 + 7 * 1) / 10.
    assert score(ds, "1001", "three") == pytest.approx(0.9)
    assert score(ds, "1001", "two") == pytest.approx(1.0)


def test_strata_are_drawn_in_proportion(tmp_path):
    # 12 questions, 4 per answer type; calib 6 + test 3 -> 3 of each type overall.
    ds = one_dataset(tmp_path, write_vqav2(tmp_path, n=12), calib=6, test=3)
    drawn = ds.draw()
    types = [r.strata["answer_type"] for r in drawn.calib + drawn.test]
    assert sorted(types) == sorted(["yes/no", "number", "other"] * 3)
    assert {r.strata["answer_type"] for r in drawn.test} == {"yes/no", "number", "other"}


def test_merges_train_and_val_with_a_subtype_template(tmp_path):
    train = write_vqav2(tmp_path, folder="vqa_train", subtype="train2014")
    val = write_vqav2(tmp_path, folder="vqa_val", subtype="val2014")
    table = {
        "format": "vqav2",
        "questions": [train["questions"], val["questions"]],
        "annotations": [train["annotations"], val["annotations"]],
        "images": "coco/{data_subtype}",
    }
    with pytest.raises(VlmpruneError, match=r"question_id 1000: id .1000. appears twice"):
        one_dataset(tmp_path, table).pool()  # both fixtures number their questions alike
    questions = load_json_file(tmp_path / val["questions"])
    annotations = load_json_file(tmp_path / val["annotations"])
    for item in questions["questions"] + annotations["annotations"]:
        item["question_id"] += 5000
    dump(tmp_path / val["questions"], questions)
    dump(tmp_path / val["annotations"], annotations)
    ds = one_dataset(tmp_path, table, calib=4, test=4, split="train2014+val2014")
    assert {label for r in ds.pool().records for label in r.splits} == {"train2014", "val2014"}
    assert record(ds, "1000").image.path.parent.name == "train2014"
    assert record(ds, "6000").image.path.parent.name == "val2014"
    only_train = one_dataset(tmp_path, table, split="train2014")
    assert len(only_train.pool().records) == 6


def test_okvqa_has_the_same_layout(tmp_path):
    ds = one_dataset(tmp_path, write_vqav2(tmp_path, folder="okvqa") | {"format": "okvqa"})
    assert ds.spec.stratify == "question_type" and len(ds.pool().records) == 6
    assert score(ds, "1002", "red") == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (
            lambda a: a["annotations"].pop(1),
            r"OpenEnded_mscoco_val2014_questions.json question_id 1001: no annotation",
        ),
        (
            lambda a: a["annotations"][0].pop("answers"),
            r"mscoco_val2014_annotations.json question_id 1000: field 'answers' must be a list",
        ),
    ],
)
def test_bad_annotations(tmp_path, break_it, message):
    table = write_vqav2(tmp_path)
    annotations = load_json_file(tmp_path / table["annotations"])
    break_it(annotations)
    dump(tmp_path / table["annotations"], annotations)
    with pytest.raises(VlmpruneError, match=message):
        one_dataset(tmp_path, table).pool()
