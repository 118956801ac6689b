"""LLaVA (`LlavaForConditionalGeneration`): CLIP vision tower + projector + Llama decoder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from ...runtime.arch.llava import PREPROCESS_FILE, Llava, PreprocessSpec
from ..errors import ModelLoadError
from .adapter import GraphSpec, ModelAdapter, register_adapter


@register_adapter
class LlavaAdapter(ModelAdapter):
    model_types = ("llava",)

    def text_config(self, model: PreTrainedModel) -> PretrainedConfig:
        return model.config.text_config

    def decoder(self, model: PreTrainedModel) -> nn.Module:
        return model.model.language_model  # LlamaModel: embed_tokens, layers, norm

    def lm_head(self, model: PreTrainedModel) -> nn.Module:
        return model.lm_head

    def read_folder(self, path: Path, config: PretrainedConfig) -> tuple[PreprocessSpec, Tokenizer]:
        """`vlmprune_preprocess.json` (image size, mean/std, template) and its tokenizer file."""
        if not (path / PREPROCESS_FILE).is_file():
            raise ModelLoadError(
                f"{path}: {PREPROCESS_FILE} is missing (image size, mean/std, template)"
            )
        spec = PreprocessSpec.load(path)
        tokenizer_file = path / spec.tokenizer_file
        if not tokenizer_file.is_file():
            raise ModelLoadError(f"{path}: tokenizer file '{spec.tokenizer_file}' is missing")
        return spec, Tokenizer.from_file(str(tokenizer_file))

    def runtime_architecture(self, model: PreTrainedModel, spec: PreprocessSpec) -> Llava:
        return Llava(spec, int(model.config.image_token_id))

    def input_embeddings(
        self, model: PreTrainedModel, input_ids: torch.Tensor, images: Sequence[np.ndarray]
    ) -> torch.Tensor:
        """Token embeddings with the projected image features at the image-token positions.

        This is what `LlavaModel.forward` does before the decoder; it depends on no decoder
        block, so evaluation computes it once per example for every removal set.
        """
        config = model.config
        embeds = model.get_input_embeddings()(input_ids)  # (B, T, H)
        pixel_values = torch.from_numpy(np.stack(images)).to(embeds.device, embeds.dtype)
        out = model.model.get_image_features(
            pixel_values=pixel_values,
            vision_feature_layer=config.vision_feature_layer,
            vision_feature_select_strategy=config.vision_feature_select_strategy,
        )
        features = torch.cat(list(out.pooler_output), dim=0).to(embeds.dtype)  # (B * n_img, H)
        mask = (input_ids == config.image_token_id).unsqueeze(-1).expand_as(embeds)
        return embeds.masked_scatter(mask, features)

    def vision_graph(self, model: PreTrainedModel, arch: Llava) -> GraphSpec:
        size = arch.spec.image_size
        pixels = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
        hidden = self.text_config(model).hidden_size
        return GraphSpec(
            module=VisionEncoder(model),
            args=(pixels,),
            input_names=("pixel_values",),
            output_names=("image_features",),
            dynamic_axes={"pixel_values": {0: "batch"}, "image_features": {0: "batch"}},
            # The CLS slice leaves the token count symbolic in the trace; the config fixes it.
            static_output_dims={"image_features": {1: arch.spec.num_image_tokens, 2: hidden}},
        )


class VisionEncoder(nn.Module):
    """pixel_values (B, 3, S, S) -> projected image features (B, n_img, H), as LLaVA merges them."""

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        # LlavaModel.get_image_features, minus its final `list(...)`: unbinding the batch
        # would freeze the batch size in the trace.
        inner, config = self.model.model, self.model.config
        layer = config.vision_feature_layer
        if not isinstance(layer, int):
            raise NotImplementedError("vision_feature_layer lists are not supported by the export")
        out = inner.vision_tower(pixel_values, output_hidden_states=True, return_dict=True)
        hidden = out.hidden_states[layer]  # (B, 1 + n_img, Hv)
        if config.vision_feature_select_strategy == "default":
            hidden = hidden[:, 1:]  # drop CLS
        return inner.multi_modal_projector(hidden)  # (B, n_img, H)
