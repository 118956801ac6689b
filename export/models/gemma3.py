"""Gemma3 (`Gemma3ForConditionalGeneration`): a SigLIP tower whose patches the projector
average-pools to `mm_tokens_per_image` tokens, and a Gemma3 decoder whose `layer_types`
alternate sliding-window and full attention, each type with its own RoPE base
(`rope_parameters[layer_type]`); token embeddings are scaled by sqrt(hidden_size) inside
`Gemma3TextScaledWordEmbedding`.

Removal is the common contract (`removal.py`) on `model.model.language_model` and
`config.text_config`: `Gemma3TextModel.forward` picks each block's mask and rotary table by
`config.layer_types[i]`, and `Gemma3Attention` fixed its own `sliding_window` at init, so
re-slicing `layer_types` with the blocks keeps every kept block's type and window.

Only the export side of removal is here so far: the folder reader, the runtime architecture
and the ONNX graphs are not built, so the adapter is not registered (architectures.py) and a
Gemma3 folder is refused at load with the supported list, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from ...runtime.arch.gemma3_vision import ImageSpec
from ..errors import ModelLoadError
from . import hf_folder
from .adapter import GraphSpec, ModelAdapter

_NOT_BUILT = (
    "Gemma3 folders cannot be loaded yet: the torch-free runtime side (preprocessing, prompt, "
    "ONNX graphs) is not built"
)


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

    def read_folder(self, path: Path, config: PretrainedConfig) -> tuple[Any, Any]:
        raise ModelLoadError(f"{path}: {_NOT_BUILT}")

    def runtime_architecture(self, model: PreTrainedModel, spec: object) -> Any:
        raise ModelLoadError(_NOT_BUILT)

    def vision_graph(self, model: PreTrainedModel, arch: Any) -> GraphSpec:
        raise ModelLoadError(_NOT_BUILT)


def image_spec(path: Path, d: dict) -> ImageSpec:
    """preprocessor_config.json -> ImageSpec; one line naming the field it cannot serve."""
    where = path / hf_folder.PREPROCESSOR_CONFIG
    hf_folder.require_image_steps(where, d)
    if d.get("do_pan_and_scan"):
        raise ModelLoadError(
            f"{where}: field 'do_pan_and_scan' is true; only whole-image resizing is supported"
        )
    size = d.get("size", {"height": ImageSpec.height, "width": ImageSpec.width})
    try:
        return ImageSpec(
            height=int(size["height"]),
            width=int(size["width"]),
            resample=int(d.get("resample", ImageSpec.resample)),
            rescale_factor=float(d.get("rescale_factor", ImageSpec.rescale_factor)),
            image_mean=tuple(float(x) for x in d.get("image_mean", ImageSpec.image_mean)),
            image_std=tuple(float(x) for x in d.get("image_std", ImageSpec.image_std)),
        )
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"{where}: not a Gemma3 image processor config ({exc!r})") from None
