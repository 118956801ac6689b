"""Batched greedy generation with a KV cache, from precomputed decoder input embeddings.

One prefill over the whole left-padded prompt, then one token per step. The prefill's
position ids come from the runtime architecture ((B, T) from the attention mask, so left
padding does not shift positions; (3, B, T) M-RoPE ids for Qwen2-VL); every decode step
adds one to the last ones, as HF generate does. Generation stops at any of the model's
stop tokens (`LoadedVlm.eos_ids`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import DynamicCache

from ...runtime.generation import until_stop
from ..models.loading import LoadedVlm


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask), both (B, T_max), padded on the left."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            ids[row, width - len(seq) :] = torch.as_tensor(list(seq))
            mask[row, width - len(seq) :] = 1
    return ids, mask


@torch.no_grad()
def greedy_generate(
    vlm: LoadedVlm,
    embeds: torch.Tensor,
    mask: torch.Tensor,
    max_new_tokens: int,
    positions: torch.Tensor | None = None,
) -> list[list[int]]:
    """Greedy token ids per row (EOS excluded) for left-padded `embeds` (B, T, H).

    `positions`: the prefill's position ids (default: from the mask, (B, T)).
    """
    model, adapter = vlm.model, vlm.adapter
    decoder, head = adapter.decoder(model), adapter.lm_head(model)
    cache = DynamicCache(config=adapter.text_config(model))
    if positions is None:
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
    stops = vlm.eos_ids
    stop_tensor = torch.tensor(stops, device=embeds.device)
    batch = embeds.shape[0]
    finished = torch.zeros(batch, dtype=torch.bool, device=embeds.device)
    tokens: list[torch.Tensor] = []
    step_embeds, step_pos = embeds, positions
    for _ in range(max_new_tokens):
        out = decoder(
            inputs_embeds=step_embeds,
            attention_mask=adapter.attention_mask(model, step_embeds, mask, cache, step_pos),
            position_ids=step_pos,
            past_key_values=cache,
            use_cache=True,
        )
        next_ids = head(out.last_hidden_state[:, -1]).argmax(-1)  # (B,)
        next_ids = torch.where(finished, torch.full_like(next_ids, stops[0]), next_ids)
        tokens.append(next_ids)
        finished |= torch.isin(next_ids, stop_tensor)
        if bool(finished.all()):
            break
        step_embeds = model.get_input_embeddings()(next_ids)[:, None, :]
        step_pos = step_pos[..., -1:] + 1  # every row of M-RoPE positions advances by one
        mask = torch.cat([mask, mask.new_ones((batch, 1))], dim=1)
    if not tokens:
        return [[] for _ in range(batch)]
    return [until_stop(row, stops) for row in torch.stack(tokens, dim=1).tolist()]
