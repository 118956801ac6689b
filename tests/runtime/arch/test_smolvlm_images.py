"""The runtime's SmolVLM / Idefics3 numpy image side equals transformers: the tiles (resize,
split, global image, rescale/normalise) and the prompt's image markers, on many sizes."""

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from vlmprune.runtime.arch.smolvlm_images import TileSpec, image_prompt, preprocess_image

# (height, width): smaller than a tile, tiny, square, portrait, landscape, very thin, huge
SIZES = [
    (10, 10), (1, 1), (2, 399), (31, 17), (64, 64), (65, 64), (100, 250), (250, 100),
    (300, 451), (20, 3000), (3000, 20), (5000, 4100), (128, 129),
]  # fmt: skip
MODES = ["RGB", "RGBA", "L", "P"]


def _image(height, width, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (height, width, 4), dtype=np.uint8), "RGBA")
    if mode == "P":  # palette with a transparent index: composited onto white like alpha
        image = image.convert("RGB").quantize(16)
        image.info["transparency"] = 3
        return image
    return image.convert(mode)


def _hf(kind, longest_edge, tile, splitting=True):
    if kind == "idefics3":
        from transformers.models.idefics3 import Idefics3ImageProcessorPil as cls
    else:
        from transformers.models.smolvlm import SmolVLMImageProcessorPil as cls
    return cls(
        size={"longest_edge": longest_edge},
        max_image_size={"longest_edge": tile},
        do_image_splitting=splitting,
    )


def _check(kind, image, longest_edge, tile, splitting=True):
    hf = _hf(kind, longest_edge, tile, splitting)
    expected = hf(image, return_tensors="np", return_row_col_info=True)
    spec = TileSpec(longest_edge=longest_edge, tile=tile, do_image_splitting=splitting)
    ours = preprocess_image(image, spec)
    assert (ours.rows, ours.cols) == (expected["rows"][0][0], expected["cols"][0][0])
    assert ours.pixels.dtype == np.float32
    np.testing.assert_array_equal(ours.pixels, expected["pixel_values"][0])
    assert expected["pixel_attention_mask"].all()  # one image: no padding to drop
    return ours


@pytest.mark.parametrize("kind", ["idefics3", "smolvlm"])
@pytest.mark.parametrize("size", SIZES)
def test_tiles_equal_transformers_on_many_sizes(kind, size):
    ours = _check(kind, _image(*size), longest_edge=128, tile=32)
    assert ours.pixels.shape[0] == (ours.rows * ours.cols + 1 if ours.rows else 1)


@pytest.mark.parametrize("size", [(10, 10), (300, 451), (451, 300), (20, 3000)])
def test_tiles_equal_transformers_without_splitting(size):
    ours = _check("smolvlm", _image(*size), longest_edge=128, tile=32, splitting=False)
    assert (ours.rows, ours.cols, ours.pixels.shape[0]) == (0, 0, 1)


@pytest.mark.parametrize("mode", MODES)
def test_tiles_equal_transformers_for_every_mode(mode):
    _check("idefics3", _image(70, 90, mode, seed=1), longest_edge=128, tile=32)


@pytest.mark.parametrize(
    ("kind", "longest_edge", "tile"), [("idefics3", 4 * 364, 364), ("smolvlm", 4 * 512, 512)]
)
def test_tiles_equal_transformers_with_release_sizes(kind, longest_edge, tile):
    ours = _check(kind, _image(480, 640, seed=3), longest_edge, tile)
    assert (ours.rows, ours.cols) == (3, 4)  # 1456 wide -> 4 tiles, 1092 high -> 3 tiles


@pytest.mark.parametrize("size", [(10, 10), (100, 250), (250, 100), (300, 451)])
def test_image_prompt_equals_transformers(size):
    from transformers.models.idefics3.processing_idefics3 import Idefics3Processor
    from transformers.models.smolvlm.processing_smolvlm import get_image_prompt_string

    tiles = preprocess_image(_image(*size), TileSpec(longest_edge=128, tile=32))
    smol = get_image_prompt_string(
        tiles.rows, tiles.cols, 9, "<fake_token_around_image>", "<image>", "<global-img>"
    )
    processor = SimpleNamespace(
        fake_image_token="<fake_token_around_image>",
        image_token="<image>",
        global_image_tag="<global-img>",
        image_seq_len=9,
    )
    rows_cols = {"rows": [[tiles.rows]], "cols": [[tiles.cols]]}
    idefics = Idefics3Processor.replace_image_token(processor, rows_cols, 0)
    assert image_prompt(tiles, 9) == smol == idefics
    assert image_prompt(tiles, 9).count("<image>") == 9 * tiles.pixels.shape[0]
