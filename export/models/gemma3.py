"""Gemma3 (`Gemma3ForConditionalGeneration`): a SigLIP tower whose patches the projector
average-pools to `mm_tokens_per_image` tokens, and a Gemma3 decoder whose `layer_types`
alternate sliding-window and full attention, each type with its own RoPE base
(`rope_parameters[layer_type]`); token embeddings are scaled by sqrt(hidden_size) inside
`Gemma3TextScaledWordEmbedding`.

Removal is the common contract (`removal.py`) on `model.model.language_model` and
`config.text_config`: `Gemma3TextModel.forward` picks each block's mask and rotary table by
`config.layer_types[i]`, and `Gemma3Attention` fixed its own `sliding_window` at init, so
re-slicing `layer_types` with the blocks keeps every kept block's type and window.

The folder is read as downloaded: tokenizer.json, the chat template, preprocessor_config.json
(size, mean/std; pan and scan refused), generation_config.json's stop tokens, and config.json's
image, boi and eoi token ids. Image tokens attend to each other bidirectionally: the runtime
marks them in the decoder's mask and both the builder's evaluation and the decoder graph read
the marks (gemma3_graphs.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from ...runtime.arch.gemma3 import Gemma3, Gemma3Spec
from ...runtime.arch.gemma3_vision import ImageSpec
from ..errors import ModelLoadError
from . import hf_folder
from .adapter import GenaiSpec, GenaiUnsupportedError, GraphSpec, ModelAdapter, register_adapter
from .chat_template import chat_prompt
from .gemma3_graphs import Gemma3DecoderWithCache, Gemma3VisionGraph, mask_mapping


@register_adapter
class Gemma3Adapter(ModelAdapter):
    model_types = ("gemma3",)

    def text_config(self, model: PreTrainedModel) -> PretrainedConfig:
        return model.config.text_config

    def decoder(self, model: PreTrainedModel) -> nn.Module:
        return model.model.language_model  # Gemma3TextModel: embed_tokens, layers, norm

    def lm_head(self, model: PreTrainedModel) -> nn.Module:
        return model.lm_head

    def input_embeddings(
        self, model: PreTrainedModel, input_ids: torch.Tensor, images: Sequence[np.ndarray]
    ) -> torch.Tensor:
        """Scaled token embeddings with each image's pooled features at its image tokens, as
        `Gemma3Model.forward` merges them. `images` are (3, S, S) pixel arrays in token order."""
        image_id = model.config.image_token_id
        is_image = input_ids == image_id
        # An image id past the vocabulary (the releases' is not) embeds as 0, as in forward.
        ids = (
            input_ids.masked_fill(is_image, 0) if image_id >= model.model.vocab_size else input_ids
        )
        embeds = model.get_input_embeddings()(ids)
        if not images:
            return embeds
        pixels = torch.from_numpy(np.stack(images)).to(embeds.device, embeds.dtype)
        features = model.model.get_image_features(pixels).pooler_output.to(embeds.dtype)
        return embeds.masked_scatter(is_image.unsqueeze(-1).expand_as(embeds), features)

    def read_folder(self, path: Path, config: PretrainedConfig) -> tuple[Gemma3Spec, Tokenizer]:
        text = hf_folder.read_text_files(path, config)
        tokens = {}
        for name in ("boi_token_id", "eoi_token_id"):
            token = text.tokenizer.id_to_token(int(getattr(config, name)))
            if token is None:
                raise ModelLoadError(
                    f"{path / 'config.json'}: field '{name.replace('_id', '_index')}' "
                    f"({getattr(config, name)}) is not a token of {hf_folder.TOKENIZER_JSON}"
                )
            tokens[name] = token
        preprocessor = hf_folder.read_json(
            path, hf_folder.PREPROCESSOR_CONFIG, required=True, why="the image size and mean/std"
        )
        spec = Gemma3Spec(
            image=image_spec(path, preprocessor, config),
            mm_tokens_per_image=mm_tokens(path, config),
            # The template writes the image as boi_token; the processor expands it.
            chat_prompt=chat_prompt(
                text.template, tokens["boi_token_id"], text.specials, str(text.template_file)
            ),
            boi_token=tokens["boi_token_id"],
            eoi_token=tokens["eoi_token_id"],
            image_token=text.image_token,
            image_token_id=int(config.image_token_id),
            eos_token=text.stop_tokens[0],
            pad_token=text.pad_token,
            stop_tokens=text.stop_tokens,
        )
        return spec, text.tokenizer

    def runtime_architecture(self, model: PreTrainedModel, spec: Gemma3Spec) -> Gemma3:
        return Gemma3(spec)

    def vision_graph(self, model: PreTrainedModel, arch: Gemma3) -> GraphSpec:
        im = arch.spec.image
        # Two images: a traced batch of 1 could fold the image axis into a constant.
        sample = torch.randn(2, 3, im.height, im.width, generator=torch.Generator().manual_seed(0))
        module = Gemma3VisionGraph(model).eval()
        return GraphSpec(
            module=module,
            args=(sample,),
            input_names=module.input_names,
            output_names=("image_features",),
            dynamic_axes={"pixel_values": {0: "num_images"}, "image_features": {0: "num_tokens"}},
            static_output_dims={"image_features": {1: self.text_config(model).hidden_size}},
        )

    def genai(self, model: PreTrainedModel, arch: Gemma3) -> GenaiSpec:
        # Checked in onnxruntime-genai 0.18: its builder's Gemma3Model
        # (models/builders/gemma.py:122, a Gemma2Model) writes a causal GroupQueryAttention
        # decoder with a 0/1 attention mask; nothing under onnxruntime_genai/models/ reads
        # token_type_ids or builds a bidirectional image mask, so its answers to an image
        # prompt are not Gemma3's.
        raise GenaiUnsupportedError(
            "vlmprune writes no onnxruntime-genai folder for Gemma3: onnxruntime-genai 0.18's "
            "gemma3 decoder (models/builders/gemma.py:122) is causal with a 0/1 attention mask, "
            "without Gemma3's bidirectional attention among image tokens"
        )

    def decoder_with_cache(self, model: PreTrainedModel) -> nn.Module:
        return Gemma3DecoderWithCache(model)

    def attention_mask(
        self,
        model: PreTrainedModel,
        embeds: torch.Tensor,
        mask: torch.Tensor,
        cache: object,
        positions: torch.Tensor,
    ) -> dict:
        return mask_mapping(self.text_config(model), embeds, mask, cache, positions)


def mm_tokens(path: Path, config: PretrainedConfig) -> int:
    """Image tokens per image: the projector average-pools the patch grid to a square."""
    vision, n = config.vision_config, int(config.mm_tokens_per_image)
    side, pooled = vision.image_size // vision.patch_size, round(n**0.5)
    if pooled * pooled != n or pooled < 1 or side % pooled:
        raise ModelLoadError(
            f"{path / 'config.json'}: field 'mm_tokens_per_image' ({n}) is not a square that "
            f"pools the vision tower's {side} x {side} patches"
        )
    return n


def image_spec(path: Path, d: dict, config: PretrainedConfig | None = None) -> ImageSpec:
    """preprocessor_config.json -> ImageSpec; one line naming the field it cannot serve
    (with `config`, also a size the vision tower cannot take)."""
    where = path / hf_folder.PREPROCESSOR_CONFIG
    hf_folder.require_image_steps(where, d)
    if d.get("do_pan_and_scan"):
        raise ModelLoadError(
            f"{where}: field 'do_pan_and_scan' is true; only whole-image resizing is supported"
        )
    size = d.get("size", {"height": ImageSpec.height, "width": ImageSpec.width})
    try:
        spec = ImageSpec(
            height=int(size["height"]),
            width=int(size["width"]),
            resample=int(d.get("resample", ImageSpec.resample)),
            rescale_factor=float(d.get("rescale_factor", ImageSpec.rescale_factor)),
            image_mean=tuple(float(x) for x in d.get("image_mean", ImageSpec.image_mean)),
            image_std=tuple(float(x) for x in d.get("image_std", ImageSpec.image_std)),
        )
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"{where}: not a Gemma3 image processor config ({exc!r})") from None
    tower = config.vision_config.image_size if config is not None else None
    if tower is not None and (spec.height, spec.width) != (tower, tower):
        raise ModelLoadError(
            f"{where}: field 'size' ({spec.height} x {spec.width}) is not the vision tower's "
            f"image size (config.json 'vision_config.image_size' = {tower})"
        )
    return spec
