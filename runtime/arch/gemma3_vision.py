"""Gemma3 image side in numpy: `Gemma3ImageProcessorPil` of transformers 5.23 without pan and
scan (off in the releases' preprocessor_config.json). The whole image is resized to the
vision tower's square `size` (PIL bilinear, aspect ratio not kept), rescaled and
normalised; the tests check it against transformers on many sizes and image modes."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from .images import rescale_normalize, resize, to_rgb


@dataclass(frozen=True)
class ImageSpec:
    height: int = 896
    width: int = 896
    resample: int = 2  # PIL bilinear, Gemma3ImageProcessorPil's default
    rescale_factor: float = 1 / 255
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def to_dict(self) -> dict:
        return asdict(self)


def preprocess_image(image: Image.Image, spec: ImageSpec) -> np.ndarray:
    """PIL image -> (3, height, width) float32 pixel values, as the image processor gives."""
    image = resize(to_rgb(image), spec.height, spec.width, spec.resample)
    return rescale_normalize(image, spec.rescale_factor, spec.image_mean, spec.image_std)
