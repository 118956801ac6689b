"""A SmolVLM / Idefics3 folder's image side: the tile spec read from the files transformers
writes preprocesses like transformers' own image processor loaded from the same folder, and
a folder whose tiles the vision tower cannot take is one line naming the file and field."""

import json

import numpy as np
import pytest
from PIL import Image
from smolvlm_folders import IMAGE_SEQ_LEN, KINDS, TILE, image_folder, tiny_config

from vlmprune.export.errors import ModelLoadError
from vlmprune.export.models.smolvlm import tile_spec
from vlmprune.runtime.arch.smolvlm_images import preprocess_image


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", [(20, 20), (50, 120), (120, 50)])
def test_folder_tiles_equal_the_folders_transformers_processor(kind, size, tmp_path):
    from transformers import AutoImageProcessor

    folder = image_folder(kind, tmp_path)
    spec, seq_len = tile_spec(folder, tiny_config(kind))
    assert (spec.tile, spec.longest_edge, seq_len) == (TILE, 3 * TILE, IMAGE_SEQ_LEN)
    hf = AutoImageProcessor.from_pretrained(folder)  # the PIL one: no torchvision
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8))
    expected = hf(image, return_tensors="np", return_row_col_info=True)
    ours = preprocess_image(image, spec)
    assert (ours.rows, ours.cols) == (expected["rows"][0][0], expected["cols"][0][0])
    np.testing.assert_array_equal(ours.pixels, expected["pixel_values"][0])


def test_a_tile_the_vision_tower_cannot_take_is_one_line(tmp_path):
    folder = image_folder("idefics3", tmp_path, max_image_size={"longest_edge": 48})
    with pytest.raises(ModelLoadError) as err:
        tile_spec(folder, tiny_config("idefics3"))
    assert str(err.value) == (
        f"{folder / 'preprocessor_config.json'}: field 'max_image_size.longest_edge' (48) is "
        "not the vision tower's tile size (config.json 'vision_config.image_size' = 32)"
    )


def test_a_wrong_image_seq_len_is_one_line(tmp_path):
    folder = image_folder("smolvlm", tmp_path)
    (folder / "processor_config.json").write_text(json.dumps({"image_seq_len": 81}))
    with pytest.raises(
        ModelLoadError, match=r"processor_config.json: field 'image_seq_len' \(81\)"
    ):
        tile_spec(folder, tiny_config("smolvlm"))


def test_a_scale_factor_that_does_not_divide_the_tile_is_one_line(tmp_path):
    folder = image_folder("smolvlm", tmp_path)
    config = tiny_config("smolvlm")
    config.scale_factor = 3
    with pytest.raises(ModelLoadError, match=r"^config.json: field 'scale_factor' \(3\)"):
        tile_spec(folder, config)


def test_a_missing_preprocessor_config_names_the_file(tmp_path):
    folder = image_folder("smolvlm", tmp_path)
    (folder / "preprocessor_config.json").unlink()
    with pytest.raises(ModelLoadError, match="preprocessor_config.json is missing"):
        tile_spec(folder, tiny_config("smolvlm"))


def test_a_size_without_longest_edge_is_one_line(tmp_path):
    folder = image_folder("smolvlm", tmp_path)
    path = folder / "preprocessor_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "size": {"height": 32}}))
    with pytest.raises(ModelLoadError, match=r"field 'size' must be \{'longest_edge': <int>\}"):
        tile_spec(folder, tiny_config("smolvlm"))
