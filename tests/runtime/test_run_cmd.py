"""`vlmprune run`: answer, variant and reason; warnings and errors as one line."""

import json

import pytest
from click.testing import CliRunner
from conftest import edit_manifest
from PIL import Image

from vlmprune.export.cli import main

PROMPT = "What color is the circle?"


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "red.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(path)
    return str(path)


def run(*args):
    return CliRunner().invoke(main, ["run", *args])


def test_prints_answer_variant_and_reason(toy_manifest, image):
    out = run("--manifest", str(toy_manifest), image, PROMPT, "--task-hint", "code_match")
    assert out.exit_code == 0, out.output
    answer, why = out.output.splitlines()
    assert answer and why == "variant 'code_match': the hint names dataset 'code_match'"


def test_json(toy_manifest, image):
    out = run(
        "--manifest", str(toy_manifest), image, "Read the code in the box.", "--detect", "--json"
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert (data["variant"], data["reason"]) == ("code_match", "detected")
    # the text after the template, the image placeholder once (expanded to its tokens later)
    assert data["prompt_text"] == "<s> user : <image> Read the code in the box. assistant :"
    assert set(data["timings_ms"]) == {"preprocess_ms", "vision_ms", "prefill_ms", "decode_ms"}


def test_unknown_hint_warns_one_line_then_answers(toy_manifest, image):
    out = run("--manifest", str(toy_manifest), image, PROMPT, "--task-hint", "poetry")
    assert out.exit_code == 0
    assert "warning: unknown task hint 'poetry'; valid hints: shapes_vqa" in out.stderr
    assert out.stdout.splitlines()[1].startswith("variant 'generic': unknown task hint")


def test_unknown_hint_strict_fails(toy_manifest, image):
    out = run("--manifest", str(toy_manifest), image, PROMPT, "--task-hint", "poetry", "--strict")
    assert out.exit_code == 1
    assert out.stderr.strip().splitlines() == [
        "Error: unknown task hint 'poetry'; valid hints: shapes_vqa, count_vqa, code_match, vqa, exact_match, generic"
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.png", PROMPT], "Error: image not found: missing.png"),
        (["IMAGE", " "], "Error: the prompt is empty"),
    ],
)
def test_bad_input_one_line(toy_manifest, image, args, message):
    args = [image if a == "IMAGE" else a for a in args]
    out = run("--manifest", str(toy_manifest), *args)
    assert out.exit_code == 1 and out.stderr.strip().splitlines() == [message]


def test_bad_manifest_one_line(toy_manifest, image):
    edit_manifest(toy_manifest, lambda d: d.update(schema_version=9))
    out = run("--manifest", str(toy_manifest), image, PROMPT)
    assert out.exit_code == 1
    lines = out.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and "schema_version 9 is newer than this runtime reads (up to 1)" in lines[0]
    )


def test_tampered_file_one_line_no_verify_skips(toy_manifest, image):
    tok = toy_manifest.parent / "variants" / "tokenizer.json"
    tok.write_text(tok.read_text() + " ")
    out = run("--manifest", str(toy_manifest), image, PROMPT)
    assert out.exit_code == 1 and "tokenizer.json: sha256" in out.stderr
    assert run("--manifest", str(toy_manifest), image, PROMPT, "--no-verify").exit_code == 0


def test_fast_mode_same_answer(toy_manifest, image):
    shared = run("--manifest", str(toy_manifest), image, PROMPT, "--json")
    fast = run("--manifest", str(toy_manifest), image, PROMPT, "--json", "--fast")
    assert json.loads(shared.output)["tokens"] == json.loads(fast.output)["tokens"]
