"""Manifest validation and file integrity: every refusal names the file or the field."""

import dataclasses
import json
import os

import pytest
from conftest import edit_manifest
from PIL import Image

from vlmprune.runtime import (
    IntegrityError,
    ManifestError,
    Runtime,
    UnsafePathError,
    UnsupportedSchemaError,
    VariantUnavailableError,
)
from vlmprune.runtime.manifest import SCHEMA_VERSION, load_manifest

IMAGE = Image.new("RGB", (8, 8), (200, 30, 30))
PROMPT = "What color is the circle?"


def test_loads_typed_manifest(toy_manifest):
    m = load_manifest(toy_manifest)
    assert m.variant_names == ("generic", "shapes_vqa", "code_match")
    generic = m.variant("generic")
    assert generic.removed_blocks == (1,) and generic.kept_blocks == (0, 2, 3)
    assert generic.decoder.path == toy_manifest.parent / "variants" / "decoder_generic.onnx"
    assert m.generation.context_length == 64 and m.image_token_id == 4
    assert m.task_detector is not None and 0 < m.task_detector.threshold <= 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.default_variant = "x"


def _set(path, value):
    """A change that sets a dotted field path ('variants.0.files.0.path') to value."""

    def change(d):
        *head, last = path.split(".")
        for key in head:
            d = d[int(key)] if isinstance(d, list) else d[key]
        d[int(last) if isinstance(d, list) else last] = value

    return change


@pytest.mark.parametrize(
    "field, value, error, match",
    [
        (
            "schema_version",
            SCHEMA_VERSION + 1,
            UnsupportedSchemaError,
            r"schema_version 2 is newer",
        ),
        (
            "variants.1.files.0.path",
            "/etc/passwd",
            UnsafePathError,
            r"variants\[1\]\.files\[0\]\.path' is an absolute path",
        ),
        (
            "shared.weights.path",
            "../../outside.bin",
            UnsafePathError,
            r"shared\.weights\.path.*'\.\.'",
        ),
        (
            "preprocessing.tokenizer_file",
            "variants/../../x.json",
            UnsafePathError,
            r"tokenizer_file.*'\.\.'",
        ),
        (
            "variants.0.files.0.sha256",
            "abc",
            ManifestError,
            r"variants\[0\]\.files\[0\]\.sha256' must be 64",
        ),
        ("default_variant", "nope", ManifestError, r"'default_variant' 'nope' is not a variant"),
        (
            "task_type_to_variant.vqa",
            "missing",
            ManifestError,
            r"task_type_to_variant\.vqa' names variant 'missing'",
        ),
        ("variants.0.kept_blocks", [0, 2], ManifestError, r"variants\[0\]'.*partition"),
        (
            "generation.max_new_tokens",
            "32",
            ManifestError,
            r"generation\.max_new_tokens' must be an integer",
        ),
        (
            "task_detector.weight_scale",
            [1.0],
            ManifestError,
            r"'task_detector' invalid .*weight_scale",
        ),
        (
            "generation.eos_token_ids",
            [7, 2],
            ManifestError,
            r"generation\.eos_token_ids' must be a list of token ids starting with eos_token_id",
        ),
        ("variants.0.genai_dir", "../genai", UnsafePathError, r"variants\[0\]\.genai_dir.*'\.\.'"),
        (
            "model.architecture",
            "gemma4",
            ManifestError,
            r"'model\.architecture' 'gemma4' is not an architecture this runtime runs "
            r"\(supported: gemma3, idefics3, llava, qwen2_5_vl, qwen2_vl, smolvlm\)",
        ),
    ],
)
def test_invalid_manifest_refused_naming_field(toy_manifest, field, value, error, match):
    edit_manifest(toy_manifest, _set(field, value))
    with pytest.raises(error, match=match):
        load_manifest(toy_manifest)


def test_missing_field_named(toy_manifest):
    edit_manifest(toy_manifest, lambda d: d["generation"].pop("eos_token_id"))
    with pytest.raises(ManifestError, match=r"'generation\.eos_token_id' is missing"):
        load_manifest(toy_manifest)


def test_unreadable_manifest(tmp_path):
    with pytest.raises(ManifestError, match="manifest not found"):
        load_manifest(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest(bad)


def test_symlink_leaving_the_folder_refused(toy_manifest, tmp_path):
    outside = tmp_path / "elsewhere.onnx"
    outside.write_bytes(b"x")
    os.symlink(outside, toy_manifest.parent / "variants" / "link.onnx")
    edit_manifest(toy_manifest, _set("variants.0.files.0.path", "variants/link.onnx"))
    with pytest.raises(UnsafePathError, match="resolves outside"):
        load_manifest(toy_manifest)


def test_tampered_variant_refused_others_keep_working(toy_manifest):
    decoder = toy_manifest.parent / "variants" / "decoder_code_match.onnx"
    data = bytearray(decoder.read_bytes())
    data[-5] ^= 0xFF
    decoder.write_bytes(bytes(data))
    runtime = Runtime.from_manifest(toy_manifest)
    with pytest.raises(
        IntegrityError, match=r"decoder_code_match\.onnx: sha256 .*\(variants\[2\]\.files\[0\]\)"
    ) as info:
        runtime.generate(IMAGE, PROMPT, task_hint="code_match")
    assert info.value.path.endswith("decoder_code_match.onnx")
    assert runtime.generate(IMAGE, PROMPT).variant == "generic"
    assert runtime.generate(IMAGE, PROMPT, task_hint="vqa").variant == "shapes_vqa"


def test_truncated_file_refused_with_and_without_hash_check(toy_manifest):
    decoder = toy_manifest.parent / "variants" / "decoder_shapes_vqa.onnx"
    decoder.write_bytes(decoder.read_bytes()[:100])
    with pytest.raises(IntegrityError, match="decoder_shapes_vqa.onnx"):
        Runtime.from_manifest(toy_manifest).generate(IMAGE, PROMPT, task_hint="vqa")
    # verify=False skips the hash, but onnxruntime still refuses the graph: a clear error
    fast = Runtime.from_manifest(toy_manifest, verify=False)
    with pytest.raises(
        VariantUnavailableError,
        match="shapes_vqa: onnxruntime cannot load .*decoder_shapes_vqa.onnx",
    ):
        fast.generate(IMAGE, PROMPT, task_hint="vqa")
    assert fast.generate(IMAGE, PROMPT).variant == "generic"


def test_size_mismatch_caught_even_without_hash(toy_manifest):
    weights = toy_manifest.parent / "variants" / "weights.bin"
    size = weights.stat().st_size
    edit_manifest(toy_manifest, _set("shared.weights.size", size + 1))
    with pytest.raises(
        IntegrityError, match=r"weights\.bin: .* bytes, the manifest \(shared\.weights\) says"
    ):
        Runtime.from_manifest(toy_manifest, verify=False).generate(IMAGE, PROMPT)


def test_missing_variant_file_is_variant_unavailable(toy_manifest):
    (toy_manifest.parent / "variants" / "decoder_code_match.onnx").unlink()
    runtime = Runtime.from_manifest(toy_manifest)
    with pytest.raises(
        VariantUnavailableError, match=r"code_match: .*decoder_code_match\.onnx .*is missing"
    ) as info:
        runtime.generate(IMAGE, PROMPT, task_hint="exact_match")
    assert info.value.variant == "code_match"
    assert runtime.generate(IMAGE, PROMPT, task_hint="vqa").variant == "shapes_vqa"


def test_verify_false_skips_hashing(toy_manifest):
    # A same-size edit of the tokenizer (hash differs, size equal) passes only with verify=False.
    tok = toy_manifest.parent / "variants" / "tokenizer.json"
    tok.write_text(tok.read_text().replace('"<unk>"', '"<unk>"', 1) + " ")
    with pytest.raises(IntegrityError, match="tokenizer.json"):
        Runtime.from_manifest(toy_manifest)
    assert Runtime.from_manifest(toy_manifest, verify=False).generate(IMAGE, PROMPT).text


def test_unknown_variant_name(toy_manifest):
    with pytest.raises(
        VariantUnavailableError, match="no variant 'x'.*generic, shapes_vqa, code_match"
    ):
        load_manifest(toy_manifest).variant("x")


def test_manifest_json_is_plain(toy_manifest):
    # the runtime reads the manifest with json only: no jsonschema needed
    assert json.loads(toy_manifest.read_text())["schema_version"] == SCHEMA_VERSION
