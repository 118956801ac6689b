"""Block removal is exact: same logits as a smaller model with the kept weights copied."""

import pytest
import torch
from export_helpers import fresh_with_kept
from transformers import LlavaForConditionalGeneration

from vlmprune.export.errors import InvalidBlocksError
from vlmprune.export.models.architectures import adapter_for
from vlmprune.export.models.llava_build import tiny_vlm
from vlmprune.export.models.removal import validate_removal


def _inputs(vlm, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    n_img = vlm.spec.num_image_tokens
    image_id = vlm.model.config.image_token_id
    text = torch.randint(5, vlm.tokenizer.get_vocab_size(), (batch, 7), generator=g)
    ids = torch.cat([torch.full((batch, n_img), image_id), text], dim=1)
    pixels = torch.randn(batch, 3, vlm.spec.image_size, vlm.spec.image_size, generator=g)
    return ids, pixels


@pytest.mark.parametrize("removed", [(1,), (0, 2), (3,)])
def test_pruned_logits_equal_fresh_model_with_kept_weights(removed):
    vlm = tiny_vlm(seed=1)
    kept = [b for b in range(4) if b not in removed]
    fresh = fresh_with_kept(vlm.model, kept)
    ids, pixels = _inputs(vlm)
    adapter_for(vlm.model).remove_blocks(vlm.model, removed)
    with torch.no_grad():
        pruned = vlm.model(input_ids=ids, pixel_values=pixels).logits
        expected = fresh(input_ids=ids, pixel_values=pixels).logits
    assert torch.equal(pruned, expected)
    assert vlm.model.config.text_config.num_hidden_layers == len(kept)
    layers = vlm.adapter.layers(vlm.model)
    assert [layer.self_attn.layer_idx for layer in layers] == list(range(len(kept)))
    assert vlm.adapter.kept_blocks(vlm.model) == kept


def test_save_pretrained_round_trip_generates_identically(tmp_path):
    vlm = tiny_vlm(seed=2)
    vlm.adapter.remove_blocks(vlm.model, [2])
    vlm.model.save_pretrained(tmp_path)
    reloaded = LlavaForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert reloaded.config.text_config.num_hidden_layers == 3
    assert adapter_for(reloaded).kept_blocks(reloaded) == [0, 1, 3]
    ids, pixels = _inputs(vlm, batch=1)
    kwargs = dict(max_new_tokens=6, do_sample=False, pad_token_id=0)
    a = vlm.model.generate(input_ids=ids, pixel_values=pixels, **kwargs)
    b = reloaded.generate(input_ids=ids, pixel_values=pixels, **kwargs)
    assert torch.equal(a, b)


def test_kv_cache_generation_after_removal_matches_full_recompute():
    vlm = tiny_vlm(seed=3)
    vlm.adapter.remove_blocks(vlm.model, [0, 3])
    ids, pixels = _inputs(vlm, batch=1)
    cached = vlm.model.generate(
        input_ids=ids, pixel_values=pixels, max_new_tokens=5, do_sample=False, pad_token_id=0
    )
    seq = ids
    with torch.no_grad():
        for _ in range(5):  # no cache: recompute the whole sequence every step
            logits = vlm.model(input_ids=seq, pixel_values=pixels, use_cache=False).logits
            seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(cached[:, : seq.shape[1]], seq[:, : cached.shape[1]])


def test_temporary_removal_restores_the_model():
    vlm = tiny_vlm(seed=4)
    ids, pixels = _inputs(vlm)
    with torch.no_grad():
        before = vlm.model(input_ids=ids, pixel_values=pixels).logits
        with vlm.adapter.removed(vlm.model, [1, 2]):
            assert vlm.model.config.text_config.num_hidden_layers == 2
            during = vlm.model(input_ids=ids, pixel_values=pixels).logits
        after = vlm.model(input_ids=ids, pixel_values=pixels).logits
    assert torch.equal(before, after)
    assert not torch.equal(before, during)
    assert vlm.adapter.kept_blocks(vlm.model) == [0, 1, 2, 3]
    assert not hasattr(vlm.model.config.text_config, "vlmprune_kept_blocks")


def test_removal_uses_original_numbering_after_a_first_removal():
    vlm = tiny_vlm(seed=5)
    vlm.adapter.remove_blocks(vlm.model, [1])
    vlm.adapter.remove_blocks(vlm.model, [3])
    assert vlm.adapter.kept_blocks(vlm.model) == [0, 2]
    with pytest.raises(InvalidBlocksError, match="already removed"):
        vlm.adapter.remove_blocks(vlm.model, [1])


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ([4], r"block 4 is out of range; valid blocks: 0\.\.3"),
        ([-1], r"block -1 is out of range"),
        ([1, 1], r"block 1 is listed more than once"),
        ([0, 1, 2, 3], r"cannot remove all 4 remaining blocks"),
        (["2"], r"not an integer"),
    ],
)
def test_invalid_removal_requests_raise_one_clear_error(blocks, message):
    with pytest.raises(InvalidBlocksError, match=message):
        validate_removal(blocks, 4)
