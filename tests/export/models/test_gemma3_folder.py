"""A tiny Gemma3 folder as downloaded: what the builder reads from it (image size, tokens,
chat template with `| trim`, stop tokens) and the one-line refusals of folders it cannot serve."""

import json
import shutil

import pytest
from gemma3_folders import IMAGE_SIZE, MM_TOKENS

from vlmprune.export.errors import ModelLoadError
from vlmprune.export.models.loading import load_vlm


def test_the_folder_is_read_as_the_processor_reads_it(gemma3_vlm):
    spec = gemma3_vlm.arch.spec
    assert (spec.image.height, spec.image.width) == (IMAGE_SIZE, IMAGE_SIZE)
    assert spec.mm_tokens_per_image == MM_TOKENS
    assert (spec.boi_token, spec.eoi_token, spec.image_token) == (
        "<start_of_image>", "<end_of_image>", "<image_soft_token>",
    )  # fmt: skip
    assert spec.stop_tokens == ("<eos>", "<end_of_turn>")
    assert spec.chat_prompt.strip_prompt  # the template trims the user's text
    text = gemma3_vlm.arch.prompt_text("  Hi there ", None)
    assert (
        text
        == "<bos><start_of_turn>user\n<start_of_image>Hi there<end_of_turn>\n<start_of_turn>model\n"
    )


def _copy(folder, tmp_path):
    out = tmp_path / "g"
    shutil.copytree(folder, out)
    return out


def _edit(path, section, **fields):
    d = json.loads(path.read_text())
    (d[section] if section else d).update(fields)
    path.write_text(json.dumps(d))


def test_layer_types_disagreeing_with_the_blocks_is_one_line(gemma3_folder, tmp_path):
    folder = _copy(gemma3_folder, tmp_path)
    _edit(folder / "config.json", "text_config", layer_types=["full_attention"] * 5)
    with pytest.raises(ModelLoadError) as err:
        load_vlm(str(folder))
    assert str(err.value) == (
        f"{folder / 'config.json'}: field 'text_config.layer_types' has 5 entries but "
        "'text_config.num_hidden_layers' is 6 (one attention type per decoder block)"
    )


def test_an_image_size_the_vision_tower_cannot_take_is_one_line(gemma3_folder, tmp_path):
    folder = _copy(gemma3_folder, tmp_path)
    _edit(folder / "preprocessor_config.json", None, size={"height": 48, "width": 48})
    with pytest.raises(ModelLoadError) as err:
        load_vlm(str(folder))
    assert str(err.value) == (
        f"{folder / 'preprocessor_config.json'}: field 'size' (48 x 48) is not the vision "
        "tower's image size (config.json 'vision_config.image_size' = 32)"
    )


def test_pan_and_scan_is_refused_in_one_line(gemma3_folder, tmp_path):
    folder = _copy(gemma3_folder, tmp_path)
    _edit(folder / "preprocessor_config.json", None, do_pan_and_scan=True)
    with pytest.raises(ModelLoadError, match="field 'do_pan_and_scan' is true"):
        load_vlm(str(folder))


def test_image_tokens_that_do_not_pool_the_patches_are_one_line(gemma3_folder, tmp_path):
    folder = _copy(gemma3_folder, tmp_path)
    _edit(folder / "config.json", None, mm_tokens_per_image=3)
    with pytest.raises(ModelLoadError) as err:
        load_vlm(str(folder))
    assert str(err.value) == (
        f"{folder / 'config.json'}: field 'mm_tokens_per_image' (3) is not a square that pools "
        "the vision tower's 4 x 4 patches"
    )
