"""Our batched greedy loop (prefill + KV cache, left padding) equals HF generate per row."""

import numpy as np
import torch
from PIL import Image

from vlmprune.export.evaluation.generation import greedy_generate, left_pad
from vlmprune.export.models.llava_build import tiny_vlm
from vlmprune.runtime.arch.llava import format_prompt, preprocess_image


def _encode(vlm, prompts, seed=0):
    rng = np.random.default_rng(seed)
    images = [Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)) for _ in prompts]
    ids = [vlm.tokenizer.encode(format_prompt(p, vlm.spec)).ids for p in prompts]
    pixels = [preprocess_image(im, vlm.spec) for im in images]
    return ids, pixels


def test_batched_greedy_matches_hf_generate_row_by_row():
    vlm = tiny_vlm(seed=7)
    prompts = ["What color is the triangle?", "Read the code in the box exactly.", "a red"]
    ids, pixels = _encode(vlm, prompts)
    input_ids, mask = left_pad(ids, vlm.pad_id)
    with torch.no_grad():
        embeds = vlm.adapter.input_embeddings(vlm.model, input_ids, pixels)
    ours = greedy_generate(vlm, embeds, mask, max_new_tokens=6)
    for row, seq in enumerate(ids):
        out = vlm.model.generate(
            input_ids=torch.tensor([seq]),
            pixel_values=torch.from_numpy(pixels[row])[None],
            max_new_tokens=6,
            do_sample=False,
            eos_token_id=vlm.eos_id,
            pad_token_id=vlm.pad_id,
        )[0, len(seq) :].tolist()
        expected = out[: out.index(vlm.eos_id)] if vlm.eos_id in out else out
        assert ours[row] == expected


def test_greedy_stops_at_eos_and_respects_max_tokens():
    vlm = tiny_vlm(seed=8)
    ids, pixels = _encode(vlm, ["What?"])
    input_ids, mask = left_pad(ids, vlm.pad_id)
    with torch.no_grad():
        embeds = vlm.adapter.input_embeddings(vlm.model, input_ids, pixels)
    # Force EOS: make the head predict EOS for every hidden state.
    head = vlm.adapter.lm_head(vlm.model)
    saved = head.weight.data.clone()
    head.weight.data.zero_()
    head.weight.data[vlm.eos_id] = 1.0
    try:
        assert greedy_generate(vlm, embeds.abs(), mask, max_new_tokens=5) == [[]]
    finally:
        head.weight.data.copy_(saved)
    assert len(greedy_generate(vlm, embeds, mask, max_new_tokens=3)[0]) <= 3


def test_left_pad_shapes_and_mask():
    ids, mask = left_pad([[1, 2, 3], [4]], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [0, 0, 4]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
