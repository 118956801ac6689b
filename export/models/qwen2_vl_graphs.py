"""Qwen2-VL / Qwen2.5-VL vision towers and embeddings as traceable modules (for ONNX).

`visual(pixel_values, grid_thw)` cannot be traced as it is: its Python reads the grid
(`.tolist()` splits, window indices), so a trace freezes one image size. Here everything
that depends on the grid arrives as inputs the runtime computes in numpy
(`vlmprune.runtime.arch.qwen2_vl_vision.vision_feeds`), and attention stays inside an
image, frame or window through a block-diagonal bias built in the graph from segment ids
(Equal -> Where) instead of per-segment splits. Same weights, same maths as transformers.

    Qwen2.5-VL  pixel_values (N, C*T*P*P), rotary_cos / rotary_sin (N, head_dim) [window
                order], window_index (N/4), reverse_index (N/4), full_segment_ids (N)
                [window order], window_segment_ids (N) -> image_features (N/4, H)
    Qwen2-VL    pixel_values, rotary_cos, rotary_sin, full_segment_ids -> image_features

For onnxruntime-genai's `qwen2_5_vl` type (which feeds `pixel_values` and one image's
`image_grid_thw`), `Qwen25VisionFromGrid` computes those side inputs in the graph with plain
tensor ops, and `EmbeddingWithImages` does the token embedding and the image merge.
"""

from __future__ import annotations

import torch
from torch import nn


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def segment_bias(segments: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(N, N) additive bias: 0 inside a segment, the dtype's minimum across segments."""
    same = segments[:, None] == segments[None, :]
    zero = torch.zeros((), dtype=dtype)
    return torch.where(same, zero, torch.full((), torch.finfo(dtype).min, dtype=dtype))


def masked_attention(
    attn: nn.Module, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """The vision attention of transformers (qkv, 2-D rotary, softmax(QK^T * scale) V, proj),
    with an additive bias where transformers splits by cu_seqlens."""
    n = h.shape[0]
    q, k, v = attn.qkv(h).reshape(n, 3, attn.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
    c, s = cos.unsqueeze(-2), sin.unsqueeze(-2)  # (N, 1, head_dim)
    q = q * c + _rotate_half(q) * s
    k = k * c + _rotate_half(k) * s
    q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)  # (heads, N, head_dim)
    scores = torch.matmul(q, k.transpose(1, 2)) * attn.scaling + bias
    out = torch.matmul(torch.softmax(scores, dim=-1), v)
    return attn.proj(out.transpose(0, 1).reshape(n, -1))


def _blocks(
    visual: nn.Module, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, biases: list
) -> torch.Tensor:
    for block, bias in zip(visual.blocks, biases, strict=True):
        x = x + masked_attention(block.attn, block.norm1(x), cos, sin, bias)
        x = x + block.mlp(block.norm2(x))
    return x


class Qwen25VisionGraph(nn.Module):
    input_names = (
        "pixel_values",
        "rotary_cos",
        "rotary_sin",
        "window_index",
        "reverse_index",
        "full_segment_ids",
        "window_segment_ids",
    )

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        self.visual = visual
        self.full = set(visual.fullatt_block_indexes)  # the other blocks attend in windows

    def forward(
        self,
        pixel_values: torch.Tensor,
        rotary_cos: torch.Tensor,
        rotary_sin: torch.Tensor,
        window_index: torch.Tensor,
        reverse_index: torch.Tensor,
        full_segment_ids: torch.Tensor,
        window_segment_ids: torch.Tensor,
    ) -> torch.Tensor:
        v = self.visual
        x = v.patch_embed(pixel_values)  # (N, D)
        unit, dim = v.spatial_merge_unit, x.shape[-1]
        x = x.reshape(-1, unit, dim)[window_index].reshape(-1, dim)  # into window order
        full, windows = (
            segment_bias(full_segment_ids, x.dtype),
            segment_bias(window_segment_ids, x.dtype),
        )
        biases = [full if i in self.full else windows for i in range(len(v.blocks))]
        x = _blocks(v, x, rotary_cos, rotary_sin, biases)
        return v.merger(x)[reverse_index]  # (N/4, H), merged tokens back in raster order


class Qwen2VisionGraph(nn.Module):
    input_names = ("pixel_values", "rotary_cos", "rotary_sin", "full_segment_ids")

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        self.visual = visual

    def forward(
        self,
        pixel_values: torch.Tensor,
        rotary_cos: torch.Tensor,
        rotary_sin: torch.Tensor,
        full_segment_ids: torch.Tensor,
    ) -> torch.Tensor:
        v = self.visual
        x = v.patch_embed(pixel_values)
        bias = segment_bias(full_segment_ids, x.dtype)
        x = _blocks(v, x, rotary_cos, rotary_sin, [bias] * len(v.blocks))
        return v.merger(x)


class Qwen25VisionFromGrid(nn.Module):
    """Qwen2.5-VL's tower with onnxruntime-genai's signature: one image (t = 1) per call,
    `image_grid_thw` (1, 3); rotary, window order and window ids computed in the graph."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        self.visual = visual
        config = visual.config
        self.merge = config.spatial_merge_size
        self.window = config.window_size // config.spatial_merge_size // config.patch_size
        self.full = set(visual.fullatt_block_indexes)
        self.register_buffer("inv_freq", visual.rotary_pos_emb.inv_freq.clone(), persistent=False)

    def forward(self, pixel_values: torch.Tensor, image_grid_thw: torch.Tensor) -> torch.Tensor:
        v, m, win = self.visual, self.merge, self.window
        lw = image_grid_thw[0, 2] // m  # merged tokens per row
        n = pixel_values.shape[0]
        p = torch.arange(n)
        block, within = p // (m * m), p % (m * m)
        rows = (block // lw) * m + within // m
        cols = (block % lw) * m + within % m
        freqs = torch.stack([rows, cols], -1).float()[..., None] * self.inv_freq
        angles = torch.cat([freqs[:, 0], freqs[:, 1]], -1)
        angles = torch.cat([angles, angles], -1)
        cos, sin = angles.cos(), angles.sin()
        merged = torch.arange(n // (m * m))
        r, c = merged // lw, merged % lw
        # Window id in transformers' order; its padding of an extra window when a side divides
        # evenly only adds empty windows, so the order below is the same.
        window_id = (r // win) * (lw // win + 1) + c // win
        window_index = torch.argsort((window_id * win + r % win) * win + c % win)
        reverse_index = torch.argsort(window_index)
        patch_order = (window_index[:, None] * (m * m) + torch.arange(m * m)).reshape(-1)
        cos, sin = cos[patch_order], sin[patch_order]
        segments = window_id[window_index][:, None].expand(-1, m * m).reshape(-1)
        x = v.patch_embed(pixel_values)
        dim = x.shape[-1]
        x = x.reshape(-1, m * m, dim)[window_index].reshape(-1, dim)
        windows = segment_bias(segments, x.dtype)
        no_mask = torch.zeros((), dtype=x.dtype)  # one image, one frame: full attention is global
        biases = [no_mask if i in self.full else windows for i in range(len(v.blocks))]
        return v.merger(_blocks(v, x, cos, sin, biases))[reverse_index]


class EmbeddingWithImages(nn.Module):
    """input_ids (B, T), image_features (M, H) -> inputs_embeds (B, T, H); the image rows
    replace the image tokens in row-major order (M may be 0 for a text-only request)."""

    def __init__(self, embedding: nn.Module, image_token_id: int) -> None:
        super().__init__()
        self.embedding = embedding
        self.image_token_id = image_token_id

    def forward(self, input_ids: torch.Tensor, image_features: torch.Tensor) -> torch.Tensor:
        embeds = self.embedding(input_ids)  # (B, T, H)
        is_image = input_ids == self.image_token_id
        flat = is_image.reshape(-1).to(torch.int64)
        order = torch.cumsum(flat, 0) - 1
        count = image_features.shape[0]
        zero = torch.zeros(1, embeds.shape[-1], dtype=embeds.dtype)
        padded = torch.cat([image_features.to(embeds.dtype), zero], 0)  # row M: never an image
        index = torch.where(flat.bool(), order.clamp(min=0), torch.full_like(order, 0) + count)
        return torch.where(is_image[..., None], padded[index].reshape(embeds.shape), embeds)
