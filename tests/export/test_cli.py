"""The CLI: JSON contracts, tables, and one-line errors with non-zero exits."""

import json

import pytest
from cli_helpers import one_error_line
from click.testing import CliRunner

from vlmprune.export.cli import main


def _run(*args):
    return CliRunner().invoke(main, list(args))


def test_tasks_json_lists_eight_datasets_over_six_types():
    result = _run("tasks", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 8
    assert {r["task_type"] for r in rows} == {
        "vqa",
        "captioning",
        "doc_qa",
        "multiple_choice",
        "exact_match",
        "scene_text_qa",
    }
    for row in rows:
        assert set(row) >= {"name", "task_type", "metric", "splits"}
        assert row["splits"]["calib"] >= 1000 and row["splits"]["test"] >= 1000


def test_eval_json_on_a_tiny_model_with_blocks_removed(tiny_model_dir):
    result = _run(
        "eval",
        "--model",
        str(tiny_model_dir),
        "--remove",
        "1,2",
        "--datasets",
        "shapes_vqa,code_match",
        "--limit",
        "8",
        "--split",
        "calib",
        "--json",
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["removed_blocks"] == [1, 2]
    assert payload["split"] == "calib"
    assert [r["dataset"] for r in payload["results"]] == ["shapes_vqa", "code_match"]
    for row in payload["results"]:
        assert row["n"] == 8
        assert 0.0 <= row["score"] <= 1.0
        assert row["ci95"][0] <= row["score"] <= row["ci95"][1]
    scores = [r["score"] for r in payload["results"]]
    assert payload["mean"] == pytest.approx(sum(scores) / len(scores))


def test_eval_table_output(tiny_model_dir):
    result = _run("eval", "--model", str(tiny_model_dir), "--datasets", "count_vqa", "--limit", "4")
    assert result.exit_code == 0, result.output
    assert (
        "count_vqa" in result.output and "95% CI" in result.output and "baseline" in result.output
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--remove", "7"], "block 7 is out of range; valid blocks: 0..3"),
        (["--remove", "1,x"], "'x' is not a block index"),
        (["--remove", "0,1,2,3"], "cannot remove all 4"),
        (["--datasets", "shapes_vq"], "Unknown dataset 'shapes_vq'. Did you mean 'shapes_vqa'?"),
    ],
)
def test_eval_bad_input_is_one_line_and_nonzero(tiny_model_dir, args, message):
    result = _run("eval", "--model", str(tiny_model_dir), "--limit", "2", *args)
    one_error_line(result, message)


def test_eval_missing_or_unsupported_model(tmp_path):
    missing = _run("eval", "--model", str(tmp_path / "nope"))
    assert missing.exit_code != 0 and "does not exist" in missing.output
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    unsupported = _run("eval", "--model", str(tmp_path / "bert"))
    assert unsupported.exit_code != 0 and "not a supported VLM" in unsupported.output
    (tmp_path / "empty").mkdir()
    no_config = _run("eval", "--model", str(tmp_path / "empty"))
    assert no_config.exit_code != 0 and "config.json is missing" in no_config.output
