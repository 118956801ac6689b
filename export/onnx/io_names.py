"""Graph and I/O names shared by the builder and the checks (docs/contracts.md); torch-free."""

from __future__ import annotations

from ...runtime.kv_buffer import NEXT_TOKENS as _NEXT_TOKENS

VISION_ENCODER = "vision_encoder"
EMBED_TOKENS = "embed_tokens"
DECODER_PREFIX = "decoder_"
NEXT_TOKENS = _NEXT_TOKENS  # gqa decoders: ArgMax of the logits, (B, S) int64


def decoder_input_names(num_layers: int) -> list[str]:
    past = [f"past_key_values.{i}.{kind}" for i in range(num_layers) for kind in ("key", "value")]
    return ["inputs_embeds", "attention_mask", "position_ids", *past]


def decoder_output_names(num_layers: int) -> list[str]:
    present = [f"present.{i}.{kind}" for i in range(num_layers) for kind in ("key", "value")]
    return ["logits", *present]


def fused_input_names(num_layers: int, m_rope: bool = False) -> list[str]:
    """The gqa layout's inputs (fused_decoder.py); its outputs are decoder_output_names.
    M-RoPE decoders also take `position_ids` (3, B, S): GQA's own rotary has one row."""
    past = [f"past_key_values.{i}.{kind}" for i in range(num_layers) for kind in ("key", "value")]
    positions = ["position_ids"] if m_rope else []
    return ["inputs_embeds", "seqlens_k", "total_sequence_length", *positions, *past]
