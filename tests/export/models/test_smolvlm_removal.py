"""Exact block removal holds for SmolVLM / Idefics3, whose decoder is
`model.model.text_model` (tiny models from tests/smolvlm_folders.py): logits equal a fresh
smaller model holding the kept weights, save/load round-trips, and KV-cache generation
equals recomputing the whole sequence, with image tiles in the prompt."""

import numpy as np
import pytest
import torch
from export_helpers import fresh_with_kept
from PIL import Image
from smolvlm_folders import IMAGE_SEQ_LEN, IMAGE_TOKEN_ID, KINDS, TILE, tiny_model

from vlmprune.export.errors import InvalidBlocksError
from vlmprune.export.models import removal
from vlmprune.runtime.arch.smolvlm_images import TileSpec, preprocess_image

PREFIX = "model.text_model.layers."


def _inputs(seed=0, size=(40, 90)):
    """A prompt with one split image (2 x 3 tiles + global) and text around it."""
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    tiles = preprocess_image(image, TileSpec(longest_edge=3 * TILE, tile=TILE))
    n_image = IMAGE_SEQ_LEN * tiles.pixels.shape[0]
    ids = [*rng.integers(1, 80, 3), *[IMAGE_TOKEN_ID] * n_image, *rng.integers(1, 80, 4)]
    input_ids = torch.tensor([ids])
    return {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "pixel_values": torch.from_numpy(tiles.pixels)[None],
        "pixel_attention_mask": torch.ones(1, tiles.pixels.shape[0], TILE, TILE, dtype=torch.bool),
    }, tiles


def _remove(model, blocks):
    text = model.config.text_config
    decoder = model.model.text_model
    gone = removal.validate_removal(
        blocks,
        removal.original_num_blocks(text, decoder),
        removal.kept_blocks(text, decoder),
    )
    kept = [b for b in removal.kept_blocks(text, decoder) if b not in gone]
    removal.keep_only(decoder, text, kept)


def test_the_test_image_is_split():
    _, tiles = _inputs()
    assert (tiles.rows, tiles.cols) == (2, 3)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("removed", [(1,), (0, 3)])
def test_pruned_logits_equal_a_fresh_model_with_the_kept_weights(kind, removed):
    model = tiny_model(kind)
    kept = [b for b in range(4) if b not in removed]
    fresh = fresh_with_kept(model, kept, PREFIX)
    hf, _ = _inputs()
    decoder, text = model.model.text_model, model.config.text_config
    with torch.no_grad(), removal.restored_afterwards(decoder, text):
        _remove(model, removed)
        assert text.num_hidden_layers == len(kept)
        assert [layer.self_attn.layer_idx for layer in decoder.layers] == list(range(len(kept)))
        pruned = model(**hf).logits
    with torch.no_grad():
        expected = fresh(**hf).logits
        full = model(**hf).logits
    assert torch.equal(pruned, expected)
    assert not torch.equal(full, expected)  # removal changed the output: the check can fail
    assert removal.kept_blocks(text, decoder) == [0, 1, 2, 3]


@pytest.mark.parametrize("kind", KINDS)
def test_save_pretrained_round_trip_keeps_the_removal(kind, tmp_path):
    model = tiny_model(kind)
    _remove(model, [2])
    model.save_pretrained(tmp_path)
    reloaded = type(model).from_pretrained(tmp_path).eval()
    text = reloaded.config.text_config
    assert text.num_hidden_layers == 3
    assert removal.kept_blocks(text, reloaded.model.text_model) == [0, 1, 3]
    assert removal.original_num_blocks(text, reloaded.model.text_model) == 4
    hf, _ = _inputs(seed=1)
    with torch.no_grad():
        assert torch.equal(model(**hf).logits, reloaded(**hf).logits)


@pytest.mark.parametrize("kind", KINDS)
def test_kv_cache_generation_equals_recompute_after_removal(kind):
    model = tiny_model(kind)
    _remove(model, [0, 3])
    hf, _ = _inputs(seed=2)
    with torch.no_grad():
        cached = model.generate(
            **hf, max_new_tokens=5, eos_token_id=[], do_sample=False, pad_token_id=0
        )
        seq, mask = hf["input_ids"], hf["attention_mask"]
        for _ in range(5):  # no cache: the whole sequence again, image tiles included
            step = {**hf, "input_ids": seq, "attention_mask": mask}
            logits = model(**step, use_cache=False).logits
            seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
    assert torch.equal(cached, seq)


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ([4], "block 4 is out of range; valid blocks: 0..3"),
        ([1, 1], "block 1 is listed more than once"),
        ([0, 1, 2, 3], "cannot remove all 4 remaining blocks; keep at least one"),
    ],
)
def test_bad_block_sets_raise_one_clear_line(blocks, message):
    with pytest.raises(InvalidBlocksError, match=f"^{message}$"):
        _remove(tiny_model("smolvlm"), blocks)


def test_removing_a_block_already_removed_is_one_line():
    model = tiny_model("idefics3")
    _remove(model, [1])
    with pytest.raises(InvalidBlocksError, match="^block 1 was already removed from this model$"):
        _remove(model, [1])
