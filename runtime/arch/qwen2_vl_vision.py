"""Qwen2-VL / Qwen2.5-VL image side in numpy: the image processor and the vision graph's
side inputs. Mirrors transformers 5.23 (`Qwen2VLImageProcessorPil`, `image_transforms`,
`vision_utils`); the tests check both against transformers on many image sizes.

Image -> patches: RGB (transparency composited on white), `smart_resize` to multiples of
patch x merge within [min_pixels, max_pixels] (an image below min_pixels is enlarged, as
transformers does), PIL bicubic resize (always applied, even at the same size), rescale in
float64 then float32, normalise, and patchify into rows of C*T*P*P values in merge-block
order. The vision graph then needs what depends on the grid only: 2-D rotary cos/sin and,
for Qwen2.5-VL's window attention, the window permutation and segment ids (the graph
builds its block-diagonal masks from segment ids, so one graph serves every image size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .images import to_rgb

Grid = tuple[int, int, int]  # (t, h, w) in patches


@dataclass(frozen=True)
class ImageSpec:
    """The fields of `preprocessor_config.json` that decide the patches."""

    min_pixels: int
    max_pixels: int
    patch_size: int = 14
    temporal_patch_size: int = 2
    merge_size: int = 2
    image_mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
    image_std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)
    rescale_factor: float = 1 / 255
    resample: int = 3  # PIL.Image.Resampling.BICUBIC, transformers' default here

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size

    @property
    def patch_values(self) -> int:
        """Values per patch row: C * T * P * P (1176 for the releases)."""
        return 3 * self.temporal_patch_size * self.patch_size**2


@dataclass(frozen=True)
class QwenImage:
    """One preprocessed image: what the vision encoder takes for it."""

    patches: np.ndarray  # (t * h * w, C*T*P*P) float32
    grid: Grid

    def num_tokens(self, merge_size: int) -> int:
        t, h, w = self.grid
        return t * h * w // merge_size**2


def smart_resize(height: int, width: int, spec: ImageSpec) -> tuple[int, int]:
    """transformers' smart_resize: sides multiple of `factor`, pixels within [min, max]."""
    factor = spec.factor
    if max(height, width) / min(height, width) > 200:
        raise ValueError(
            f"the image's aspect ratio {max(height, width) / min(height, width):.0f} is over 200, "
            "which the model's image processor refuses"
        )
    h_bar = round(height / factor) * factor  # Python round: half to even, as transformers
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > spec.max_pixels:
        beta = math.sqrt((height * width) / spec.max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < spec.min_pixels:
        beta = math.sqrt(spec.min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def preprocess_image(image: Image.Image, spec: ImageSpec) -> QwenImage:
    """PIL image -> patches and grid, as `Qwen2VLImageProcessorPil` computes them."""
    image = to_rgb(image)
    height, width = smart_resize(image.height, image.width, spec)
    image = image.resize((width, height), resample=spec.resample)
    # transformers rescales in float64 and casts to float32 before normalising in float32.
    pixels = (np.asarray(image).astype(np.float64) * spec.rescale_factor).astype(np.float32)
    mean = np.asarray(spec.image_mean, dtype=np.float32)
    std = np.asarray(spec.image_std, dtype=np.float32)
    return patchify(((pixels - mean) / std).transpose(2, 0, 1), spec)


def patchify(pixels: np.ndarray, spec: ImageSpec) -> QwenImage:
    """(C, H, W) -> (h*w, C*T*P*P): rows in merge-block order (h/m, w/m, m, m); the single
    frame repeated T times along the temporal axis."""
    c, height, width = pixels.shape
    p, m, t = spec.patch_size, spec.merge_size, spec.temporal_patch_size
    gh, gw = height // p, width // p
    x = pixels.reshape(c, gh // m, m, p, gw // m, m, p).transpose(1, 4, 2, 5, 0, 3, 6)
    x = np.broadcast_to(x[:, :, :, :, :, None], (*x.shape[:5], t, p, p))
    patches = np.ascontiguousarray(x.reshape(gh * gw, c * t * p * p), dtype=np.float32)
    return QwenImage(patches, (1, gh, gw))


# --- the vision graph's side inputs ---------------------------------------------------


def _patch_positions(grid: Grid, merge: int) -> np.ndarray:
    """(t*h*w, 2) (row, column) of each patch, in merge-block order."""
    t, h, w = grid
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    shape = (h // merge, merge, w // merge, merge)
    rows = rows.reshape(shape).transpose(0, 2, 1, 3).reshape(-1)
    cols = cols.reshape(shape).transpose(0, 2, 1, 3).reshape(-1)
    return np.tile(np.stack([rows, cols], -1), (t, 1))


def rotary(grids: list[Grid], merge: int, head_dim: int, theta: float) -> tuple[np.ndarray, ...]:
    """cos, sin (N, head_dim) float32 of the vision tower's 2-D rotary embedding."""
    half = head_dim // 2
    exponent = np.arange(0, half, 2, dtype=np.float32) / np.float32(half)
    inv_freq = (1.0 / np.float32(theta) ** exponent).astype(np.float32)
    pos = np.concatenate([_patch_positions(g, merge) for g in grids]).astype(np.float32)
    freqs = pos[:, :, None] * inv_freq[None, None, :]  # (N, 2, head_dim / 4)
    angles = np.concatenate([freqs[:, 0], freqs[:, 1]], -1)  # (N, head_dim / 2)
    angles = np.concatenate([angles, angles], -1)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def frame_segments(grids: list[Grid]) -> np.ndarray:
    """(N,) int64: one segment per frame of each image (full attention stays inside it)."""
    segments, k = [], 0
    for t, h, w in grids:
        for _ in range(t):
            segments.append(np.full(h * w, k, dtype=np.int64))
            k += 1
    return np.concatenate(segments)


def window_order(grids: list[Grid], merge: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(merged-token permutation into window order, window id per merged token in that order).

    `window` is in merged tokens (window_size // merge // patch). transformers pads a whole
    extra window when a side divides evenly; empty windows vanish, so ids stay per window.
    """
    order, window_ids, base, next_id = [], [], 0, 0
    for t, h, w in grids:
        lh, lw = h // merge, w // merge
        index = np.arange(t * lh * lw).reshape(t, lh, lw)
        pad_h, pad_w = window - lh % window, window - lw % window
        padded = np.pad(index, ((0, 0), (0, pad_h), (0, pad_w)), constant_values=-1)
        nh, nw = (lh + pad_h) // window, (lw + pad_w) // window
        tiles = padded.reshape(t, nh, window, nw, window).transpose(0, 1, 3, 2, 4)
        tiles = tiles.reshape(t * nh * nw, window * window)
        for tile in tiles:
            kept = tile[tile >= 0]
            if kept.size:
                order.append(kept + base)
                window_ids.append(np.full(kept.size, next_id, dtype=np.int64))
                next_id += 1
        base += t * lh * lw
    return np.concatenate(order).astype(np.int64), np.concatenate(window_ids)


def vision_feeds(
    images: list[QwenImage],
    merge: int,
    head_dim: int,
    theta: float,
    window: int | None,
) -> dict[str, np.ndarray]:
    """Every input of the vision graph for these images (one call, segments keep them apart).

    Qwen2.5-VL (`window` set): the blocks see patches in window order, so cos/sin and both
    segment vectors are permuted into it; `reverse_index` restores the merged tokens'
    raster order after the merger. Qwen2-VL: no windows, no permutation.
    """
    grids = [im.grid for im in images]
    cos, sin = rotary(grids, merge, head_dim, theta)
    feeds = {"pixel_values": np.concatenate([im.patches for im in images])}
    full = frame_segments(grids)
    if window is None:
        return {**feeds, "rotary_cos": cos, "rotary_sin": sin, "full_segment_ids": full}
    index, window_ids = window_order(grids, merge, window)
    unit = merge * merge
    patch_order = (index[:, None] * unit + np.arange(unit)).reshape(-1)  # merged -> patches
    return {
        **feeds,
        "rotary_cos": cos[patch_order],
        "rotary_sin": sin[patch_order],
        "window_index": index,
        "reverse_index": np.argsort(index, kind="stable").astype(np.int64),
        "full_segment_ids": full[patch_order],
        "window_segment_ids": np.repeat(window_ids, unit),
    }
