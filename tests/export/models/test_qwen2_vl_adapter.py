"""Qwen2-VL / Qwen2.5-VL folders as downloaded: loading, exact block removal, and the
evaluation path against transformers' own `generate` (tiny folders, tests/qwen_folders.py)."""

import json
import shutil

import numpy as np
import pytest
import torch
from export_helpers import fresh_with_kept
from PIL import Image

from vlmprune.export.errors import InvalidBlocksError, ModelLoadError
from vlmprune.export.models.loading import load_vlm
from vlmprune.runtime.generation import left_pad

KINDS = ["qwen2_5_vl", "qwen2_vl"]
GREEDY = dict(do_sample=False, repetition_penalty=1.0, temperature=None, top_p=None, top_k=None)


def _batch(vlm, sizes=((224, 280), (96, 96), (90, 700)), prompts=("a b", "What is it?", "c")):
    """Left-padded ids, mask, preprocessed images and transformers' processor kwargs."""
    rng = np.random.default_rng(0)
    pil = [Image.fromarray(rng.integers(0, 256, (*s, 3), dtype=np.uint8)) for s in sizes]
    images = [vlm.arch.preprocess(im) for im in pil]
    ids = [vlm.arch.prompt_ids(vlm.tokenizer, p, im) for p, im in zip(prompts, images, strict=True)]
    input_ids, mask = left_pad(ids, vlm.pad_id)
    tokens = torch.from_numpy(input_ids)
    hf = {
        "input_ids": tokens,
        "attention_mask": torch.from_numpy(mask),
        "pixel_values": torch.from_numpy(np.concatenate([im.patches for im in images])),
        "image_grid_thw": torch.tensor([im.grid for im in images]),
        "mm_token_type_ids": (tokens == vlm.model.config.image_token_id).int(),
    }
    return images, input_ids, mask, hf


def _generate(model, hf, steps, eos_ids):
    model.model.rope_deltas = None
    with torch.no_grad():
        out = model.generate(**hf, max_new_tokens=steps, eos_token_id=list(eos_ids), **GREEDY)
    rows = out[:, hf["input_ids"].shape[1] :].tolist()
    return [r[: next((i for i, t in enumerate(r) if t in eos_ids), len(r))] for r in rows]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layout", ["hub", "sharded"])
def test_release_layouts_load_like_the_native_folder(qwen_folder, qwen_vlm, kind, layout):
    native, other = qwen_vlm(kind), load_vlm(str(qwen_folder(kind, layout)))
    a, b = native.model.state_dict(), other.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert other.arch.preprocessing() == native.arch.preprocessing()
    assert other.eos_ids == native.eos_ids == (386, 384)  # <|im_end|>, <|endoftext|>
    assert other.num_blocks == 4


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("removed", [(1,), (0, 3)])
def test_pruned_logits_equal_a_fresh_model_with_the_kept_weights(qwen_vlm, kind, removed):
    vlm = qwen_vlm(kind)
    kept = [b for b in range(4) if b not in removed]
    fresh = fresh_with_kept(vlm.model, kept)
    _, _, _, hf = _batch(vlm)
    with torch.no_grad(), vlm.adapter.removed(vlm.model, removed):
        text = vlm.adapter.text_config(vlm.model)
        assert text.num_hidden_layers == len(kept) and len(text.layer_types) == len(kept)
        layers = vlm.adapter.layers(vlm.model)
        assert [layer.self_attn.layer_idx for layer in layers] == list(range(len(kept)))
        vlm.model.model.rope_deltas = None
        pruned = vlm.model(**hf).logits
    fresh.model.rope_deltas = None
    with torch.no_grad():
        expected = fresh(**hf).logits
    assert torch.equal(pruned, expected)
    assert vlm.adapter.kept_blocks(vlm.model) == [0, 1, 2, 3]


@pytest.mark.parametrize("kind", KINDS)
def test_save_pretrained_round_trip_generates_identically(qwen_folder, kind, tmp_path):
    vlm = load_vlm(str(qwen_folder(kind)))
    vlm.adapter.remove_blocks(vlm.model, [2])
    vlm.model.save_pretrained(tmp_path)
    reloaded = type(vlm.model).from_pretrained(tmp_path).eval()
    assert reloaded.config.text_config.num_hidden_layers == 3
    assert vlm.adapter.kept_blocks(reloaded) == [0, 1, 3]
    _, _, _, hf = _batch(vlm)
    assert _generate(vlm.model, hf, 6, vlm.eos_ids) == _generate(reloaded, hf, 6, vlm.eos_ids)


@pytest.mark.parametrize("kind", KINDS)
def test_kv_cache_generation_equals_recompute_after_removal(qwen_vlm, kind):
    vlm = qwen_vlm(kind)
    _, _, _, hf = _batch(vlm, sizes=((224, 280),), prompts=("a",))
    with vlm.adapter.removed(vlm.model, [0, 3]):
        vlm.model.model.rope_deltas = None
        with torch.no_grad():
            cached = vlm.model.generate(**hf, max_new_tokens=5, eos_token_id=[], **GREEDY)
        seq, mask = hf["input_ids"], hf["attention_mask"]
        with torch.no_grad():
            for _ in range(5):  # no cache: the whole sequence again, vision inputs included
                vlm.model.model.rope_deltas = None
                step = {**hf, "input_ids": seq, "attention_mask": mask}
                step["mm_token_type_ids"] = (seq == vlm.model.config.image_token_id).int()
                logits = vlm.model(**step, use_cache=False).logits
                seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
    assert torch.equal(cached, seq)


@pytest.mark.parametrize("kind", KINDS)
def test_evaluation_path_equals_transformers_generate(qwen_vlm, kind):
    """Our embeddings, numpy positions and greedy loop give generate's tokens, pruned or not."""
    from vlmprune.export.evaluation.generation import greedy_generate

    vlm = qwen_vlm(kind)
    images, input_ids, mask, hf = _batch(vlm)
    positions = torch.from_numpy(vlm.arch.position_ids(input_ids, mask, images))
    for removed in [(), (1, 2)]:
        with torch.no_grad(), vlm.adapter.removed(vlm.model, removed):
            _generate(vlm.model, hf, 3, vlm.eos_ids)  # leaves rope_deltas cached on the model
            embeds = vlm.adapter.input_embeddings(vlm.model, torch.from_numpy(input_ids), images)
            assert vlm.model.model.rope_deltas is None  # reset: it cannot leak into the next
            ours = greedy_generate(vlm, embeds, torch.from_numpy(mask), 8, positions)
            assert ours == _generate(vlm.model, hf, 8, vlm.eos_ids), removed


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ([4], r"block 4 is out of range; valid blocks: 0\.\.3"),
        ([1, 1], r"block 1 is listed more than once"),
        ([0, 1, 2, 3], r"cannot remove all 4 remaining blocks"),
    ],
)
def test_bad_block_sets_raise_one_clear_line(qwen_vlm, blocks, message):
    vlm = qwen_vlm("qwen2_5_vl")
    with pytest.raises(InvalidBlocksError, match=message):
        vlm.adapter.validate(vlm.model, blocks)


def _break_unsupported(folder):
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "qwen3_vl_moe_x"
    (folder / "config.json").write_text(json.dumps(config))


def _break_chat_template(folder):
    (folder / "chat_template.jinja").unlink()
    (folder / "chat_template.json").unlink()
    config = json.loads((folder / "tokenizer_config.json").read_text())
    del config["chat_template"]
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


def _break_shard(folder):
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    shard = sorted(set(index["weight_map"].values()))[1]
    (folder / shard).unlink()


@pytest.mark.parametrize(
    ("layout", "damage", "message"),
    [
        ("native", _break_unsupported, r"config.json: model_type 'qwen3_vl_moe_x' is not a supported VLM \(supported: gemma3, llava, qwen2_vl, qwen2_5_vl, smolvlm, idefics3\)"),
        ("native", lambda f: (f / "tokenizer.json").unlink(), r": tokenizer.json is missing"),
        ("native", _break_chat_template, r": no chat template \(none of chat_template.jinja, chat_template.json, tokenizer_config.json holds one\)"),
        ("native", lambda f: (f / "preprocessor_config.json").unlink(), r": preprocessor_config.json is missing \(the image processor"),
        ("native", lambda f: (f / "model.safetensors").unlink(), r"no weights \(model.safetensors or model.safetensors.index.json is missing\)"),
        ("sharded", _break_shard, r"model.safetensors.index.json: field 'weight_map' names shard 'model-0000\d-of-000\d\d.safetensors', which is missing"),
    ],
)  # fmt: skip
def test_bad_folders_are_one_line_naming_the_file(qwen_folder, tmp_path, layout, damage, message):
    folder = shutil.copytree(qwen_folder("qwen2_5_vl", layout), tmp_path / "model")
    damage(folder)
    with pytest.raises(ModelLoadError, match=message) as info:
        load_vlm(str(folder))
    assert "\n" not in str(info.value)


def test_user_jsonl_evaluates_and_a_prompt_past_the_context_is_one_line(qwen_folder, tmp_path):
    from click.testing import CliRunner

    from vlmprune.export.cli import main

    Image.new("RGB", (120, 80), (200, 20, 20)).save(tmp_path / "small.png")
    Image.new("RGB", (2000, 2000), (20, 200, 20)).save(tmp_path / "huge.png")  # 5,041 tokens
    lines = {"ok.jsonl": "small.png", "long.jsonl": "huge.png"}
    for name, image in lines.items():
        row = {"image": image, "prompt": "What color?", "answers": ["red"], "task_type": "vqa"}
        (tmp_path / name).write_text(json.dumps(row) + "\n")
    model = str(qwen_folder("qwen2_5_vl"))
    ok = CliRunner().invoke(
        main, ["eval", "--model", model, "--datasets", str(tmp_path / "ok.jsonl"), "--json"]
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["results"][0]["n"] == 1
    long = CliRunner().invoke(
        main, ["eval", "--model", model, "--datasets", str(tmp_path / "long.jsonl")]
    )
    assert long.exit_code == 1
    assert long.stderr.strip().splitlines() == [
        "Error: long example 0: the prompt is 5065 tokens with the image; the model's context is 4096"
    ]
