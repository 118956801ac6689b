"""Tiny random Gemma3 (`Gemma3ForConditionalGeneration`) models built in-process (no download).

Six decoder blocks alternate sliding and full attention (`layer_types` is given explicitly,
not derived from `sliding_window_pattern`, so removal must keep it), the window is 4 tokens
so test prompts run well past it, the two RoPEs have different bases, and the SigLIP tower
sees 32 x 32 images in 8-pixel patches that the projector average-pools to 4 tokens.
Norm weights and biases are perturbed (transformers initialises them to constants; a
converter that dropped one would go unseen).
"""

from __future__ import annotations

import torch

VOCAB = 128
PAD, EOS, BOS = 0, 1, 2
BOI, EOI, IMAGE = 125, 126, 127
SLIDING_WINDOW = 4
MM_TOKENS = 4  # image tokens per image (2 x 2 after the projector's pooling)
IMAGE_SIZE = 32
LAYER_TYPES = [
    "sliding_attention", "sliding_attention", "full_attention",
    "sliding_attention", "sliding_attention", "full_attention",
]  # fmt: skip


def build_model(seed: int = 0) -> torch.nn.Module:
    """A tiny random Gemma3 in eval mode."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    text = dict(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=len(LAYER_TYPES),
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        query_pre_attn_scalar=16,
        max_position_embeddings=512,
        sliding_window=SLIDING_WINDOW,
        layer_types=list(LAYER_TYPES),
        rope_parameters={
            "sliding_attention": {"rope_type": "default", "rope_theta": 10.0},
            "full_attention": {"rope_type": "default", "rope_theta": 10000.0},
        },
        pad_token_id=PAD,
        eos_token_id=EOS,
        bos_token_id=BOS,
    )
    vision = dict(
        model_type="siglip_vision_model",
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=IMAGE_SIZE,
        patch_size=8,
        vision_use_head=False,
    )
    config = Gemma3Config(
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=MM_TOKENS,
        boi_token_index=BOI,
        eoi_token_index=EOI,
        image_token_index=IMAGE,
    )
    config.pad_token_id, config.eos_token_id, config.bos_token_id = PAD, EOS, BOS
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config)
    _perturb(model, seed)
    return model.eval()


def _perturb(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=g))


def image_prompt(text_ids: list[int], before: int = 2) -> list[int]:
    """BOS, some text, BOI, the image tokens, EOI, more text: the layout Gemma3Processor makes."""
    return [BOS, *text_ids[:before], BOI, *[IMAGE] * MM_TOKENS, EOI, *text_ids[before:]]


def pixel_values(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g) * 2 - 1
