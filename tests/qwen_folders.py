"""Tiny random Qwen2.5-VL / Qwen2-VL folders laid out like a Hugging Face download, built
in-process (no download): a byte-level BPE tokenizer trained with `tokenizers` carrying the
22 Qwen added tokens in the release order, the model from its config classes, and the
release's side files (tokenizer_config.json with the chat template, chat_template.json,
chat_template.jinja, preprocessor_config.json, generation_config.json with do_sample=true).

Layouts: `native` (config.json as transformers 5.x writes it, `text_config`), `hub`
(config.json in the release layout: flat text fields, rope_scaling {"type": "mrope"}), and
`sharded` (model.safetensors.index.json + shards). Biases and norm weights are perturbed
(transformers initialises them to 0 and 1; a converter that dropped one would go unseen).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    trainers,
)

QWEN_ADDED = [  # (token, special), release order
    ("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
    ("<|object_ref_start|>", True), ("<|object_ref_end|>", True), ("<|box_start|>", True),
    ("<|box_end|>", True), ("<|quad_start|>", True), ("<|quad_end|>", True),
    ("<|vision_start|>", True), ("<|vision_end|>", True), ("<|vision_pad|>", True),
    ("<|image_pad|>", True), ("<|video_pad|>", True), ("<tool_call>", False),
    ("</tool_call>", False), ("<|fim_prefix|>", False), ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False), ("<|fim_pad|>", False), ("<|repo_name|>", False),
    ("<|file_sep|>", False),
]  # fmt: skip

# Qwen2.5-VL-*-Instruct's chat_template.json template.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture "
    "{{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video "
    "{{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
CORPUS = [
    "You are a helpful assistant.", "system", "user", "assistant", "Describe this image.",
    "What color is the triangle? red", "How many blue circles are there? 3",
    "a red circle to the left of a blue square", "Read the code in the box exactly. K7QX",
    "TEA 4.50 BUN 2.25 TOTAL 6.75 What is the total?", "Which bar is the highest? 42",
]  # fmt: skip
KINDS = ("qwen2_5_vl", "qwen2_vl")
LAYOUTS = ("native", "hub", "sharded")


def train_tokenizer(vocab_size: int = 400) -> Tokenizer:
    """Byte-level BPE laid out like Qwen2's tokenizer.json (NFC, regex split, no BOS)."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 8, trainer=trainer)
    tok.add_tokens([AddedToken(t, special=s, normalized=False) for t, s in QWEN_ADDED])
    return tok


def tokenizer_config(tok: Tokenizer) -> dict:
    decoder = {
        str(tok.token_to_id(t)): {
            "content": t,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": s,
        }
        for t, s in QWEN_ADDED
    }
    return {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": decoder,
        "additional_special_tokens": [t for t, s in QWEN_ADDED[1:14]],
        "bos_token": None,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 131072,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }


def preprocessor_config(kind: str) -> dict:
    """preprocessor_config.json as the Qwen2-VL / Qwen2.5-VL releases ship it."""
    return {
        "min_pixels": 3136,
        "max_pixels": 12845056,
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": CLIP_MEAN,
        "image_std": CLIP_STD,
        "image_processor_type": "Qwen2VLImageProcessor",
        "processor_class": "Qwen2_5_VLProcessor" if kind == "qwen2_5_vl" else "Qwen2VLProcessor",
    }


def build_model(kind: str, tok: Tokenizer, seed: int = 0, text_layers: int = 4) -> torch.nn.Module:
    """A tiny random Qwen2.5-VL or Qwen2-VL in eval mode, with the release's generation config."""
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
    )

    ids = {t: tok.token_to_id(t) for t, _ in QWEN_ADDED}
    n = tok.get_vocab_size()
    text = dict(
        vocab_size=(n + 63) // 64 * 64,  # padded past the tokenizer, as the releases are
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=text_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        rms_norm_eps=1e-6,
        max_window_layers=text_layers,
        use_sliding_window=False,
        sliding_window=4096,
        rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=False,
    )
    common = dict(
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    if kind == "qwen2_5_vl":
        vision = dict(
            depth=4, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=14,
            spatial_merge_size=2, temporal_patch_size=2, window_size=112, out_hidden_size=64,
            fullatt_block_indexes=[1, 3], tokens_per_second=2,
        )  # fmt: skip
        config, cls = (
            Qwen2_5_VLConfig(text_config=text, vision_config=vision, **common),
            Qwen2_5_VLForConditionalGeneration,
        )
    else:
        vision = dict(
            depth=2, embed_dim=32, hidden_size=64, mlp_ratio=2, num_heads=2, patch_size=14,
            spatial_merge_size=2, temporal_patch_size=2,
        )  # fmt: skip
        config, cls = (
            Qwen2VLConfig(text_config=text, vision_config=vision, **common),
            Qwen2VLForConditionalGeneration,
        )
    config.bos_token_id, config.eos_token_id = text["bos_token_id"], text["eos_token_id"]
    config.pad_token_id = text["pad_token_id"]
    torch.manual_seed(seed)
    model = cls(config)
    _perturb(model, seed)
    g = model.generation_config
    g.bos_token_id, g.pad_token_id = text["bos_token_id"], text["pad_token_id"]
    g.eos_token_id = [text["eos_token_id"], text["bos_token_id"]]  # as the releases
    g.do_sample, g.temperature, g.top_p, g.top_k = True, 0.1, 0.001, 1
    g.repetition_penalty = 1.05
    return model.eval()


def _perturb(model: torch.nn.Module, seed: int) -> None:
    # A scaled head gives decisive greedy picks (near-ties would make parity noisy); biases
    # and norm weights off their init values catch a converter that drops them.
    with torch.no_grad():
        model.lm_head.weight.mul_(8.0)
        g = torch.Generator().manual_seed(seed + 1)
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
            elif "norm" in name or "ln_q" in name:
                p.add_(torch.randn(p.shape, generator=g) * 0.1)


def hub_config(model: torch.nn.Module, kind: str) -> dict:
    """config.json in the release layout (transformers 4.4x era): text fields flat."""
    c = model.config
    t, v = c.text_config, c.vision_config
    out = {
        "architectures": [type(model).__name__],
        "model_type": kind,
        "bos_token_id": t.bos_token_id,
        "eos_token_id": t.eos_token_id,
        "vision_start_token_id": c.vision_start_token_id,
        "vision_end_token_id": c.vision_end_token_id,
        "vision_token_id": c.vision_start_token_id + 2,
        "image_token_id": c.image_token_id,
        "video_token_id": c.video_token_id,
        "hidden_act": "silu",
        "hidden_size": t.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": t.intermediate_size,
        "max_position_embeddings": t.max_position_embeddings,
        "max_window_layers": t.max_window_layers,
        "num_attention_heads": t.num_attention_heads,
        "num_hidden_layers": t.num_hidden_layers,
        "num_key_value_heads": t.num_key_value_heads,
        "rms_norm_eps": t.rms_norm_eps,
        "rope_theta": 1000000.0,
        "sliding_window": 4096,
        "tie_word_embeddings": c.tie_word_embeddings,
        "torch_dtype": "float32",
        "transformers_version": "4.49.0",
        "use_cache": True,
        "use_sliding_window": False,
        "rope_scaling": {
            "type": "mrope",
            "mrope_section": list(t.rope_parameters["mrope_section"]),
        },
        "vocab_size": t.vocab_size,
    }
    keys = (
        "depth",
        "hidden_size",
        "num_heads",
        "patch_size",
        "spatial_merge_size",
        "temporal_patch_size",
    )
    vision = {k: getattr(v, k) for k in keys} | {"in_chans": 3, "spatial_patch_size": 14}
    if kind == "qwen2_5_vl":
        vision |= {
            "hidden_act": "silu", "intermediate_size": v.intermediate_size,
            "out_hidden_size": v.out_hidden_size, "window_size": v.window_size,
            "fullatt_block_indexes": list(v.fullatt_block_indexes),
            "tokens_per_second": v.tokens_per_second,
        }  # fmt: skip
    else:
        vision |= {"embed_dim": v.embed_dim, "mlp_ratio": v.mlp_ratio}
    out["vision_config"] = vision
    return out


def write_folder(
    model: torch.nn.Module, tok: Tokenizer, kind: str, folder: Path, layout: str = "native"
) -> Path:
    """The model saved as a download looks: weights, config, tokenizer and processor files."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    model.save_pretrained(folder, **({"max_shard_size": "100KB"} if layout == "sharded" else {}))
    tok.save(str(folder / "tokenizer.json"))
    tok.model.save(str(folder))  # vocab.json + merges.txt, as the releases have them
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(tok), indent=2))
    (folder / "preprocessor_config.json").write_text(
        json.dumps(preprocessor_config(kind), indent=2)
    )
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}))
    (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    if layout == "hub":
        (folder / "config.json").write_text(json.dumps(hub_config(model, kind), indent=2))
    return folder


def make_folder(kind: str, folder: Path, layout: str = "native", seed: int = 0) -> Path:
    tok = train_tokenizer()
    return write_folder(build_model(kind, tok, seed), tok, kind, folder, layout)
