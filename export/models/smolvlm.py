"""SmolVLM / SmolVLM2 / Idefics3 (`SmolVLMForConditionalGeneration`,
`Idefics3ForConditionalGeneration`): a SigLIP vision tower on fixed-size tiles, a pixel
shuffle + projection connector, and a Llama-style decoder at `model.model.text_model`.

This module reads the image side of a folder as downloaded: `preprocessor_config.json`
(tile and resize sizes, mean/std) and `processor_config.json`'s `image_seq_len`, checked
against the vision tower the config describes, so a folder whose image processor would feed
tiles the tower cannot take is one line naming the file and field.
"""

from __future__ import annotations

from pathlib import Path

from transformers import PretrainedConfig

from ...runtime.arch.smolvlm_images import TileSpec
from ..errors import ModelLoadError
from . import hf_folder

PROCESSOR_CONFIG = "processor_config.json"


def image_seq_len(config: PretrainedConfig) -> int:
    """Image tokens per tile: the tile's patches after the connector's pixel shuffle."""
    vision = config.vision_config
    where = "config.json"
    if vision.image_size % vision.patch_size:
        raise ModelLoadError(
            f"{where}: field 'vision_config.image_size' ({vision.image_size}) is not a multiple "
            f"of 'vision_config.patch_size' ({vision.patch_size})"
        )
    side = vision.image_size // vision.patch_size
    if side % config.scale_factor:
        raise ModelLoadError(
            f"{where}: field 'scale_factor' ({config.scale_factor}) does not divide the "
            f"{side} patches per tile side"
        )
    return (side // config.scale_factor) ** 2


def tile_spec(path: Path, config: PretrainedConfig) -> tuple[TileSpec, int]:
    """(TileSpec, image_seq_len) from the folder's processor files, checked against config."""
    where = path / hf_folder.PREPROCESSOR_CONFIG
    d = hf_folder.read_json(
        path,
        hf_folder.PREPROCESSOR_CONFIG,
        required=True,
        why="the image processor: tile size, resize size, mean/std",
    )
    hf_folder.require_image_steps(where, d)
    size, tiles = d.get("size"), d.get("max_image_size")
    for name, value in (("size", size), ("max_image_size", tiles)):
        if not isinstance(value, dict) or not isinstance(value.get("longest_edge"), int):
            raise ModelLoadError(f"{where}: field '{name}' must be {{'longest_edge': <int>}}")
    tile = tiles["longest_edge"]
    vision_size = config.vision_config.image_size
    if tile != vision_size:
        raise ModelLoadError(
            f"{where}: field 'max_image_size.longest_edge' ({tile}) is not the vision tower's "
            f"tile size (config.json 'vision_config.image_size' = {vision_size})"
        )
    seq_len = image_seq_len(config)
    declared = hf_folder.read_json(path, PROCESSOR_CONFIG, required=False).get("image_seq_len")
    if declared is not None and declared != seq_len:
        raise ModelLoadError(
            f"{path / PROCESSOR_CONFIG}: field 'image_seq_len' ({declared}) is not the "
            f"{seq_len} tokens the connector makes of one tile"
        )
    try:
        spec = TileSpec(
            longest_edge=int(size["longest_edge"]),
            tile=tile,
            do_image_splitting=bool(d.get("do_image_splitting", True)),
            image_mean=tuple(float(x) for x in d.get("image_mean", TileSpec.image_mean)),
            image_std=tuple(float(x) for x in d.get("image_std", TileSpec.image_std)),
            rescale_factor=float(d.get("rescale_factor", 1 / 255)),
            resample=int(d.get("resample", 1)),
        )
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"{where}: not an Idefics3 image processor config ({exc})") from None
    return spec, seq_len
