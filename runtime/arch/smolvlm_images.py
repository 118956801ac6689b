"""SmolVLM / SmolVLM2 / Idefics3 image side in numpy: resizing, tiling and the prompt's
image markers. Mirrors transformers 5.23's `Idefics3ImageProcessorPil` /
`SmolVLMImageProcessorPil` (the same steps) and the processors' `replace_image_token`;
the tests check both against transformers on many sizes and aspect ratios.

Image -> tiles: RGB, resize so the longest edge is `size.longest_edge` (the short edge
rounded up to even), then with `do_image_splitting` resize up to multiples of the tile
(`max_image_size.longest_edge`), cut rows x cols tiles in row-major order and append the
whole image resized to one tile (the global image); an image of one tile or less stays one
image with no rows/cols. Without splitting the image is resized to one square tile. Every
resize is PIL on uint8 (LANCZOS for the releases); rescale and normalise come last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .images import rescale_normalize, resize, to_rgb

MAX_IMAGE_SIZE = 4096  # transformers' absolute cap on the resized longest edge
FAKE_TOKEN = "<fake_token_around_image>"
GLOBAL_TOKEN = "<global-img>"
IMAGE_TOKEN = "<image>"


@dataclass(frozen=True)
class TileSpec:
    """The fields of `preprocessor_config.json` (and the processor's image_seq_len) that
    decide the tiles and the prompt."""

    longest_edge: int  # size.longest_edge: the first resize
    tile: int  # max_image_size.longest_edge: one vision-encoder image
    do_image_splitting: bool = True
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    rescale_factor: float = 1 / 255
    resample: int = 1  # PIL.Image.Resampling.LANCZOS, transformers' default here


@dataclass(frozen=True)
class Tiles:
    """One preprocessed image: the vision encoder's inputs and the prompt layout."""

    pixels: np.ndarray  # (rows * cols + 1 or 1, C, tile, tile) float32
    rows: int  # 0 when the image is not split
    cols: int


def _longest_edge_size(height: int, width: int, max_len: int) -> tuple[int, int]:
    # `_resize_output_size_rescale_to_max_len`: int() truncates, the short edge goes even.
    aspect = width / height
    if width >= height:
        width = max_len
        height = int(width / aspect)
        height += height % 2
    else:
        height = max_len
        width = int(height * aspect)
        width += width % 2
    return max(height, 1), max(width, 1)


def _below_cap(height: int, width: int) -> tuple[int, int]:
    # `_resize_output_size_scale_below_upper_bound` with MAX_IMAGE_SIZE.
    aspect = width / height
    if width >= height and width > MAX_IMAGE_SIZE:
        width = MAX_IMAGE_SIZE
        height = int(width / aspect)
    elif height > width and height > MAX_IMAGE_SIZE:
        height = MAX_IMAGE_SIZE
        width = int(height * aspect)
    return max(height, 1), max(width, 1)


def _tile_multiple_size(height: int, width: int, tile: int) -> tuple[int, int]:
    # `resize_for_vision_encoder`: the long edge rounds up first, the short edge follows.
    aspect = width / height
    if width >= height:
        width = math.ceil(width / tile) * tile
        height = math.ceil(int(width / aspect) / tile) * tile
    else:
        height = math.ceil(height / tile) * tile
        width = math.ceil(int(height * aspect) / tile) * tile
    return height, width


def preprocess_image(image: Image.Image, spec: TileSpec) -> Tiles:
    """PIL image -> tiles (+ global image), as the transformers image processor makes them."""
    image = to_rgb(image)
    height, width = _below_cap(*_longest_edge_size(image.height, image.width, spec.longest_edge))
    image = resize(image, height, width, spec.resample)
    rows = cols = 0
    if spec.do_image_splitting:
        image = resize(
            image, *_tile_multiple_size(image.height, image.width, spec.tile), spec.resample
        )
        frames = [image]
        if image.height > spec.tile or image.width > spec.tile:
            rows = (image.height - spec.tile) // spec.tile + 1
            cols = (image.width - spec.tile) // spec.tile + 1
            t = spec.tile
            frames = [
                image.crop((c * t, r * t, (c + 1) * t, (r + 1) * t))
                for r in range(rows)
                for c in range(cols)
            ]
            frames.append(resize(image, t, t, spec.resample))
    else:
        frames = [resize(image, spec.tile, spec.tile, spec.resample)]
    pixels = np.stack(
        [rescale_normalize(f, spec.rescale_factor, spec.image_mean, spec.image_std) for f in frames]
    )
    return Tiles(pixels=pixels, rows=rows, cols=cols)


def image_prompt(tiles: Tiles, image_seq_len: int) -> str:
    """The text that replaces one `<image>` in the prompt (the processors' replace_image_token)."""
    run = IMAGE_TOKEN * image_seq_len
    global_part = f"{FAKE_TOKEN}{GLOBAL_TOKEN}{run}{FAKE_TOKEN}"
    if tiles.rows == 0 and tiles.cols == 0:
        return global_part
    text = ""
    for r in range(tiles.rows):
        for c in range(tiles.cols):
            text += f"{FAKE_TOKEN}<row_{r + 1}_col_{c + 1}>{run}"
        text += "\n"
    return text + "\n" + global_part
