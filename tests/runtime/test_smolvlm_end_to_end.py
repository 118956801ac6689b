"""A tiny SmolVLM folder, exactly as downloaded, through the whole chain with the CLI:
eval -> search --max-remove 2 -> export --all-tasks -> manifest validate -> run (in a
process where torch and transformers cannot be imported). onnxruntime-genai has no type for
this architecture: the export says so and writes no genai folder. A folder whose image
processor asks for tiles the vision tower cannot take fails `eval` with one line."""

import json

import numpy as np
from export_helpers import run_cli, small_detector
from PIL import Image
from smolvlm_folders import make_folder
from test_no_torch import CLI_SCRIPT, run_blocked

DATASETS = "shapes_vqa,code_match"
PROMPT = "What color is the circle?"


def test_smolvlm_folder_from_eval_to_run_without_torch(smolvlm_folder, tmp_path, monkeypatch):
    monkeypatch.setattr("vlmprune.export.manifest.detector.fit_task_detector", small_detector)
    model = smolvlm_folder("smolvlm")
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
    best = json.loads(searched.stdout)["best"]
    assert set(best) == {"shapes_vqa", "code_match", "generic"}

    out = tmp_path / "variants"
    exported = run_cli(
        "export", "--all-tasks", "--model", model, "--scores-dir", scores, "--out", out,
        "--parity-examples", 2, "--score-examples", 2, "--batch-size", 4, "--json",
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    summary = json.loads(exported.stdout)
    assert {v["name"] for v in summary["variants"]} == {"generic", "shapes_vqa", "code_match"}
    assert all(v["parity"]["passed"] for v in summary["variants"])
    assert "has no smolvlm or idefics3 model type" in summary["genai"]["skipped"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["architecture"] == "smolvlm"
    assert all("genai_dir" not in v for v in manifest["variants"])
    assert not [p for p in out.rglob("genai_config.json")]
    validated = run_cli("manifest", "validate", out / "manifest.json")
    assert validated.exit_code == 0, validated.output

    image = tmp_path / "photo.png"
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (70, 110, 3), dtype=np.uint8)).save(image)  # 6 tiles + 1
    args = ["run", "--manifest", out / "manifest.json", image, PROMPT, "--max-new-tokens", 8]
    ran = run_blocked(CLI_SCRIPT, *map(str, args), "--json")
    assert ran.returncode == 0, ran.stderr
    answer = json.loads(ran.stdout)
    assert answer["variant"] == "generic" and answer["tokens"]
    assert answer["prompt_text"] == (
        f"<|im_start|>User:<image>{PROMPT}<end_of_utterance>\nAssistant:"
    )


def test_a_tile_size_the_vision_tower_cannot_take_fails_eval_in_one_line(tmp_path):
    folder = make_folder("idefics3", tmp_path / "bad", max_image_size={"longest_edge": 48})
    result = run_cli("eval", "--model", folder, "--datasets", "shapes_vqa", "--limit", 1)
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        f"Error: {folder / 'preprocessor_config.json'}: field 'max_image_size.longest_edge' "
        "(48) is not the vision tower's tile size (config.json 'vision_config.image_size' = 32)"
    ]
