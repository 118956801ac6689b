"""`vlmprune export`: end to end, single variants, and bad input with nothing half-written."""

import json

import pytest
from cli_helpers import one_error_line
from export_helpers import FAST, run_cli, write_scores

from vlmprune.export.onnx import build, folder, settings
from vlmprune.export.onnx.parity import Divergence, ParityReport


@pytest.fixture
def project(tmp_path, tiny_model_dir):
    """A working folder with fresh scores files for the tiny model; returns (root, base args)."""
    write_scores(tmp_path / "scores", tiny_model_dir)
    args = ["export", "--model", tiny_model_dir, "--scores-dir", tmp_path / "scores", *FAST]
    return tmp_path, args


def _leftovers(folder):
    return sorted(p.name for p in folder.rglob("*") if ".partial-" in p.name or ".old-" in p.name)


def test_all_tasks_end_to_end_summary(tiny_export):
    out, manifest, summary = tiny_export
    assert [v["name"] for v in summary["variants"]] == [
        "generic",
        "shapes_vqa",
        "count_vqa",
        "code_match",
        "full",
    ]
    assert summary["failed"] == []
    for variant in summary["variants"]:
        parity = variant["parity"]
        assert parity["passed"] and parity["prefill_max_abs_diff"] < 1e-4
        assert parity["decode_max_abs_diff"] < 1e-4 and parity["greedy_identical"] == parity["n"]
    assert summary["bytes_on_disk"] == sum(p.stat().st_size for p in out.iterdir())
    assert summary["weights"]["unique_tensors"] < summary["weights"]["references"]
    assert {"export", "parity", "scores", "total"} <= set(summary["seconds"])
    files = sorted(p.name for p in out.iterdir())
    assert "decoder_generic.onnx" in files and "weights.bin" in files and "manifest.json" in files
    assert _leftovers(out.parent) == []


def test_single_task_and_blocks_variants(project):
    root, args = project
    result = run_cli(*args, "--task", "count_vqa", "--remove", "1", "--out", root / "one", "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads((root / "one" / "manifest.json").read_text())
    (variant,) = manifest["variants"]
    assert variant["name"] == "count_vqa" and variant["removed_blocks"] == [2]
    assert manifest["default_variant"] == "count_vqa"
    result = run_cli(*args, "--blocks", "0,3", "--out", root / "two", "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads((root / "two" / "manifest.json").read_text())
    assert [(v["name"], v["objective"], v["removed_blocks"]) for v in manifest["variants"]] == [
        ("blocks_0_3", "custom", [0, 3])
    ]
    assert run_cli("manifest", "validate", root / "two" / "manifest.json").exit_code == 0


def test_max_drop_picks_the_largest_set_within_the_budget(project):
    root, args = project
    # generic: k=1 drops 1.5%, k=2 drops 3%  ->  --max-drop 2 keeps k = 1.
    result = run_cli(*args, "--task", "generic", "--max-drop", "2", "--out", root / "g", "--json")
    assert result.exit_code == 0, result.output
    (variant,) = json.loads(result.stdout)["variants"]
    assert variant["removed_blocks"] == [1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--all-tasks", "--remove", "4"], "--remove 4: the model has 4 blocks; remove at most 3"),
        (["--all-tasks", "--remove", "3"], "not k = 3; run `vlmprune search --model"),
        (["--all-tasks", "--task", "generic"], "give either --all-tasks, or --task"),
        (["--task", "count_vq"], "Unknown dataset 'count_vq'. Did you mean 'count_vqa'?"),
        (["--blocks", "0,1,2,3"], "cannot remove all 4"),
        (
            ["--all-tasks", "--remove", "1", "--max-drop", "2"],
            "--remove and --max-drop are alternatives",
        ),
    ],
)
def test_bad_requests_are_one_line_errors(project, extra, message):
    root, args = project
    result = run_cli(*args, *extra, "--out", root / "out")
    one_error_line(result, message)
    assert not (root / "out").exists()


def test_missing_scores_name_the_file_and_the_command(project, tiny_model_dir):
    root, args = project
    (root / "scores" / tiny_model_dir.name / "count_vqa.json").unlink()
    result = run_cli(*args, "--all-tasks", "--out", root / "out")
    one_error_line(
        result,
        "count_vqa.json is missing; create the scores with "
        f"`vlmprune search --model {tiny_model_dir} --scores-dir {root / 'scores'}`",
    )
    assert not (root / "out").exists()


def test_stale_scores_are_refused(project, tiny_model_dir):
    root, args = project
    write_scores(root / "scores", tiny_model_dir, model_hash="f" * 64)
    result = run_cli(*args, "--all-tasks", "--out", root / "out")
    one_error_line(result, "generic.json is stale: computed for model hash ffffffffffff")
    assert not (root / "out").exists()


def test_a_folder_of_another_model_is_never_replaced(project):
    root, args = project
    foreign = root / "foreign"
    foreign.mkdir()
    (foreign / settings.MARKER_FILE).write_text(
        json.dumps({"model": "other", "model_hash": "a" * 64})
    )
    (foreign / "weights.bin").write_bytes(b"theirs")
    result = run_cli(*args, "--all-tasks", "--out", foreign)
    one_error_line(result, "holds the export of another model ('other', hash aaaaaaaaaaaa")
    assert (foreign / "weights.bin").read_bytes() == b"theirs"
    stranger = root / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    one_error_line(run_cli(*args, "--all-tasks", "--out", stranger), "not a vlmprune export")
    outside = run_cli(
        *args, "--all-tasks", "--out", root / "a", "--manifest", root / "b" / "m.json"
    )
    one_error_line(outside, "is not inside the manifest's folder")


def test_interrupted_export_leaves_the_previous_export_untouched(project, monkeypatch):
    root, args = project
    out = root / "out"
    assert run_cli(*args, "--task", "generic", "--out", out).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    original = build.SharedWeightsWriter.add_graph

    def add_then_interrupt(self, model, file_name):
        path = original(self, model, file_name)
        if file_name.startswith("decoder_"):
            raise KeyboardInterrupt  # Ctrl-C after some files were written
        return path

    monkeypatch.setattr(build.SharedWeightsWriter, "add_graph", add_then_interrupt)
    result = run_cli(*args, "--task", "generic", "--remove", "1", "--out", out)
    assert result.exit_code != 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert _leftovers(root) == []


def test_a_variant_failing_parity_is_not_written_and_named(project, monkeypatch):
    root, args = project
    real = build.check_decoder

    def worse_for_count_vqa(vlm, decoder, embed, parity, config):
        report = real(vlm, decoder, embed, parity, config)
        if report.removed_blocks == (2, 3):  # count_vqa's set
            far = (Divergence("x#1", 0, 2.5), Divergence("y#3", 2, 0.75))
            return ParityReport((2, 3), 0.5, 0.25, config, 6, 4, far)
        return report

    monkeypatch.setattr(build, "check_decoder", worse_for_count_vqa)
    result = run_cli(*args, "--all-tasks", "--out", root / "out", "--json")
    one_error_line(
        result,
        "1 variant(s) failed parity and were not written: count_vqa (prefill max |Δlogit| 5.00e-01 > 1e-03",
    )
    assert (
        "greedy answers differ on 2/6 examples (x#1 at token 0, top-2 margin 2.5e+00"
        in result.output
    )
    manifest = json.loads((root / "out" / "manifest.json").read_text())
    assert [v["name"] for v in manifest["variants"]] == ["generic", "shapes_vqa", "code_match"]
    assert manifest["dataset_to_variant"]["count_vqa"] == "generic"
    assert not (root / "out" / "decoder_count_vqa.onnx").exists()
    assert (
        run_cli("manifest", "validate", root / "out" / "manifest.json", "--no-load").exit_code == 0
    )


def test_failing_default_variant_writes_nothing(project, monkeypatch):
    root, args = project
    monkeypatch.setattr(
        build,
        "check_decoder",
        lambda vlm, d, e, p, c: ParityReport((1, 2), 1.0, 1.0, c, 6, 0),
    )
    result = run_cli(*args, "--all-tasks", "--out", root / "out")
    one_error_line(result, "the default variant 'generic' failed parity")
    assert not (root / "out").exists() and _leftovers(root) == []


def test_a_full_disk_is_one_line_and_leaves_nothing(project, monkeypatch):
    root, args = project

    def no_space(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(build.SharedWeightsWriter, "_store", no_space)
    result = run_cli(*args, "--task", "generic", "--out", root / "out")
    one_error_line(result, "writing the export failed ([Errno 28] No space left on device)")
    assert not (root / "out").exists() and _leftovers(root) == []


def test_leftovers_of_killed_exports_are_cleaned_or_restored(tmp_path):
    out = tmp_path / "demo"
    dead = 2**22 + 12345  # above the default pid_max: no such process
    (tmp_path / f".demo.partial-{dead}").mkdir()
    (tmp_path / f".demo.old-{dead}").mkdir()
    (tmp_path / f".demo.old-{dead}" / "weights.bin").write_bytes(b"previous")
    staging = folder.staging_folder(out)
    assert (out / "weights.bin").read_bytes() == b"previous"  # killed mid-swap: put back
    assert sorted(p.name for p in tmp_path.iterdir()) == [staging.name, "demo"]


def test_default_layout_is_gqa_and_traced_on_request(tiny_export, project):
    _, manifest, summary = tiny_export
    assert summary["decoder_layout"] == "gqa" and summary["precision"] == "fp32"
    written = json.loads(manifest.read_text())
    assert written["model"]["decoder_layout"] == "gqa"
    assert {v["precision"] for v in written["variants"]} == {"fp32"}
    root, args = project
    out = root / "traced"
    result = run_cli(*args, "--blocks", "1", "--decoder-layout", "traced", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["decoder_layout"] == "traced"
    assert run_cli("manifest", "validate", out / "manifest.json").exit_code == 0


def test_int4_export_validates_answers_and_states_its_score_change(project):
    """The CI check of a quantized export: MatMulNBits graphs, validated, run, measured."""
    import onnx

    root, args = project
    out = root / "int4"
    result = run_cli(
        *args, "--blocks", "1", "--include-full", "--quantize", "int4", "--out", out, "--json"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["precision"] == "int4" and summary["seconds"]["quantize"] > 0
    manifest = json.loads((out / "manifest.json").read_text())
    for variant in manifest["variants"]:
        assert variant["precision"] == "int4"
        q = variant["quantization"]
        assert q["method"].startswith("MatMulNBits 4-bit")
        assert 0 <= q["parity"]["greedy_identical"] <= q["parity"]["n"] > 0
        assert set(q["score_change"]) == set(variant["scores"]) == set(q["fp32_scores"])
        for dataset, change in q["score_change"].items():
            assert change == variant["scores"][dataset] - q["fp32_scores"][dataset]
        ops = {n.op_type for n in onnx.load(out / variant["files"][0]["path"]).graph.node}
        assert "MatMulNBits" in ops and "GroupQueryAttention" in ops
    assert run_cli("manifest", "validate", out / "manifest.json").exit_code == 0

    from PIL import Image

    from vlmprune.runtime.api import Runtime

    runtime = Runtime.from_manifest(out / "manifest.json")
    answer = runtime.generate(Image.new("RGB", (40, 40), (200, 30, 30)), "What color is it?")
    assert answer.variant == "blocks_1" and answer.tokens


def test_unknown_precision_is_refused_before_anything_is_written(project):
    root, args = project
    result = run_cli(*args, "--blocks", "1", "--quantize", "int3", "--out", root / "x")
    assert result.exit_code != 0 and "'int3' is not one of" in result.output
    assert not (root / "x").exists()


def test_fp16_export_writes_fp16_graphs_validates_and_records_its_parity(project):
    """--dtype fp16: float16 KV and logits, float32 inputs_embeds, measured on the CPU
    provider (onnxruntime 1.32 has the kernels) and answered by the runtime."""
    import onnx

    root, args = project
    out = root / "fp16"
    result = run_cli(*args, "--blocks", "1", "--dtype", "fp16", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["dtype"] == "fp16" and summary["precision"] == "fp32"
    manifest = json.loads((out / "manifest.json").read_text())
    (variant,) = manifest["variants"]
    assert variant["dtype"] == "fp16"
    half = variant["fp16"]
    assert half["provider"] == "CPUExecutionProvider" and "float16" in half["method"]
    assert 0 < half["parity"]["n"] and half["parity"]["prefill_max_abs_diff"] < 0.05
    assert set(half["score_change"]) == set(variant["scores"]) == set(half["fp32_scores"])
    graph = onnx.load(out / variant["files"][0]["path"], load_external_data=False)
    types = {
        v.name: v.type.tensor_type.elem_type for v in (*graph.graph.input, *graph.graph.output)
    }
    f16, f32, i64 = onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT, onnx.TensorProto.INT64
    assert types["inputs_embeds"] == f32 and types["past_key_values.0.key"] == f16
    assert types["logits"] == f16 and types["present.0.value"] == f16
    assert types["next_tokens"] == i64
    assert run_cli("manifest", "validate", out / "manifest.json").exit_code == 0

    from PIL import Image

    from vlmprune.runtime.api import Runtime

    runtime = Runtime.from_manifest(out / "manifest.json")
    assert runtime.manifest.variants[0].dtype.value == "fp16"
    answer = runtime.generate(Image.new("RGB", (40, 40), (200, 30, 30)), "What color is it?")
    assert answer.variant == "blocks_1" and answer.tokens


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--quantize", "int4"], "--dtype fp16 converts fp32 weights; --quantize int4"),
        (["--decoder-layout", "traced"], "--dtype fp16 is written for the gqa decoder layout"),
    ],
)
def test_fp16_with_what_it_cannot_combine_is_one_line(project, extra, message):
    root, args = project
    result = run_cli(*args, "--blocks", "1", "--dtype", "fp16", *extra, "--out", root / "x")
    one_error_line(result, message)
    assert not (root / "x").exists()


def test_unknown_dtype_is_a_usage_error(project):
    root, args = project
    result = run_cli(*args, "--blocks", "1", "--dtype", "bf16", "--out", root / "x")
    assert result.exit_code == 2 and "'bf16' is not one of 'fp32', 'fp16'" in result.output
    assert not (root / "x").exists()


def test_fp16_the_cpu_provider_cannot_run_is_written_and_reported_not_measured(
    project, monkeypatch
):
    """An onnxruntime without fp16 CPU kernels (simulated): the fp16 files are still written,
    `fp16.parity` is null with the reason, and the scores are PyTorch's fp32 ones."""
    import onnx

    real = build.session_from_proto

    def no_fp16(model, *args, **kwargs):
        types = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
        if types.get("past_key_values.0.key") == onnx.TensorProto.FLOAT16:
            raise RuntimeError("NOT_IMPLEMENTED : Could not find an implementation for MatMul")
        return real(model, *args, **kwargs)

    monkeypatch.setattr(build, "session_from_proto", no_fp16)
    root, args = project
    out = root / "fp16-unmeasured"
    result = run_cli(*args, "--blocks", "1", "--dtype", "fp16", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    (variant,) = json.loads((out / "manifest.json").read_text())["variants"]
    half = variant["fp16"]
    assert variant["dtype"] == "fp16" and half["parity"] is None
    assert "cannot run the fp16 graph: NOT_IMPLEMENTED" in half["not_measured"]
    assert half["fp32_scores"] == variant["scores"] and half["score_change"] == {}
    assert run_cli("manifest", "validate", out / "manifest.json").exit_code == 0
