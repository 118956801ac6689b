"""`vlmprune scores / search / compare` end to end on a tiny model folder."""

import json

from click.testing import CliRunner

from vlmprune.export.cli import main


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_search_then_compare(tiny_model_dir, tmp_path):
    common = [
        "--model",
        tiny_model_dir,
        "--datasets",
        "shapes_vqa,bar_charts",
        "--limit",
        4,
        "--scores-dir",
        tmp_path / "scores",
        "--cache-dir",
        tmp_path / "cache",
    ]
    result = _run("search", *common, "--max-remove", 2, "--beam-width", 2, "--json")
    assert result.exit_code == 0, result.output
    best = json.loads(result.output)["best"]
    assert set(best) == {"shapes_vqa", "bar_charts", "generic"}
    assert all(len(sets) == 2 and len(sets[1]) == 2 for sets in best.values())

    folder = tmp_path / "scores" / tiny_model_dir.name
    doc = json.loads((folder / "shapes_vqa.json").read_text())
    assert doc["provenance"]["model_hash"] and doc["provenance"]["split"] == "calib"
    assert doc["provenance"]["n"] == 4 and doc["provenance"]["tool_version"]
    assert [r["block"] for r in doc["leave_one_out"]] == [0, 1, 2, 3]
    assert doc["search"]["best"][0]["removed_blocks"] == best["shapes_vqa"][0]

    # a rerun recomputes nothing: every evaluation comes from the cache
    again = _run("search", *common, "--max-remove", 2, "--beam-width", 2, "--json")
    assert json.loads(again.output)["stats"]["computed"] == 0

    out = tmp_path / "report"
    report = _run(
        "compare",
        "--model",
        tiny_model_dir.name,
        "--scores-dir",
        tmp_path / "scores",
        "--out",
        out,
        "--json",
    )
    assert report.exit_code == 0, report.output
    payload = json.loads(report.output)
    assert payload["total"] == 4 and 0 <= payload["matches"] <= 4
    assert payload["match_rate"] == payload["matches"] / payload["total"]
    row = payload["per_dataset"][0]
    assert set(row) >= {
        "dataset",
        "k",
        "specific",
        "generic",
        "match",
        "specific_score",
        "generic_score",
        "gap",
        "gap_ci95",
    }
    assert {r["task_type"] for r in payload["by_task_type"]} == {"vqa", "doc_qa"}
    for name in ("report.md", "report.json", "loo_heatmap.png", "gap.png"):
        assert (out / name).stat().st_size > 0


def test_search_bad_input(tiny_model_dir, tmp_path):
    common = [
        "--model",
        tiny_model_dir,
        "--datasets",
        "shapes_vqa",
        "--limit",
        2,
        "--scores-dir",
        tmp_path,
        "--no-cache",
    ]
    for args, message in [
        (["--max-remove", 4], "--max-remove must be between 1 and 3"),
        (["--beam-width", 0], "--beam-width must be at least 1"),
        (["--objective", "median"], "Unknown objective 'median'"),
    ]:
        result = _run("search", *common, *args)
        assert result.exit_code != 0 and message in result.output, result.output
    unknown = _run("search", "--model", tiny_model_dir, "--datasets", "nope", "--no-cache")
    assert unknown.exit_code != 0 and "Unknown dataset 'nope'" in unknown.output
    missing = _run("compare", "--model", "nothing", "--scores-dir", tmp_path)
    assert missing.exit_code != 0 and "no scores for model 'nothing'" in missing.output
