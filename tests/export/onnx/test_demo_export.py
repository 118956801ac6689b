"""The committed demo scores drive a real export, and the runtime matches PyTorch on it.

A sample of the full figure in docs/runtime.md (every variant, 200 test examples each): one
variant of the trained demo, exported from the committed scores/demo files, answers a few
test examples of every dataset exactly as the PyTorch pruned model does.
"""

import json
from pathlib import Path

import pytest
from export_helpers import run_cli

from vlmprune.export.evaluation.evaluate import Evaluator
from vlmprune.export.models.loading import load_vlm
from vlmprune.export.search.files import read_scores
from vlmprune.export.tasks.base import Split
from vlmprune.export.tasks.catalog import all_datasets
from vlmprune.runtime import Request, Runtime

SCORES = Path(__file__).resolve().parents[3] / "scores"
PER_DATASET = 2


@pytest.fixture(scope="module")
def demo_export(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "variants"
    result = run_cli(
        "export", "--model", "demo", "--task", "generic", "--remove", "2",
        "--scores-dir", SCORES, "--out", out, "--parity-examples", "8",
        "--score-examples", "2", "--batch-size", "8", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out / "manifest.json", json.loads(result.output)


def test_committed_scores_belong_to_the_shipped_demo():
    model_hash = load_vlm("demo").model_hash
    names = [d.name for d in all_datasets()] + ["generic"]
    for name in names:
        doc = read_scores(SCORES / "demo" / f"{name}.json")
        assert doc["provenance"]["model_hash"] == model_hash, name
        assert [b["k"] for b in doc["search"]["best"]] == [1, 2, 3, 4], name


def test_demo_generic_variant_exports_and_validates(demo_export):
    manifest_path, summary = demo_export
    generic = json.loads((SCORES / "demo" / "generic.json").read_text())
    (variant,) = summary["variants"]
    assert variant["removed_blocks"] == generic["search"]["best"][1]["removed_blocks"]
    assert variant["parity"]["greedy_identical"] == variant["parity"]["n"] == 8
    assert run_cli("manifest", "validate", manifest_path).exit_code == 0


def test_runtime_answers_equal_pytorch_on_the_demo_variant(demo_export):
    manifest_path, summary = demo_export
    removed = tuple(summary["variants"][0]["removed_blocks"])
    runtime = Runtime.from_manifest(manifest_path)
    evaluator = Evaluator(load_vlm("demo"), batch_size=8)
    for dataset in all_datasets():
        examples = list(dataset.examples(Split.TEST, PER_DATASET))
        prepared = evaluator.prepare(dataset, Split.TEST, PER_DATASET)
        reference = evaluator.predictions(prepared, removed)
        results = runtime.generate_batch(
            [Request(e.image, e.prompt) for e in examples], max_new_tokens=prepared.max_new_tokens
        )
        assert [r.text for r in results] == reference, dataset.name
        assert {r.variant for r in results} == {"generic"}
