"""Build LLaVA-architecture VLMs from a size preset, with our tokenizer and preprocessing.

Used for the embedded demo model (trained afterwards), for the tiny random models of the
tests, and for the realistic-size random models of latency profiling. Nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

from ...runtime.arch.llava import PREPROCESS_FILE, PreprocessSpec
from .tokenizer import BOS, EOS, IMAGE, PAD

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
PROMPT_TEMPLATE = "<s>USER: {image}\n{prompt} ASSISTANT:"


@dataclass(frozen=True)
class VlmSize:
    vision_hidden: int
    vision_layers: int
    vision_heads: int
    vision_mlp: int
    text_hidden: int
    text_layers: int
    text_heads: int
    text_kv_heads: int
    text_mlp: int
    image_size: int = 96
    patch_size: int = 12  # 96 / 12 -> 8 x 8 = 64 image tokens
    max_positions: int = 512
    vocab_size: int | None = None  # None: the tokenizer's; larger pads the embedding and head


SIZES = {
    # Tests: builds in milliseconds, 4 decoder blocks.
    "tiny": VlmSize(32, 1, 2, 64, 32, 4, 2, 1, 64, max_positions=256),
    # The embedded demo: 14 decoder blocks numbered 0..13, ~13M parameters, ~26 MB in fp16.
    "demo": VlmSize(192, 6, 3, 768, 256, 14, 4, 2, 640),
    # Latency profiling (random weights; latency does not depend on their values): a
    # Qwen2-0.5B-shaped Llama decoder (24 blocks, hidden 896, 14 heads, 2 KV heads, MLP 4864)
    # with a Llama-size 32k vocabulary, behind a CLIP ViT-B/16 tower at 224 px (196 image
    # tokens). 0.50 B parameters: decoder blocks 0.36 B, embedding + LM head 0.06 B, vision
    # 0.09 B; ~2 GB in fp32. Token ids past the tokenizer's vocabulary are never in a prompt
    # and decode to nothing.
    "realistic": VlmSize(
        vision_hidden=768,
        vision_layers=12,
        vision_heads=12,
        vision_mlp=3072,
        text_hidden=896,
        text_layers=24,
        text_heads=14,
        text_kv_heads=2,
        text_mlp=4864,
        image_size=224,
        patch_size=16,
        max_positions=1024,
        vocab_size=32000,
    ),
}


def preprocess_spec(size: VlmSize) -> PreprocessSpec:
    return PreprocessSpec(
        image_size=size.image_size,
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
        image_token=IMAGE,
        num_image_tokens=(size.image_size // size.patch_size) ** 2,
        prompt_template=PROMPT_TEMPLATE,
    )


def build_llava(
    size: VlmSize, tokenizer: Tokenizer, seed: int = 0
) -> LlavaForConditionalGeneration:
    vision = CLIPVisionConfig(
        hidden_size=size.vision_hidden,
        intermediate_size=size.vision_mlp,
        num_hidden_layers=size.vision_layers,
        num_attention_heads=size.vision_heads,
        image_size=size.image_size,
        patch_size=size.patch_size,
        projection_dim=size.vision_hidden,
    )
    text = LlamaConfig(
        hidden_size=size.text_hidden,
        intermediate_size=size.text_mlp,
        num_hidden_layers=size.text_layers,
        num_attention_heads=size.text_heads,
        num_key_value_heads=size.text_kv_heads,
        vocab_size=max(size.vocab_size or 0, tokenizer.get_vocab_size()),
        max_position_embeddings=size.max_positions,
        pad_token_id=tokenizer.token_to_id(PAD),
        bos_token_id=tokenizer.token_to_id(BOS),
        eos_token_id=tokenizer.token_to_id(EOS),
        tie_word_embeddings=False,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.token_to_id(IMAGE),
        vision_feature_select_strategy="default",  # drop CLS: exactly 64 image tokens
        vision_feature_layer=-1,
        projector_hidden_act="gelu",
    )
    config.pad_token_id = text.pad_token_id
    config.eos_token_id = text.eos_token_id
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = text.pad_token_id
    model.generation_config.eos_token_id = text.eos_token_id
    return model.eval()


def save_model_dir(
    model: LlavaForConditionalGeneration,
    tokenizer: Tokenizer,
    spec: PreprocessSpec,
    folder: str | Path,
    dtype: torch.dtype | None = None,
) -> Path:
    """A self-contained model folder: HF weights/config, tokenizer.json, preprocessing spec."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    to_save = model if dtype is None else _cast_copy(model, dtype)
    to_save.save_pretrained(folder)
    tokenizer.save(str(folder / spec.tokenizer_file))
    (folder / PREPROCESS_FILE).write_text(_json(spec.to_dict()))
    return folder


def _cast_copy(
    model: LlavaForConditionalGeneration, dtype: torch.dtype
) -> LlavaForConditionalGeneration:
    clone = LlavaForConditionalGeneration(model.config)
    clone.load_state_dict(model.state_dict())
    return clone.to(dtype)


def _json(obj: object) -> str:
    import json

    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


_TINY_CORPUS = [
    "USER: What color is the triangle? ASSISTANT: red",
    "How many blue circles are there? 3",
    "a red circle to the left of a blue square",
    "TEA 4.50 BUN 2.25 TOTAL 6.75 What is the total?",
    "Which bar is the highest? What is the value of C? 42",
    "A. red B. green C. blue D. yellow Answer with the letter.",
    "Read the code in the box exactly. K7QX",
    "What word is written on the red sign? cafe",
]


def tiny_vlm(seed: int = 0, size: str = "tiny"):  # noqa: ANN201  (LoadedVlm; import cycle)
    """An in-memory random LLaVA with our tokenizer: for tests and quick CLI checks."""
    from .architectures import adapter_for
    from .loading import LoadedVlm, hash_in_memory
    from .tokenizer import train_tokenizer

    tokenizer = train_tokenizer(_TINY_CORPUS * 4, vocab_size=256)
    model = build_llava(SIZES[size], tokenizer, seed=seed)
    spec = preprocess_spec(SIZES[size])
    return LoadedVlm(
        name=f"{size}-random-{seed}",
        model=model,
        adapter=adapter_for(model),
        tokenizer=tokenizer,
        spec=spec,
        model_hash=hash_in_memory(model, tokenizer, spec),
    )
