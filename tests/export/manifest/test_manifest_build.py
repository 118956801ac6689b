"""The manifest: schema, what export writes into it, and `vlmprune manifest validate`."""

import json
import shutil
from pathlib import Path

import onnx
import pytest
from export_helpers import DATASETS, run_cli

from vlmprune.export.manifest.build import (
    MANIFEST_SCHEMA,
    ManifestSchemaError,
    choose_task_type_variants,
    schema_problems,
    sha256_file,
    write_manifest,
)
from vlmprune.export.onnx.check import validate_manifest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def export_copy(tiny_export, tmp_path):
    """A private copy of the tiny export that a test may tamper with; its manifest path."""
    out, manifest, _ = tiny_export
    shutil.copytree(out, tmp_path / "copy")
    return tmp_path / "copy" / manifest.name


def _edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_schema_file_is_the_builders_schema():
    assert json.loads((ROOT / "manifests" / "schema.json").read_text()) == MANIFEST_SCHEMA


def test_fresh_export_manifest_holds_what_the_issue_asks(tiny_export):
    _, manifest_path, _ = tiny_export
    m = json.loads(manifest_path.read_text())
    assert m["schema_version"] == 1 and m["default_variant"] == "generic"
    names = [v["name"] for v in m["variants"]]
    assert names == ["generic", "shapes_vqa", "count_vqa", "code_match", "full"]
    assert m["dataset_to_variant"] == {d: d for d in DATASETS}
    # vqa has two datasets with different variants: chosen by mean calib relative drop.
    assert m["task_type_to_variant"]["vqa"] in ("shapes_vqa", "count_vqa")
    assert m["task_type_to_variant"]["exact_match"] == "code_match"
    evidence = m["task_type_selection"]["vqa"]
    assert evidence["split"] == "calib" and set(evidence["mean_calib_relative_drop"]) == {
        "shapes_vqa",
        "count_vqa",
    }
    generic = m["variants"][0]
    assert generic["removed_blocks"] == [1, 2] and generic["kept_blocks"] == [0, 3]
    assert generic["expected_drop"] == pytest.approx(0.03)
    assert set(generic["scores"]) == set(DATASETS)
    assert generic["parity"]["greedy_identical"] == generic["parity"]["n"] == 6
    assert m["variants"][-1]["removed_blocks"] == [] and m["variants"][-1]["expected_drop"] == 0.0
    assert all(not f["path"].startswith(("/", "..")) for v in m["variants"] for f in v["files"])
    assert (
        m["preprocessing"]["image_token_id"] == 4
        and m["preprocessing"]["tokenizer_file"] == "tokenizer.json"
    )
    assert m["generation"]["eos_token_id"] == 2 and m["generation"]["max_new_tokens"] >= 1
    assert m["task_detector"]["kind"] and 0 <= m["task_detector"]["threshold"] <= 1
    prov = m["provenance"]
    assert prov["model_hash"] == m["model"]["hash"] and prov["split"] == "test" and prov["n"] == 2
    assert prov["selection_rule"] == {"remove": 2} and set(prov["scores_files"]) == {
        "generic",
        *DATASETS,
    }
    assert schema_problems(m) == []


def test_the_runtime_reads_the_manifest(tiny_export):
    from vlmprune.runtime.manifest import load_manifest

    manifest = load_manifest(tiny_export[1])
    assert manifest.default_variant == "generic"
    assert manifest.variant("count_vqa").removed_blocks == (2, 3)


def test_validate_passes_on_a_fresh_export(tiny_export):
    result = run_cli("manifest", "validate", tiny_export[1])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("valid")


def test_validate_reports_a_tampered_file(export_copy):
    weights = export_copy.parent / "weights.bin"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF
    weights.write_bytes(bytes(data))
    problems = validate_manifest(export_copy, load_sessions=False)
    assert problems == [
        "shared.weights: 'weights.bin' has a different sha256 than the manifest (modified or corrupt)"
    ]
    result = run_cli("manifest", "validate", export_copy, "--no-load")
    assert result.exit_code != 0 and "different sha256" in result.output
    assert "Traceback" not in result.output


def test_validate_reports_a_tampered_hash_and_a_missing_file(export_copy):
    _edit(export_copy, lambda m: m["variants"][1]["files"][0].update(sha256="0" * 64))
    (export_copy.parent / "decoder_count_vqa.onnx").unlink()
    problems = validate_manifest(export_copy)
    assert len(problems) == 2
    assert problems[0].startswith(
        "variants[1].files[0]: 'decoder_shapes_vqa.onnx' has a different sha256"
    )
    assert problems[1] == "variants[2].files[0]: file 'decoder_count_vqa.onnx' is missing"


def test_validate_reports_a_wrong_io_name(export_copy):
    graph_path = export_copy.parent / "decoder_code_match.onnx"
    graph = onnx.load(str(graph_path), load_external_data=False)
    old = graph.graph.input[3].name
    graph.graph.input[3].name = "past.0.key"
    for node in graph.graph.node:
        node.input[:] = ["past.0.key" if n == old else n for n in node.input]
    onnx.save(graph, str(graph_path))
    digest, size = sha256_file(graph_path), graph_path.stat().st_size
    _edit(export_copy, lambda m: m["variants"][3]["files"][0].update(sha256=digest, size=size))
    problems = validate_manifest(export_copy)
    assert (
        "variants[3].files[0] (decoder_code_match.onnx): input 'past_key_values.0.key' is missing"
        in problems
    )
    assert (
        "variants[3].files[0] (decoder_code_match.onnx): unexpected input 'past.0.key'" in problems
    )


def test_validate_reports_kept_blocks_that_do_not_fit_the_graph(export_copy):
    def drop_a_block(m):
        m["variants"][0]["kept_blocks"] = [0, 2, 3]
        m["variants"][0]["removed_blocks"] = [1]

    _edit(export_copy, drop_a_block)
    problems = validate_manifest(export_copy, load_sessions=False)
    assert any("input 'past_key_values.2.key' is missing" in p for p in problems)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(schema_version=2), "schema_version 2 is newer"),
        (
            lambda m: m["shared"]["weights"].update(path="../weights.bin"),
            "field 'shared.weights.path'",
        ),
        (lambda m: m.update(default_variant="nope"), "'nope' is not a variant"),
        (lambda m: m["dataset_to_variant"].update(shapes_vqa="gone"), "'gone' is not a variant"),
        (lambda m: m["variants"][0].pop("kept_blocks"), "'kept_blocks' is a required property"),
    ],
)
def test_validate_reports_bad_fields(export_copy, change, message):
    _edit(export_copy, change)
    problems = validate_manifest(export_copy, load_sessions=False)
    assert any(message in p for p in problems), problems


def test_write_manifest_refuses_an_invalid_manifest_and_writes_nothing(tiny_export, tmp_path):
    manifest = json.loads(tiny_export[1].read_text())
    manifest["variants"][0]["files"][0]["sha256"] = "not-a-hash"
    target = tmp_path / "m.json"
    with pytest.raises(ManifestSchemaError, match=r"variants\[0\]\.files\[0\]\.sha256"):
        write_manifest(target, manifest)
    assert list(tmp_path.iterdir()) == []


def test_task_type_goes_to_the_variant_with_the_lower_mean_calib_drop():
    mapping, evidence = choose_task_type_variants(
        {"a": "a", "b": "b", "c": "c"},
        {"a": "vqa", "b": "vqa", "c": "doc_qa"},
        {"a": {"a": 0.05, "b": 0.30}, "b": {"a": 0.10, "b": 0.02}},
    )
    assert mapping == {"vqa": "b", "doc_qa": "c"}  # b: mean 0.06 < a: mean 0.175
    assert evidence["vqa"]["mean_calib_relative_drop"] == pytest.approx({"a": 0.175, "b": 0.06})
