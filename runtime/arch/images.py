"""Image steps every architecture's image processor shares, in numpy/PIL, as transformers
5.23's PIL backend (`image_processing_backends.PilBackend`, `image_transforms`) does them.

An architecture's own image module (resizing rule, tiling, patching) builds on these; the
tests check each architecture's result against its transformers image processor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image


def to_rgb(image: Image.Image) -> Image.Image:
    """transformers' convert_to_rgb: transparency is composited onto white, not dropped."""
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def resize(image: Image.Image, height: int, width: int, resample: int) -> Image.Image:
    """PIL resize to (height, width); transformers resizes uint8 images through PIL the same
    way (no rescale round trip), and always resizes, even to the same size."""
    return image.resize((width, height), resample=resample)


def rescale_normalize(
    image: Image.Image, factor: float, mean: Sequence[float], std: Sequence[float]
) -> np.ndarray:
    """(C, H, W) float32: transformers rescales in float64, casts to float32, then
    normalises in float32 (`np_rescale`, `np_normalize`)."""
    pixels = (np.asarray(image).astype(np.float64) * factor).astype(np.float32)
    mean_ = np.asarray(mean, dtype=np.float32)
    std_ = np.asarray(std, dtype=np.float32)
    return ((pixels - mean_) / std_).transpose(2, 0, 1)


def stats_to_lists(image: dict) -> dict:
    """An image spec's asdict() with image_mean/image_std as JSON lists."""
    return {**image, "image_mean": list(image["image_mean"]), "image_std": list(image["image_std"])}


def stats_to_tuples(image: Mapping[str, Any]) -> dict:
    """A manifest's image spec with image_mean/image_std as float tuples (ValueError if not)."""
    return {
        **image,
        "image_mean": tuple(float(x) for x in image["image_mean"]),
        "image_std": tuple(float(x) for x in image["image_std"]),
    }
