"""A tiny Qwen2.5-VL folder, exactly as downloaded, through the whole chain with the CLI:
eval -> search -> compare -> export --all-tasks (gqa decoders, the default) -> manifest
validate -> run (in a process where torch and transformers cannot be imported) -> export
--genai (traced decoders, which onnxruntime-genai can feed) -> onnxruntime-genai on that
folder gives the same tokens as `vlmprune run` on the gqa export."""

import json

import numpy as np
import pytest
from export_helpers import run_cli, small_detector
from PIL import Image
from test_no_torch import BLOCKED, CLI_SCRIPT, run_blocked

DATASETS = "shapes_vqa,code_match"
PROMPT = "What color is the circle?"


def test_qwen_folder_from_eval_to_onnxruntime_genai(qwen_folder, tmp_path, monkeypatch):
    monkeypatch.setattr("vlmprune.export.manifest.detector.fit_task_detector", small_detector)
    model = qwen_folder("qwen2_5_vl")
    scores, cache = tmp_path / "scores", tmp_path / "cache"
    common = ["--model", model, "--datasets", DATASETS, "--limit", 2, "--batch-size", 4]

    evaluated = run_cli("eval", *common, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert [r["dataset"] for r in json.loads(evaluated.stdout)["results"]] == DATASETS.split(",")

    searched = run_cli(
        "search", *common, "--max-remove", 2, "--beam-width", 2, "--scores-dir", scores,
        "--cache-dir", cache, "--json",
    )  # fmt: skip
    assert searched.exit_code == 0, searched.output
    assert set(json.loads(searched.stdout)["best"]) == {"shapes_vqa", "code_match", "generic"}
    compared = run_cli("compare", "--model", model.name, "--scores-dir", scores, "--json")
    assert compared.exit_code == 0, compared.output

    out = tmp_path / "variants"
    exported = run_cli(
        "export", "--all-tasks", "--model", model, "--scores-dir", scores, "--out", out,
        "--parity-examples", 2, "--score-examples", 2, "--batch-size", 4, "--json",
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    summary = json.loads(exported.stdout)
    assert {v["name"] for v in summary["variants"]} == {"generic", "shapes_vqa", "code_match"}
    assert summary["decoder_layout"] == "gqa"
    assert "does not feed the gqa decoder's seqlens_k" in summary["genai"]["skipped"]
    validated = run_cli("manifest", "validate", out / "manifest.json")
    assert validated.exit_code == 0, validated.output

    image = tmp_path / "photo.png"
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (180, 250, 3), dtype=np.uint8)).save(image)
    args = ["run", "--manifest", out / "manifest.json", image, PROMPT, "--max-new-tokens", 8]
    ran = run_blocked(CLI_SCRIPT, *map(str, args), "--json")
    assert ran.returncode == 0, ran.stderr
    answer = json.loads(ran.stdout)
    assert answer["variant"] == "generic" and answer["prompt_text"].endswith(
        f"<|vision_start|><|image_pad|><|vision_end|>{PROMPT}<|im_end|>\n<|im_start|>assistant\n"
    )
    check = (
        f"import sys\nprint(sorted(m for m in sys.modules if m.partition('.')[0] in {BLOCKED!r}))"
    )
    assert run_blocked("import vlmprune.runtime.api\n" + check).stdout.strip() == "[]"

    og = pytest.importorskip("onnxruntime_genai", reason="onnxruntime-genai is not installed")
    from vlmprune.export.onnx.genai import generate

    out = tmp_path / "genai"
    exported = run_cli(
        "export", "--all-tasks", "--model", model, "--scores-dir", scores, "--out", out,
        "--parity-examples", 2, "--score-examples", 2, "--batch-size", 4, "--genai", "--json",
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["decoder_layout"] == "traced"
    manifest = json.loads((out / "manifest.json").read_text())
    generic = next(v for v in manifest["variants"] if v["name"] == "generic")
    genai_model = og.Model(str(out / generic["genai_dir"]))
    tokens = generate(
        og, genai_model, genai_model.create_multimodal_processor(), answer["prompt_text"], image
    )
    stops = manifest["generation"]["eos_token_ids"]
    assert (
        tokens[: next((i for i, t in enumerate(tokens) if t in stops), len(tokens))]
        == answer["tokens"]
    )
