"""Runtime.generate / generate_batch on the toy export, and bad input refused precisely."""

import numpy as np
import pytest
from conftest import edit_manifest
from PIL import Image

from vlmprune.runtime import InputError, Reason, Request, Runtime

PROMPT = "What color is the circle?"


def _image(seed: int, size: int = 8, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).convert(mode)


@pytest.fixture
def runtime(toy_manifest):
    return Runtime.from_manifest(toy_manifest)


def test_generate_says_variant_reason_and_timings(runtime):
    result = runtime.generate(_image(0), PROMPT, task_hint="vqa")
    assert (result.variant, result.reason) == ("shapes_vqa", Reason.TASK_TYPE_HINT)
    assert result.why == "variant 'shapes_vqa': the hint names task type 'vqa'"
    assert 0 < len(result.tokens) <= 6 and result.timings.tokens == len(result.tokens)
    t = result.timings
    assert min(t.preprocess_ms, t.vision_ms, t.prefill_ms, t.decode_ms) >= 0 and t.batch_size == 1
    assert isinstance(result.text, str)


def test_answers_depend_on_variant_and_image(runtime):
    a = runtime.generate(_image(0), PROMPT).tokens
    assert runtime.generate(_image(0), PROMPT).tokens == a  # deterministic
    assert runtime.generate(_image(0), PROMPT, task_hint="code_match").tokens != a
    assert runtime.generate(_image(1), PROMPT).tokens != a


def test_max_new_tokens(runtime):
    assert len(runtime.generate(_image(0), PROMPT, max_new_tokens=2).tokens) <= 2
    with pytest.raises(InputError, match="max_new_tokens must be >= 1"):
        runtime.generate(_image(0), PROMPT, max_new_tokens=0)


def test_image_from_path_and_other_modes(runtime, tmp_path):
    path = tmp_path / "x.png"
    _image(0).save(path)
    expected = runtime.generate(_image(0), PROMPT).tokens
    assert runtime.generate(path, PROMPT).tokens == expected
    assert runtime.generate(str(path), PROMPT).tokens == expected
    for mode in ("L", "RGBA", "P"):
        assert runtime.generate(_image(0, mode=mode), PROMPT).text is not None


def test_batch_groups_by_variant_and_keeps_order(runtime):
    requests = [
        Request(_image(0), PROMPT, task_hint="vqa"),
        Request(_image(1), PROMPT),
        Request(_image(2), PROMPT, task_hint="code_match"),
        Request(_image(3), PROMPT, task_hint="count_vqa"),
        Request(_image(4), "Read the code in the box.", detect=True),
    ]
    results = runtime.generate_batch(requests)
    assert [r.variant for r in results] == [
        "shapes_vqa",
        "generic",
        "code_match",
        "shapes_vqa",
        "code_match",
    ]
    assert [r.reason for r in results] == [
        Reason.TASK_TYPE_HINT,
        Reason.DEFAULT,
        Reason.DATASET_HINT,
        Reason.DATASET_HINT,
        Reason.DETECTED,
    ]
    assert [r.timings.batch_size for r in results] == [2, 1, 2, 2, 2]
    # Groups without padding (the toy decoder ignores the mask): batching changes nothing.
    for i in (0, 1, 3):
        request, result = requests[i], results[i]
        single = runtime.generate(request.image, request.prompt, task_hint=request.task_hint)
        assert single.tokens == result.tokens


def test_batch_bad_request_named_before_anything_runs(runtime):
    requests = [Request(_image(0), PROMPT), Request(_image(1), "  ")]
    with pytest.raises(InputError, match="request 1: the prompt is empty"):
        runtime.generate_batch(requests)
    assert runtime.resident_variants == ()


@pytest.mark.parametrize(
    "image, prompt, match",
    [
        ("missing.png", PROMPT, "image not found: .*missing.png"),
        ("garbage.png", PROMPT, "cannot read image .*garbage.png"),
        (Image.new("F", (8, 8)), PROMPT, "image mode 'F' is not supported"),
        (Image.new("I;16", (8, 8)), PROMPT, "image mode 'I;16' is not supported"),
        (Image.new("RGB", (0, 0)), PROMPT, "the image is empty"),
        (np.zeros((8, 8, 3)), PROMPT, "a PIL image or a file path, not ndarray"),
        (Image.new("RGB", (8, 8)), "", "the prompt is empty"),
        (Image.new("RGB", (8, 8)), "   \n", "the prompt is empty"),
        (Image.new("RGB", (8, 8)), None, "the prompt must be a string"),
        (Image.new("RGB", (8, 8)), "what <image> is", "must not contain the image token '<image>'"),
        (
            Image.new("RGB", (8, 8)),
            "red " * 60,
            r"the prompt is \d+ tokens with the image; the model's context is 64",
        ),
    ],
)
def test_bad_input_is_input_error(runtime, tmp_path, monkeypatch, image, prompt, match):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "garbage.png").write_bytes(b"not an image at all")
    with pytest.raises(InputError, match=match):
        runtime.generate(image, prompt)
    assert runtime.generate(_image(0), PROMPT).text is not None  # nothing else affected


def test_new_tokens_clamped_to_the_context(toy_manifest):
    edit_manifest(
        toy_manifest, lambda d: d["generation"].update(context_length=16, max_new_tokens=50)
    )
    result = Runtime.from_manifest(toy_manifest).generate(_image(0), PROMPT)  # 15 prompt tokens
    assert len(result.tokens) == 1
