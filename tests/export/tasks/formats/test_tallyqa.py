"""TallyQA files: integer answers as strings, simple/complex strata, exact match."""

from vlmprune.export.tasks.base import TaskType
from vlmprune.export.tasks.metrics import Metric

from .fixtures import one_dataset, record, score, write_tallyqa


def test_reads_counts_as_strings(tmp_path):
    ds = one_dataset(tmp_path, write_tallyqa(tmp_path), calib=2, test=2)
    assert ds.task_type is TaskType.EXACT_MATCH and ds.metric is Metric.EXACT_MATCH
    rec = record(ds, "30095770")
    assert rec.answers == ("4",) and rec.strata["issimple"] == "simple"
    assert record(ds, "30095771").strata["issimple"] == "complex"
    assert rec.image.path.as_posix().endswith("tallyqa/images/VG_100K_2/2410400.jpg")
    drawn = ds.draw()
    assert sorted(r.strata["issimple"] for r in drawn.calib) == ["complex", "simple"]


def test_exact_match_on_the_count(tmp_path):
    ds = one_dataset(tmp_path, write_tallyqa(tmp_path))
    assert score(ds, "30095770", "4") == 1.0
    assert score(ds, "30095770", " 4 ") == 1.0
    assert score(ds, "30095770", "four") == 0.0
