"""`vlmprune profile` on a real (tiny) export: table, JSON, PNG, --write-manifest, bad input."""

import json

import pytest
from cli_helpers import one_error_line
from click.testing import CliRunner
from tiny_export import export_variants

from vlmprune.export.cli import main
from vlmprune.export.onnx.check import validate_manifest

FAST = ["--runs", "2", "--warmup", "1", "--prompt-tokens", "4", "--new-tokens", "3"]
NUM_BLOCKS = 4


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory, tiny_vlm):
    """full, one and two blocks removed, exported by the builder's pipeline."""
    from vlmprune.export.manifest.variants import VariantSpec, full_variant

    out = tmp_path_factory.mktemp("profile_export") / "tiny"
    specs = [
        VariantSpec("generic", "generic", None, (1,), 0.01),
        VariantSpec("blocks_0_3", "custom", None, (0, 3), None),
        full_variant(),
    ]
    return export_variants(tiny_vlm, out, specs, ("shapes_vqa",), examples=2)


@pytest.fixture
def manifest(tiny_export, tmp_path):
    """A private copy of the export (the tests write into its manifest)."""
    import shutil

    copy = tmp_path / "tiny"
    shutil.copytree(tiny_export.parent, copy)
    return copy / "manifest.json"


def run(*args):
    return CliRunner().invoke(main, ["profile", *[str(a) for a in args]])


def test_table_json_plot_and_manifest(manifest, tmp_path):
    out_json, out_png = tmp_path / "p.json", tmp_path / "p.png"
    result = run("--manifest", manifest, *FAST, "--json", out_json, "--plot", out_png,
                 "--write-manifest")  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "baseline: 'full' (nothing removed)" in lines
    assert any(line.startswith("full ") for line in lines)
    assert any(line.startswith("blocks_0_3 ") and " 0,3 " in line for line in lines)
    data = json.loads(out_json.read_text())
    assert {"provider", "device", "variants"} <= set(data)
    assert data["provider"] == "CPUExecutionProvider"
    by_name = {v["name"]: v for v in data["variants"]}
    assert set(by_name) == {"generic", "blocks_0_3", "full"}
    for v in data["variants"]:
        assert {"name", "removed_blocks", "ttft_ms", "decode_ms_per_token", "tokens_per_s",
                "speedup_vs_full", "ideal_speedup"} <= set(v)  # fmt: skip
        for key in ("ttft_ms", "decode_ms_per_token", "tokens_per_s"):
            assert set(v[key]) == {"p50", "p90", "p95", "p99", "mean"}
            assert v[key]["p50"] <= v[key]["p90"] <= v[key]["p95"] <= v[key]["p99"]
        k = len(v["removed_blocks"])
        assert v["ideal_speedup"] == pytest.approx(NUM_BLOCKS / (NUM_BLOCKS - k))
    assert by_name["full"]["speedup_vs_full"] == 1.0
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --write-manifest: still valid for the builder's full check (schema, files, graphs)
    assert validate_manifest(manifest, load_sessions=False) == []
    written = json.loads(manifest.read_text())
    for variant in written["variants"]:
        entry = variant["latency"]["CPUExecutionProvider"]
        assert entry["device"] == data["device"]
        assert entry["request_ms"] == by_name[variant["name"]]["request_ms"]


def test_json_to_stdout_and_ort_profile(manifest, tmp_path):
    result = run("--manifest", manifest, *FAST, "--variants", "generic", "--json", "-",
                 "--ort-profile", tmp_path / "ort")  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [v["name"] for v in data["variants"]] == ["full", "generic"]  # baseline added
    graphs = data["operator_profile"]["generic"]
    assert [g["graph"] for g in graphs] == ["vision_encoder", "embed_tokens", "decoder_generic"]
    ops = graphs[-1]["operators"]
    assert {"MatMul"} <= {o["op_type"] for o in ops}
    assert sum(o["share"] for o in ops) <= 1.0 + 1e-9
    assert len(list((tmp_path / "ort").glob("*.json"))) == 6  # 3 graphs x 2 variants


@pytest.mark.parametrize(
    "args, message",
    [
        (["--runs", "0"], "--runs must be >= 1, not 0"),
        (["--runs", "-2"], "--runs must be >= 1, not -2"),
        (["--warmup", "-1"], "--warmup must be >= 0, not -1"),
        (["--new-tokens", "0"], "--new-tokens must be >= 2, not 0"),
        (["--new-tokens", "1"], "--new-tokens must be >= 2, not 1 (the first token"),
        (["--prompt-tokens", "0"], "--prompt-tokens must be >= 1, not 0"),
        (["--batch", "0"], "--batch must be >= 1, not 0"),
        (["--prompt-tokens", "5000"], "exceeds the model's context of 256 tokens"),
        (["--new-tokens", "250"], "+ 250 new tokens exceeds the model's context of 256"),
        (["--variants", "generic,nope"], "no variant 'nope'"),
    ],
)
def test_bad_input_is_one_line(manifest, args, message):
    one_error_line(run("--manifest", manifest, *args), message)


def test_cuda_unavailable(manifest, monkeypatch):
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    result = run("--manifest", manifest, "--provider", "cuda", *FAST)
    one_error_line(result, "CUDA is not available to onnxruntime here")
    assert "full " not in result.output  # nothing ran on the CPU instead


def test_missing_manifest(tmp_path):
    one_error_line(run("--manifest", tmp_path / "nope.json"), "manifest not found")


def test_plot_without_matplotlib(manifest, monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.partition(".")[0] == "matplotlib":
            raise ImportError("no matplotlib")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    one_error_line(
        run("--manifest", manifest, "--plot", tmp_path / "p.png"), "--plot needs matplotlib"
    )
