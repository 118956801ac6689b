"""Gemma3 exact block removal on a tiny random model (tests/gemma3_folders.py): sliding and
full blocks keep their own attention type, window and RoPE after re-indexing, checked at
prompts longer than twice the sliding window with image tokens (token_type_ids) present."""

import json
import shutil

import pytest
import torch
from export_helpers import fresh_with_kept
from gemma3_folders import (
    IMAGE,
    LAYER_TYPES,
    SLIDING_WINDOW,
    build_model,
    image_prompt,
    pixel_values,
)

from vlmprune.export.errors import InvalidBlocksError, ModelLoadError
from vlmprune.export.models import hf_folder
from vlmprune.export.models.gemma3 import Gemma3Adapter
from vlmprune.export.models.loading import load_vlm

GREEDY = dict(do_sample=False, repetition_penalty=1.0, temperature=None, top_p=None, top_k=None)
ADAPTER = Gemma3Adapter()
N = len(LAYER_TYPES)


@pytest.fixture(scope="module")
def model():
    return build_model()


def _inputs(text_len: int = 3 * SLIDING_WINDOW, batch: int = 2) -> dict:
    """Left-padded image prompts, the longest at least twice the sliding window past the image."""
    rows = [
        image_prompt([3 + (7 * i + j) % 100 for j in range(text_len - i)]) for i in range(batch)
    ]
    width = max(map(len, rows))
    assert width >= 2 * SLIDING_WINDOW + 6
    ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "pixel_values": pixel_values(batch),
        "token_type_ids": (ids == IMAGE).long(),
    }


@pytest.mark.parametrize("removed", [(1,), (2,), (0, 5), (2, 3, 4)])
def test_pruned_logits_equal_a_fresh_model_with_the_kept_weights(model, removed):
    kept = [b for b in range(N) if b not in removed]
    fresh = fresh_with_kept(model, kept)
    hf = _inputs()
    with torch.no_grad(), ADAPTER.removed(model, removed):
        text = ADAPTER.text_config(model)
        assert text.num_hidden_layers == len(kept)
        assert text.layer_types == [LAYER_TYPES[b] for b in kept]
        layers = ADAPTER.layers(model)
        assert [layer.self_attn.layer_idx for layer in layers] == list(range(len(kept)))
        sliding = [LAYER_TYPES[b] == "sliding_attention" for b in kept]
        assert [layer.self_attn.is_sliding for layer in layers] == sliding
        pruned = model(**hf).logits
    with torch.no_grad():
        expected = fresh(**hf).logits
        full = model(**hf).logits
    assert torch.equal(pruned, expected)
    assert not torch.allclose(pruned, full)
    assert ADAPTER.kept_blocks(model) == list(range(N))
    assert ADAPTER.text_config(model).layer_types == LAYER_TYPES


def test_a_block_given_the_wrong_attention_type_changes_the_logits(model):
    """The check above can fail: keeping blocks 0,1,2 under the types of blocks 1,2,3 (the
    first block turned sliding -> sliding, the third full -> sliding) changes the output."""
    fresh = fresh_with_kept(model, [0, 1, 2])
    wrong = fresh_with_kept(model, [0, 1, 2])
    wrong.config.text_config.layer_types = [LAYER_TYPES[b] for b in (1, 3, 4)]
    hf = _inputs()
    with torch.no_grad():
        assert not torch.allclose(fresh(**hf).logits, wrong(**hf).logits)


def test_input_embeddings_equal_the_models_own_merge(model):
    hf = _inputs()
    images = [im.numpy() for im in hf["pixel_values"]]
    with torch.no_grad(), ADAPTER.removed(model, [3]):
        embeds = ADAPTER.input_embeddings(model, hf["input_ids"], images)
        ours = model(
            inputs_embeds=embeds,
            attention_mask=hf["attention_mask"],
            token_type_ids=hf["token_type_ids"],
        ).logits
        theirs = model(**hf).logits
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)
    plain = model.get_input_embeddings().weight[5] * model.config.text_config.hidden_size**0.5
    torch.testing.assert_close(
        ADAPTER.input_embeddings(model, torch.tensor([[5]]), [])[0, 0], plain
    )


def _generate(m, hf, steps):
    with torch.no_grad():
        out = m.generate(**hf, max_new_tokens=steps, eos_token_id=[], **GREEDY)
    return out[:, hf["input_ids"].shape[1] :]


def test_save_pretrained_round_trip_generates_identically(tmp_path):
    m = build_model(seed=3)
    ADAPTER.remove_blocks(m, [2, 4])
    m.save_pretrained(tmp_path)
    reloaded = type(m).from_pretrained(tmp_path).eval()
    text = reloaded.config.text_config
    assert text.num_hidden_layers == 4
    assert text.layer_types == [LAYER_TYPES[b] for b in (0, 1, 3, 5)]
    assert [layer.self_attn.is_sliding for layer in ADAPTER.layers(reloaded)] == [
        True, True, True, False,
    ]  # fmt: skip
    assert ADAPTER.kept_blocks(reloaded) == [0, 1, 3, 5]
    assert ADAPTER.original_num_blocks(reloaded) == N
    hf = _inputs()
    assert torch.equal(_generate(m, hf, 6), _generate(reloaded, hf, 6))


@pytest.mark.parametrize("removed", [(), (0, 2)])
def test_kv_cache_generation_equals_recompute_past_the_window(model, removed):
    hf = _inputs()
    steps = 2 * SLIDING_WINDOW  # the cached sliding layers roll over during decoding too
    with torch.no_grad(), ADAPTER.removed(model, removed):
        # A random model may pick the image token, which a recompute would read as an image.
        cached = model.generate(
            **hf, max_new_tokens=steps, eos_token_id=[], suppress_tokens=[IMAGE], **GREEDY
        )
        seq, mask, types = hf["input_ids"], hf["attention_mask"], hf["token_type_ids"]
        for _ in range(steps):  # no cache: the whole sequence again, the image included
            step = {**hf, "input_ids": seq, "attention_mask": mask, "token_type_ids": types}
            logits = model(**step, use_cache=False).logits
            logits[..., IMAGE] = -torch.inf
            seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            types = torch.cat([types, torch.zeros_like(types[:, :1])], dim=1)
    assert torch.equal(cached, seq)


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ([6], r"^block 6 is out of range; valid blocks: 0\.\.5$"),
        ([1, 1], r"^block 1 is listed more than once$"),
        ([0, 1, 2, 3, 4, 5], r"^cannot remove all 6 remaining blocks; keep at least one$"),
        (["2"], r"^block '2' is not an integer; valid blocks: 0\.\.5$"),
    ],
)
def test_bad_block_sets_raise_one_clear_line(model, blocks, message):
    with pytest.raises(InvalidBlocksError, match=message):
        ADAPTER.validate(model, blocks)


def test_an_already_removed_block_is_one_clear_line(tmp_path):
    m = build_model()
    ADAPTER.remove_blocks(m, [2])
    with pytest.raises(InvalidBlocksError, match=r"^block 2 was already removed from this model$"):
        ADAPTER.validate(m, [2])


def test_layer_types_disagreeing_with_num_hidden_layers_is_one_line(tmp_path):
    build_model().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    hf_folder.check_layer_types(tmp_path, config)  # the folder as saved is fine
    config["text_config"]["layer_types"] = LAYER_TYPES[:4]
    with pytest.raises(ModelLoadError) as err:
        hf_folder.check_layer_types(tmp_path, config)
    message = str(err.value)
    assert "\n" not in message
    assert message == (
        f"{tmp_path / 'config.json'}: field 'text_config.layer_types' has 4 entries but "
        "'text_config.num_hidden_layers' is 6 (one attention type per decoder block)"
    )


def test_load_refuses_a_folder_whose_layer_types_disagree(qwen_folder, tmp_path):
    """load_vlm checks before transformers does (whose error is a multi-line trace)."""
    folder = tmp_path / "q"
    shutil.copytree(qwen_folder("qwen2_5_vl"), folder)
    config = json.loads((folder / "config.json").read_text())
    section = config.get("text_config", config)
    section["layer_types"] = section.get("layer_types", ["full_attention"] * 4)[:3]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"field '(text_config\.)?layer_types' has 3 entries"):
        load_vlm(str(folder))
