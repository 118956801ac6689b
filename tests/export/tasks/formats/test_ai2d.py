"""AI2D files: a question file per diagram, answerTexts as lettered options."""

from vlmprune.export.tasks.metrics import Metric

from .fixtures import one_dataset, record, score, write_ai2d


def test_reads_every_question_of_every_diagram(tmp_path):
    ds = one_dataset(tmp_path, write_ai2d(tmp_path), calib=2, test=2)
    assert ds.metric is Metric.OPTION_ACCURACY and len(ds.pool().records) == 6
    rec = record(ds, "1.png-0")
    assert rec.answers == ("D",) and rec.image.path.name == "1.png"
    assert ds.prompt(rec) == (
        "What is A in diagram 1?\nA. ears\nB. nose\nC. mouth\nD. face\n"
        "Answer with the option's letter from the given choices directly."
    )


def test_option_accuracy_by_hand(tmp_path):
    ds = one_dataset(tmp_path, write_ai2d(tmp_path))
    assert score(ds, "0.png-1", "D") == 1.0
    assert score(ds, "0.png-1", "A") == 0.0
