"""Scores files: a file computed on another suite is stale, like one of another model."""

import json

import pytest
from export_helpers import scores_doc

from vlmprune.export.search.files import ScoresError, read_scores

MODEL = "a" * 64
SUITE = {"suite": "bench.toml", "suite_hash": "1" * 64}
OTHER = {"suite": "bench.toml", "suite_hash": "2" * 64}


def _file(tmp_path, recorded):
    doc = scores_doc("text_vqa", "scene_text_qa", MODEL, best=[])
    doc["provenance"] |= recorded
    path = tmp_path / "text_vqa.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("recorded", "expected", "message"),
    [
        (
            SUITE,
            OTHER,
            "computed for suite file bench.toml (suite hash 111111111111…), but this run uses "
            "suite file bench.toml (suite hash 222222222222…); rerun `vlmprune search`",
        ),
        (
            {},
            SUITE,
            "computed for the built-in suite, but this run uses suite file bench.toml "
            "(suite hash 111111111111…); rerun `vlmprune search`",
        ),
        (
            SUITE,
            {},
            "computed for suite file bench.toml (suite hash 111111111111…), but this run uses "
            "the built-in suite; rerun `vlmprune search`",
        ),
    ],
)
def test_scores_of_another_suite_are_stale(tmp_path, recorded, expected, message):
    path = _file(tmp_path, recorded)
    with pytest.raises(ScoresError, match="is stale") as error:
        read_scores(path, MODEL, expected_suite=expected)
    assert str(error.value) == f"{path} is stale: {message}"


@pytest.mark.parametrize(("recorded", "expected"), [({}, {}), (SUITE, SUITE), (SUITE, None)])
def test_scores_of_the_same_suite_or_no_expectation_load(tmp_path, recorded, expected):
    path = _file(tmp_path, recorded)
    assert read_scores(path, MODEL, expected_suite=expected)["objective"] == "text_vqa"


def test_a_suite_files_scores_go_beside_the_built_in_ones_by_default(tmp_path):
    from types import SimpleNamespace

    from vlmprune.export.search.files import DEFAULT_SCORES_ROOT, suite_scores_root

    builtin = SimpleNamespace(is_builtin=True, path=None)
    bench = SimpleNamespace(is_builtin=False, path=tmp_path / "bench.toml")
    assert suite_scores_root(DEFAULT_SCORES_ROOT, builtin) == DEFAULT_SCORES_ROOT
    assert suite_scores_root(DEFAULT_SCORES_ROOT, bench) == DEFAULT_SCORES_ROOT / "bench"
    assert suite_scores_root(tmp_path / "mine", bench) == tmp_path / "mine"  # given: used as is
