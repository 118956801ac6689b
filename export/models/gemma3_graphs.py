"""Gemma3's attention masks, its decoder graph and its vision graph.

The mask convention (runtime/arch/gemma3.py): the decoder's `attention_mask` is 0 for
padding, 1 for a text token and 2 for an image token. Gemma3Model.forward builds the masks
from `token_type_ids` (1 = image token): full layers attend OR(causal, same image),
sliding layers AND(window, OR(causal, same image)); "same image" is one contiguous run of
image tokens. Carrying the image marks in the mask keeps the decoder's inputs those of every
other architecture (inputs_embeds, attention_mask, position_ids, past key/values).

Two implementations of the same masks:
* `mask_mapping` (builder evaluation, PyTorch): transformers' own `create_masks_for_vision_model`
  and `get_block_sequence_ids_for_mask`, the reference.
* `Gemma3DecoderWithCache` (the ONNX graph): the same rule in plain tensor ops that trace,
  every layer's cache kept whole (a sliding layer's window is the mask's job, not the cache's,
  so every present has P + T positions like every other architecture's graph). The export
  tests check the graph against Gemma3ForConditionalGeneration with `token_type_ids` at
  prompts longer than twice the window.

An image's tokens must lie in one prefill call (the runtime always prefills the whole
prompt): a query sees the image marks of the whole mask, so a decode step, whose token is
text, gets the causal (and window) rule only, as in transformers' generate.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import Cache, DynamicCache, PretrainedConfig, PreTrainedModel
from transformers.models.gemma3.modeling_gemma3 import (
    create_masks_for_vision_model,
    get_block_sequence_ids_for_mask,
)

from ...runtime.arch.gemma3 import IMAGE_MARK


def mask_mapping(
    config: PretrainedConfig,
    embeds: torch.Tensor,
    mask: torch.Tensor,
    cache: Cache | None,
    positions: torch.Tensor,
) -> dict:
    """Gemma3TextModel's `attention_mask` argument for a marked mask, as Gemma3Model makes it."""
    blocks = get_block_sequence_ids_for_mask((mask == IMAGE_MARK).long(), device=embeds.device)
    return create_masks_for_vision_model(
        config=config,
        inputs_embeds=embeds,
        attention_mask=(mask > 0).long(),
        past_key_values=cache,
        position_ids=positions,
        block_sequence_ids=blocks,
    )


def additive_masks(mask: torch.Tensor, seq: int, window: int, dtype: torch.dtype) -> tuple:
    """(full, sliding) additive masks (B, 1, T, P + T) for the last `seq` queries of a marked
    (B, P + T) mask: 0 where a query may attend, the dtype's minimum elsewhere."""
    total = mask.shape[1]
    keys = torch.arange(total, device=mask.device)
    queries = keys[total - seq :]  # absolute index of each query
    causal = keys[None, :] <= queries[:, None]  # (T, P + T)
    in_window = keys[None, :] > queries[:, None] - window
    is_image = mask == IMAGE_MARK
    starts = is_image & ~nn.functional.pad(is_image, (1, 0))[:, :-1]
    blocks = torch.where(is_image, starts.long().cumsum(-1), torch.zeros_like(mask))  # 0: text
    q_blocks = blocks[:, total - seq :]
    same_image = (q_blocks[:, :, None] == blocks[:, None, :]) & (q_blocks[:, :, None] > 0)
    allowed = (causal[None] | same_image) & (mask > 0)[:, None, :]  # (B, T, P + T)
    low = torch.finfo(dtype).min
    zero = torch.zeros((), dtype=dtype, device=mask.device)
    full = torch.where(allowed, zero, low)[:, None]
    sliding = torch.where(allowed & in_window[None], zero, low)[:, None]
    return full, sliding


class Gemma3DecoderWithCache(nn.Module):
    """The (pruned) Gemma3 text decoder + LM head, KV cache as flat tensors in and out."""

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__()
        self.decoder = model.model.language_model
        self.head = model.lm_head
        self.config = model.config.text_config
        self.num_layers = len(self.decoder.layers)

    def forward(
        self,
        inputs_embeds: torch.Tensor,  # (B, T, H)
        attention_mask: torch.Tensor,  # (B, P + T): 0 pad, 1 text, 2 image
        position_ids: torch.Tensor,  # (B, T)
        *past: torch.Tensor,  # 2L tensors (B, kv_heads, P, head_dim)
    ) -> tuple[torch.Tensor, ...]:
        cache = DynamicCache()  # no config: every layer keeps all its positions
        for i in range(self.num_layers):
            cache.update(past[2 * i], past[2 * i + 1], i)
        full, sliding = additive_masks(
            attention_mask, inputs_embeds.shape[1], self.config.sliding_window, inputs_embeds.dtype
        )
        out = self.decoder(
            inputs_embeds=inputs_embeds,
            attention_mask={"full_attention": full, "sliding_attention": sliding},
            position_ids=position_ids,
            past_key_values=cache,
            use_cache=True,
        )
        logits = self.head(out.last_hidden_state)
        if self.config.final_logit_softcapping is not None:  # as Gemma3ForConditionalGeneration
            cap = self.config.final_logit_softcapping
            logits = torch.tanh(logits / cap) * cap
        present: list[torch.Tensor] = []
        for layer in out.past_key_values.layers:
            present += [layer.keys, layer.values]
        return (logits, *present)


class Gemma3VisionGraph(nn.Module):
    """(N, 3, S, S) pixels -> (N * mm_tokens_per_image, H): SigLIP, then the projector's
    average pooling, norm and projection (`get_image_features`), flattened in image order."""

    input_names = ("pixel_values",)

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__()
        self.vision_tower = model.model.vision_tower
        self.projector = model.model.multi_modal_projector

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        hidden = self.vision_tower(pixel_values=pixel_values).last_hidden_state
        features = self.projector(hidden)  # (N, mm_tokens_per_image, H)
        return features.reshape(-1, features.shape[-1])
