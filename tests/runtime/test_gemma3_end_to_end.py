"""A tiny Gemma3 folder, exactly as downloaded, through the whole chain with the CLI:
eval -> search --max-remove 2 -> export --all-tasks -> manifest validate -> run (in a
process where torch and transformers cannot be imported). The export writes no
onnxruntime-genai folder for Gemma3 and says why."""

import json

import numpy as np
from export_helpers import run_cli, small_detector
from PIL import Image
from test_no_torch import CLI_SCRIPT, run_blocked

DATASETS = "shapes_vqa,code_match"
PROMPT = "What color is the circle?"


def test_gemma3_folder_from_eval_to_run_without_torch(gemma3_folder, tmp_path, monkeypatch):
    monkeypatch.setattr("vlmprune.export.manifest.detector.fit_task_detector", small_detector)
    model = gemma3_folder
    scores = tmp_path / "scores"
    common = ["--model", model, "--datasets", DATASETS, "--limit", 2, "--batch-size", 4]

    evaluated = run_cli("eval", *common, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert [r["dataset"] for r in json.loads(evaluated.stdout)["results"]] == DATASETS.split(",")

    searched = run_cli(
        "search", *common, "--max-remove", 2, "--beam-width", 2, "--scores-dir", scores,
        "--cache-dir", tmp_path / "cache", "--json",
    )  # fmt: skip
    assert searched.exit_code == 0, searched.output
    assert set(json.loads(searched.stdout)["best"]) == {"shapes_vqa", "code_match", "generic"}

    out = tmp_path / "variants"
    exported = run_cli(
        "export", "--all-tasks", "--model", model, "--scores-dir", scores, "--out", out,
        "--parity-examples", 2, "--score-examples", 2, "--batch-size", 4, "--json",
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    summary = json.loads(exported.stdout)
    assert {v["name"] for v in summary["variants"]} == {"generic", "shapes_vqa", "code_match"}
    assert all(v["parity"]["passed"] for v in summary["variants"])
    assert "no onnxruntime-genai folder for Gemma3" in summary["genai"]["skipped"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["architecture"] == "gemma3"
    assert manifest["model"]["decoder_layout"] == "traced"  # sliding window: no fused graph
    validated = run_cli("manifest", "validate", out / "manifest.json")
    assert validated.exit_code == 0, validated.output

    image = tmp_path / "photo.png"
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (70, 110, 3), dtype=np.uint8)).save(image)
    args = ["run", "--manifest", out / "manifest.json", image, PROMPT, "--max-new-tokens", 8]
    ran = run_blocked(CLI_SCRIPT, *map(str, args), "--json")
    assert ran.returncode == 0, ran.stderr
    answer = json.loads(ran.stdout)
    assert answer["variant"] == "generic" and answer["tokens"]
    assert answer["prompt_text"] == (
        f"<bos><start_of_turn>user\n<start_of_image>{PROMPT}<end_of_turn>\n<start_of_turn>model\n"
    )
