"""Which suite datasets come from: lookups with suggestions, and what outputs record."""

import re

import pytest
from formats.fixtures import write_seed_suite

from vlmprune.export.errors import UnknownNameError, VlmpruneError
from vlmprune.export.tasks.base import SUITE_SEED
from vlmprune.export.tasks.catalog import all_datasets
from vlmprune.export.tasks.file_dataset import load_suite
from vlmprune.export.tasks.suites import DatasetSuite, recorded_suite, require_examples


def test_the_builtin_suite_records_nothing_but_its_seed():
    suite = DatasetSuite.builtin()
    assert suite.is_builtin and suite.names() == [d.name for d in all_datasets()]
    assert suite.provenance() == {} and suite.describe() == "the built-in suite"
    assert recorded_suite(all_datasets()) == {"seed": SUITE_SEED}  # as scores files have it
    with pytest.raises(UnknownNameError, match="Unknown dataset 'shapes_vq'. Did you mean"):
        suite.get("shapes_vq")


def test_a_suite_file_records_its_path_and_hash(tmp_path):
    loaded = load_suite(write_seed_suite(tmp_path))
    suite = DatasetSuite.of_file(loaded)
    assert suite.names() == list(loaded.datasets)
    assert suite.get("doc_qa") is loaded.datasets["doc_qa"]
    assert suite.provenance() == {"suite": str(loaded.path), "suite_hash": loaded.hash}
    assert suite.describe() == f"suite file {loaded.path} (suite hash {loaded.hash[:12]}…)"
    assert recorded_suite(loaded.select("text_vqa,okvqa")) == {
        "seed": SUITE_SEED,
        **suite.provenance(),
    }
    with pytest.raises(UnknownNameError, match="Unknown suite dataset 'docqa'. Did you mean"):
        suite.get("docqa")


def test_require_examples_names_the_dataset_and_the_split(tmp_path):
    path = write_seed_suite(tmp_path, calib=2, test=0)
    loaded = load_suite(path)
    require_examples(loaded.select(), "calib", 2, "x needs")
    with pytest.raises(
        VlmpruneError,
        match=rf"^coco_2014_vqa: the test split has 0 example\(s\); x needs at least 1 "
        rf"\({re.escape(str(path))}: \[datasets.coco_2014_vqa\] test\)$",
    ):
        require_examples(loaded.select(), "test", 1, "x needs")
