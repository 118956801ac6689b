"""SmolVLM / SmolVLM2 / Idefics3 (`SmolVLMForConditionalGeneration`,
`Idefics3ForConditionalGeneration`): a SigLIP vision tower on fixed-size tiles, a pixel
shuffle + projection connector, and a Llama-style decoder at `model.model.text_model`.

The folder is read as downloaded (no vlmprune file): `tokenizer.json`, the chat template,
`preprocessor_config.json` (tile and resize sizes, mean/std), `processor_config.json`'s
`image_seq_len` and `generation_config.json`'s stop tokens. The image side is checked
against the vision tower the config describes, so a folder whose image processor would feed
tiles the tower cannot take is one line naming the file and field.

Removal is the common contract (`removal.py`) on `model.model.text_model` and
`config.text_config`. onnxruntime-genai has no folder for these models (`genai`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from ...runtime.arch.smolvlm import SmolSpec, SmolVLM
from ...runtime.arch.smolvlm_images import IMAGE_TOKEN, Tiles, TileSpec
from ..errors import ModelLoadError
from . import hf_folder
from .adapter import GenaiSpec, GenaiUnsupportedError, GraphSpec, ModelAdapter, register_adapter
from .chat_template import chat_prompt
from .smolvlm_graphs import SmolVLMVisionGraph

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


@register_adapter
class SmolVLMAdapter(ModelAdapter):
    model_types = ("smolvlm", "idefics3")

    def text_config(self, model: PreTrainedModel) -> PretrainedConfig:
        return model.config.text_config

    def decoder(self, model: PreTrainedModel) -> nn.Module:
        return model.model.text_model  # LlamaModel: embed_tokens, layers, norm

    def lm_head(self, model: PreTrainedModel) -> nn.Module:
        return model.lm_head

    def read_folder(self, path: Path, config: PretrainedConfig) -> tuple[SmolSpec, Tokenizer]:
        text = hf_folder.read_text_files(path, config)
        if text.image_token != IMAGE_TOKEN:
            raise ModelLoadError(
                f"{path / 'config.json'}: field 'image_token_id' ({config.image_token_id}) is "
                f"'{text.image_token}' in {hf_folder.TOKENIZER_JSON}, not the processor's "
                f"'{IMAGE_TOKEN}'"
            )
        tiles, seq_len = tile_spec(path, config)
        spec = SmolSpec(
            tiles=tiles,
            image_seq_len=seq_len,
            chat_prompt=chat_prompt(
                text.template, IMAGE_TOKEN, text.specials, str(text.template_file)
            ),
            image_token_id=int(config.image_token_id),
            eos_token=text.stop_tokens[0],
            pad_token=text.pad_token,
            stop_tokens=text.stop_tokens,
        )
        return spec, text.tokenizer

    def runtime_architecture(self, model: PreTrainedModel, spec: SmolSpec) -> SmolVLM:
        return SmolVLM(spec)

    def input_embeddings(
        self, model: PreTrainedModel, input_ids: torch.Tensor, images: Sequence[Tiles]
    ) -> torch.Tensor:
        """Token embeddings with every tile's connector features at the `<image>` positions,
        as the model's forward merges them (masked_scatter: row-major, tiles in order)."""
        embeds = model.get_input_embeddings()(input_ids)  # (B, T, H)
        if not images:
            return embeds
        pixels = torch.from_numpy(np.concatenate([im.pixels for im in images]))
        # One "batch row" holding every tile: get_image_features flattens rows anyway.
        out = model.model.get_image_features(pixels.to(embeds.device, embeds.dtype)[None])
        features = torch.cat(list(out.pooler_output), dim=0).to(embeds.dtype)
        mask = (input_ids == model.config.image_token_id).unsqueeze(-1).expand_as(embeds)
        if int(mask[..., 0].sum()) != features.shape[0]:
            raise ValueError(
                f"{int(mask[..., 0].sum())} image tokens for {features.shape[0]} image features"
            )
        return embeds.masked_scatter(mask, features)

    def vision_graph(self, model: PreTrainedModel, arch: SmolVLM) -> GraphSpec:
        tile = arch.spec.tiles.tile
        # Two tiles: a traced batch of 1 could fold the tile axis into a constant.
        sample = torch.randn(2, 3, tile, tile, generator=torch.Generator().manual_seed(0))
        module = SmolVLMVisionGraph(model).eval()
        return GraphSpec(
            module=module,
            args=(sample,),
            input_names=module.input_names,
            output_names=("image_features",),
            dynamic_axes={"pixel_values": {0: "num_tiles"}, "image_features": {0: "num_tokens"}},
            # The connector's reshape leaves the width symbolic; it is the decoder's.
            static_output_dims={"image_features": {1: self.text_config(model).hidden_size}},
        )

    def genai(self, model: PreTrainedModel, arch: SmolVLM) -> GenaiSpec:
        raise GenaiUnsupportedError(
            "onnxruntime-genai 0.18 has no smolvlm or idefics3 model type (its model builder "
            f"refuses {type(model).__name__}: builder.py:806 NotImplementedError)"
        )
