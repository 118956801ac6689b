"""Suite files through `scores`, `search` and `export`: provenance, the cache per table,
refusing the scores of another suite, the task detector, and the seed's eight datasets end
to end on the embedded demo model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import one_error_line
from export_helpers import run_cli, write_scores
from formats.fixtures import SEED_WRITERS, write_seed_suite, write_suite

from vlmprune.export.tasks.file_dataset import load_suite
from vlmprune.export.tasks.suites import DatasetSuite

SEED = list(SEED_WRITERS)
TASK_TYPES = {"vqa", "scene_text_qa", "multiple_choice", "doc_qa", "exact_match", "captioning"}
# Few examples and a two-token budget (prefill and one decode step): every stage runs on
# every dataset, and the demo's greedy loops stay short.
SMALL = {"calib": 2, "test": 1, "max_new_tokens": 2}
# One test example per dataset for parity (8 datasets) and for each variant's scores.
EXPORT_FAST = ["--parity-examples", "8", "--score-examples", "1", "--batch-size", "8"]
THREE = ("text_vqa", "tally_qa", "coco_caption")  # three task types, for the tiny model


def test_the_seed_suite_end_to_end(tmp_path, one_torch_thread):
    """eval, search and export --all-tasks on the seed's eight datasets, then validate and run."""
    suite = write_seed_suite(tmp_path, **SMALL)
    suite_hash = load_suite(suite).hash
    scores, out = tmp_path / "scores", tmp_path / "variants"
    common = ["--model", "demo", "--suite", suite]

    evaluated = run_cli("eval", *common, "--split", "calib", "--no-baseline", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert [r["dataset"] for r in json.loads(evaluated.stdout)["results"]] == SEED

    searched = run_cli(
        "search",
        *common,
        *("--max-remove", 2, "--beam-width", 1, "--scores-dir", scores),
        *("--cache-dir", tmp_path / "cache", "--json"),
    )
    assert searched.exit_code == 0, searched.output
    best = json.loads(searched.stdout)["best"]
    assert list(best) == [*SEED, "generic"] and all(len(s) == 2 for s in best.values())
    for name in best:
        provenance = json.loads((scores / "demo" / f"{name}.json").read_text())["provenance"]
        assert (provenance["suite"], provenance["suite_hash"]) == (str(suite), suite_hash)

    exported = run_cli(
        "export", "--all-tasks", *common, "--scores-dir", scores, "--out", out, *EXPORT_FAST
    )
    assert exported.exit_code == 0, exported.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["dataset_to_variant"]) == SEED
    assert set(manifest["task_type_to_variant"]) == TASK_TYPES
    assert {v["name"] for v in manifest["variants"]} == {*SEED, "generic"}
    assert manifest["provenance"]["suite_hash"] == suite_hash
    assert manifest["provenance"]["datasets"] == SEED
    detector = manifest["task_detector"]
    assert set(detector["labels"]) == TASK_TYPES
    assert detector["provenance"]["split"] == "calib+test"
    assert detector["provenance"]["suite_hash"] == suite_hash
    assert run_cli("manifest", "validate", out / "manifest.json").exit_code == 0

    image = next((tmp_path / "coco" / "val2014").glob("*.jpg"))
    ran = run_cli(
        *("run", "--manifest", out / "manifest.json", image, "What is it?"),
        *("--task-hint", "coco_2014_vqa", "--max-new-tokens", 1, "--json"),
    )
    assert ran.exit_code == 0, ran.output
    answer = json.loads(ran.stdout)
    assert (answer["variant"], answer["reason"]) == ("coco_2014_vqa", "dataset_hint")


# --- the tiny model on three tables: cheap enough to check each rule on its own ------------


def _three_tables(root: Path) -> dict[str, dict]:
    """Writes the benchmark files of THREE under `root`: their suite tables."""
    return {name: SEED_WRITERS[name](root) | SMALL for name in THREE}


DRAW_SEED = 7  # not the built-in suite's: outputs must record the suite file's own seed


def _suite(path: Path, tables: dict[str, dict], **tally_qa: object) -> Path:
    """A suite file over the same files; `tally_qa` changes that table's keys only."""
    return write_suite(path, tables | {"tally_qa": tables["tally_qa"] | tally_qa}, seed=DRAW_SEED)


@pytest.fixture(scope="module")
def searched(tmp_path_factory, tiny_model_dir, one_torch_thread):
    """`search --suite` of the tiny model on three tables: (root, tables, suite, scores dir)."""
    root = tmp_path_factory.mktemp("suite_search")
    tables = _three_tables(root)
    suite = _suite(root / "suite.toml", tables)
    result = run_cli(
        *("search", "--model", tiny_model_dir, "--suite", suite, "--max-remove", 1),
        *("--beam-width", 1, "--scores-dir", root / "scores", "--cache-dir", root / "cache"),
    )
    assert result.exit_code == 0, result.output
    return root, tables, suite, root / "scores"


def test_search_records_the_suite_in_every_scores_file(searched, tiny_model_dir):
    root, tables, suite, scores = searched
    for name in [*THREE, "generic"]:
        doc = json.loads((scores / tiny_model_dir.name / f"{name}.json").read_text())
        provenance = doc["provenance"]
        assert provenance["suite"] == str(suite)
        assert provenance["suite_hash"] == load_suite(suite).hash
        assert provenance["seed"] == DRAW_SEED and provenance["split"] == "calib"
    doc = json.loads((scores / tiny_model_dir.name / "tally_qa.json").read_text())
    assert (doc["task_type"], doc["metric"], doc["provenance"]["n"]) == (
        "exact_match",
        "exact_match",
        2,
    )


def test_the_cache_is_reused_per_table_and_a_changed_table_is_recomputed(searched, tiny_model_dir):
    root, tables, suite, _ = searched
    cache = root / "cache"

    def scores(suite_file: Path) -> int:
        result = run_cli(
            *("scores", "--model", tiny_model_dir, "--suite", suite_file),
            *("--scores-dir", root / "rescored", "--cache-dir", cache, "--json"),
        )
        assert result.exit_code == 0, result.output
        return len(list((cache / "evals").rglob("*.json")))

    entries = len(list((cache / "evals").rglob("*.json")))
    assert scores(suite) == entries  # the search's calib evaluations, all reused
    changed = _suite(root / "changed.toml", tables, calib=3)
    # Only tally_qa's draw changed: its unpruned and 4 leave-one-out evaluations are new.
    assert scores(changed) == entries + 5


@pytest.mark.parametrize("case", ["changed suite", "built-in instead", "built-in scores"])
def test_export_refuses_the_scores_of_another_suite(searched, tiny_model_dir, case):
    root, tables, suite, scores = searched
    recorded = f"suite file {suite} (suite hash {load_suite(suite).hash[:12]}…)"
    if case == "changed suite":  # another calib count for one table: another suite hash
        other = _suite(root / "other.toml", tables, calib=3)
        args = ["--suite", other]
        uses = DatasetSuite.of_file(load_suite(other)).describe()
        message = f"generic.json is stale: computed for {recorded}, but this run uses {uses}"
    elif case == "built-in instead":
        args = []
        message = f"generic.json is stale: computed for {recorded}, but this run uses the built-in"
    else:
        scores = root / "builtin-scores"
        write_scores(scores, tiny_model_dir)
        args = ["--suite", suite]
        message = (
            f"generic.json is stale: computed for the built-in suite, but this run uses {recorded}"
        )
    out = root / f"out-{case.replace(' ', '-')}"
    result = run_cli(
        "export",
        "--all-tasks",
        "--model",
        tiny_model_dir,
        *args,
        "--scores-dir",
        scores,
        "--out",
        out,
    )
    one_error_line(result, message)
    assert "rerun `vlmprune search --model" in result.output
    assert not out.exists()


def test_a_single_variant_of_a_suite_dataset(searched, tiny_model_dir):
    root, tables, suite, scores = searched
    out = root / "single"
    result = run_cli(
        *("export", "--model", tiny_model_dir, "--suite", suite, "--scores-dir", scores),
        *("--task", "tally_qa", "--remove", 1, "--out", out, *EXPORT_FAST),
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert [v["name"] for v in manifest["variants"]] == ["tally_qa"]
    assert manifest["dataset_to_variant"] == dict.fromkeys(THREE, "tally_qa")
    assert manifest["provenance"]["suite"] == str(suite)
    assert manifest["provenance"]["seed"] == DRAW_SEED
    assert set(manifest["task_detector"]["labels"]) == {
        "scene_text_qa",
        "exact_match",
        "captioning",
    }


@pytest.mark.parametrize(
    ("command", "change", "message"),
    [
        (
            ["search", "--max-remove", "1", "--datasets", "text_vqa,tally_qaa"],
            {},
            "Unknown suite dataset 'tally_qaa'. Did you mean 'tally_qa'?",
        ),
        (
            ["export", "--task", "tally_qaa"],
            {},
            "Unknown suite dataset 'tally_qaa'. Did you mean 'tally_qa'?",
        ),
        (
            ["search", "--max-remove", "1"],
            {"task_type": "counting"},
            "[datasets.tally_qa] task_type: unknown task_type 'counting'.",
        ),
        (
            ["search", "--max-remove", "1"],
            {"test": 0},
            "tally_qa: the test split has 0 example(s); the search measures its chosen sets on "
            "it and needs at least 1",
        ),
        (
            ["scores", "--split", "test"],
            {},
            "text_vqa: the test split has 1 example(s); leave-one-out scores (split-half "
            "stability) need at least 2",
        ),
        (
            ["export", "--blocks", "1"],
            {"test": 0},
            "tally_qa: the test split has 0 example(s); the parity check and the variants' "
            "scores need at least 1",
        ),
    ],
)
def test_bad_suite_input_is_one_line_and_writes_nothing(
    tmp_path, tiny_model_dir, command, change, message
):
    suite = _suite(tmp_path / "suite.toml", _three_tables(tmp_path), **change)
    outputs = ["--scores-dir", tmp_path / "scores"]
    outputs += ["--out", tmp_path / "out"] if command[0] == "export" else ["--no-cache"]
    result = run_cli(*command, "--model", tiny_model_dir, "--suite", suite, *outputs)
    one_error_line(result, message)
    assert not (tmp_path / "scores").exists() and not (tmp_path / "out").exists()


# --- the task detector's samples ------------------------------------------------------------


def test_the_detector_learns_every_tables_calib_and_test_prompts(tmp_path):
    from vlmprune.export.manifest.suite_detector import fit_suite_detector, suite_prompts

    loaded = load_suite(write_seed_suite(tmp_path, calib=2, test=1))
    datasets = loaded.select()
    samples = suite_prompts(datasets)
    assert len(samples) == len(set(samples))  # distinct pairs
    for dataset in datasets:
        prompts = {d.prompt for split in ("calib", "test") for d in dataset.drafts(split)}
        assert {(p, dataset.task_type.value) for p in prompts} <= set(samples)
    section = fit_suite_detector(datasets, DatasetSuite.of_file(loaded))
    assert set(section["labels"]) == TASK_TYPES
    assert section["provenance"]["datasets"] == SEED
    assert section["provenance"]["n_pairs"] == len(samples)
    # One task type leaves nothing to tell apart: no detector (the runtime needs two labels).
    assert (
        fit_suite_detector(loaded.select("coco_2014_vqa,okvqa"), DatasetSuite.of_file(loaded))
        is None
    )
