"""The runtime's Qwen2-VL numpy code equals transformers: image processor, chat template,
token ids and M-RoPE positions (tiny folders from tests/qwen_folders.py)."""

import numpy as np
import pytest
import torch
from PIL import Image

from vlmprune.runtime.arch.qwen2_vl import Qwen2VL
from vlmprune.runtime.arch.qwen2_vl_vision import ImageSpec, preprocess_image
from vlmprune.runtime.errors import InputError

# (height, width): below min_pixels (enlarged), odd sizes, very thin, large, the suite's 96 x 96
SIZES = [(10, 10), (96, 96), (56, 56), (224, 280), (300, 451), (20, 3000), (3000, 20), (2, 399)]
MODES = ["RGB", "RGBA", "L", "LA", "P"]


def _image(height, width, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    rgba = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    image = Image.fromarray(rgba, "RGBA")
    if mode == "P":  # palette with a transparent index: composited onto white like alpha
        image = image.convert("RGB").quantize(16)
        image.info["transparency"] = 3
        return image
    return image.convert(mode)


def _hf_processor(folder, **kwargs):
    from transformers import AutoImageProcessor

    return AutoImageProcessor.from_pretrained(folder, **kwargs)  # the PIL one: no torchvision


def _spec(min_pixels=3136, max_pixels=12845056):
    return ImageSpec(min_pixels=min_pixels, max_pixels=max_pixels)


@pytest.mark.parametrize("size", SIZES)
def test_patches_equal_transformers_on_many_sizes(qwen_folder, size):
    hf = _hf_processor(qwen_folder("qwen2_5_vl"))
    image = _image(*size)
    expected = hf(image, return_tensors="np")
    ours = preprocess_image(image, _spec())
    assert list(ours.grid) == expected["image_grid_thw"][0].tolist()
    assert ours.patches.dtype == np.float32
    np.testing.assert_array_equal(ours.patches, expected["pixel_values"])


@pytest.mark.parametrize("mode", MODES)
def test_patches_equal_transformers_for_every_mode(qwen_folder, mode):
    hf = _hf_processor(qwen_folder("qwen2_5_vl"))
    image = _image(70, 90, mode, seed=1)
    ours = preprocess_image(image, _spec())
    np.testing.assert_array_equal(ours.patches, hf(image, return_tensors="np")["pixel_values"])


def test_patches_equal_transformers_above_max_pixels(qwen_folder):
    hf = _hf_processor(qwen_folder("qwen2_5_vl"), min_pixels=1000, max_pixels=40000)
    image = _image(700, 500, seed=2)
    ours = preprocess_image(image, _spec(1000, 40000))
    expected = hf(image, return_tensors="np")
    assert list(ours.grid) == expected["image_grid_thw"][0].tolist()
    np.testing.assert_array_equal(ours.patches, expected["pixel_values"])


def test_extreme_aspect_ratio_is_one_input_error(qwen_vlm):
    arch = qwen_vlm("qwen2_5_vl").arch
    with pytest.raises(InputError, match="aspect ratio 250 is over 200"):
        arch.preprocess(Image.new("RGB", (500, 2)))


@pytest.mark.parametrize("kind", ["qwen2_5_vl", "qwen2_vl"])
def test_prompt_text_and_ids_equal_transformers(qwen_folder, qwen_vlm, kind):
    from transformers import AutoTokenizer

    vlm = qwen_vlm(kind)
    tokenizer = AutoTokenizer.from_pretrained(qwen_folder(kind))
    prompt = "How many blue circles are there?  "
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    image = vlm.arch.preprocess(_image(300, 451))
    assert vlm.arch.prompt_text(prompt, image) == expected
    # transformers' processor repeats <|image_pad|> t*h*w/merge^2 times, then tokenizes
    n = int(np.prod(image.grid)) // 4
    hf_ids = tokenizer(expected.replace("<|image_pad|>", "<|image_pad|>" * n))["input_ids"]
    assert vlm.arch.prompt_ids(vlm.tokenizer, prompt, image) == hf_ids
    with pytest.raises(InputError, match="must not contain the image token"):
        vlm.arch.prompt_ids(vlm.tokenizer, "look: <|image_pad|>", image)


@pytest.mark.parametrize("kind", ["qwen2_5_vl", "qwen2_vl"])
def test_rope_index_equals_transformers_on_a_left_padded_batch(qwen_vlm, kind):
    from vlmprune.runtime.generation import left_pad

    vlm = qwen_vlm(kind)
    arch: Qwen2VL = vlm.arch
    images = [arch.preprocess(_image(h, w, seed=i)) for i, (h, w) in enumerate(SIZES[2:6])]
    prompts = ["a", "What is the total price on the receipt?", "Read the code.", "b c"]
    ids = [arch.prompt_ids(vlm.tokenizer, p, im) for p, im in zip(prompts, images, strict=True)]
    input_ids, mask = left_pad(ids, vlm.pad_id)
    ours = arch.position_ids(input_ids, mask, images)
    grid = torch.tensor([im.grid for im in images])
    tokens = torch.from_numpy(input_ids)
    expected, _ = vlm.model.model.get_rope_index(
        tokens,
        image_grid_thw=grid,
        attention_mask=torch.from_numpy(mask),
        mm_token_type_ids=(tokens == vlm.model.config.image_token_id).int(),
    )
    assert ours.shape == (3, *input_ids.shape)
    np.testing.assert_array_equal(ours, expected.numpy())
