"""Image steps every architecture's processor shares, as transformers 5.23's PIL backend
does them (`image_transforms`): RGB conversion, rescale and normalise."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image


def to_rgb(image: Image.Image) -> Image.Image:
    """transformers' convert_to_rgb: transparency is composited onto white, not dropped."""
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def rescale_normalize(
    image: Image.Image, factor: float, mean: Sequence[float], std: Sequence[float]
) -> np.ndarray:
    """(H, W, 3) uint8 image -> (3, H, W) float32: transformers rescales in float64, casts to
    float32, then normalises in float32."""
    pixels = (np.asarray(image).astype(np.float64) * factor).astype(np.float32)
    mean_ = np.asarray(mean, dtype=np.float32)
    std_ = np.asarray(std, dtype=np.float32)
    return ((pixels - mean_) / std_).transpose(2, 0, 1)
