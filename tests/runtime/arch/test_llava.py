"""Our numpy preprocessing equals transformers' CLIP image processor on the same spec."""

import numpy as np
import pytest
from PIL import Image

from vlmprune.runtime.arch.llava import PreprocessSpec, format_prompt, preprocess_image

SPEC = PreprocessSpec(
    image_size=96,
    image_mean=(0.48145466, 0.4578275, 0.40821073),
    image_std=(0.26862954, 0.26130258, 0.27577711),
    image_token="<image>",
    num_image_tokens=4,
    prompt_template="<s>USER: {image}\n{prompt} ASSISTANT:",
)


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_matches_hf_clip_processor_at_native_size(mode):
    from transformers import CLIPImageProcessor

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).convert(mode)
    hf = CLIPImageProcessor(
        size={"shortest_edge": 96},
        crop_size={"height": 96, "width": 96},
        image_mean=list(SPEC.image_mean),
        image_std=list(SPEC.image_std),
    )
    expected = hf(image.convert("RGB"), return_tensors="np")["pixel_values"][0]
    ours = preprocess_image(image, SPEC)
    assert ours.shape == (3, 96, 96) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_resizes_other_sizes():
    out = preprocess_image(Image.new("RGB", (40, 200), (255, 0, 0)), SPEC)
    assert out.shape == (3, 96, 96)


def test_prompt_template_expands_image_tokens():
    text = format_prompt("  What is this? ", SPEC)
    assert text == "<s>USER: <image><image><image><image>\nWhat is this? ASSISTANT:"


def test_spec_round_trips_through_dict():
    assert PreprocessSpec.from_dict(SPEC.to_dict()) == SPEC
