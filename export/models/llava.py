"""LLaVA (`LlavaForConditionalGeneration`): CLIP vision tower + projector + Llama decoder."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from ...runtime.arch.llava import Llava, PreprocessSpec
from .adapter import ModelAdapter, register_adapter


@register_adapter
class LlavaAdapter(ModelAdapter):
    model_types = ("llava",)

    def text_config(self, model: PreTrainedModel) -> PretrainedConfig:
        return model.config.text_config

    def decoder(self, model: PreTrainedModel) -> nn.Module:
        return model.model.language_model  # LlamaModel: embed_tokens, layers, norm

    def lm_head(self, model: PreTrainedModel) -> nn.Module:
        return model.lm_head

    def runtime_architecture(self, model: PreTrainedModel, spec: PreprocessSpec) -> Llava:
        return Llava(spec, int(model.config.image_token_id))

    def input_embeddings(
        self, model: PreTrainedModel, input_ids: torch.Tensor, pixel_values: torch.Tensor
    ) -> torch.Tensor:
        """Token embeddings with the projected image features at the image-token positions.

        This is what `LlavaModel.forward` does before the decoder; it depends on no decoder
        block, so evaluation computes it once per example for every removal set.
        """
        config = model.config
        embeds = model.get_input_embeddings()(input_ids)  # (B, T, H)
        out = model.model.get_image_features(
            pixel_values=pixel_values.to(embeds.dtype),
            vision_feature_layer=config.vision_feature_layer,
            vision_feature_select_strategy=config.vision_feature_select_strategy,
        )
        features = torch.cat(list(out.pooler_output), dim=0).to(embeds.dtype)  # (B * n_img, H)
        mask = (input_ids == config.image_token_id).unsqueeze(-1).expand_as(embeds)
        return embeds.masked_scatter(mask, features)
