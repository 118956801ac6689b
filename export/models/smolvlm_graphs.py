"""The SmolVLM / Idefics3 vision graph: every tile of one or more images through the SigLIP
tower and the pixel-shuffle connector, as `get_image_features` computes them.

The runtime only feeds whole tiles (the image processor makes every frame tile x tile), so
every patch attends to every patch and the position ids are 0..P-1; the tile count is the
one dynamic axis. Output rows are image tokens in tile order, the order the
prompt's `<image>` runs take them.
"""

from __future__ import annotations

import torch
from torch import nn


class SmolVLMVisionGraph(nn.Module):
    input_names = ("pixel_values",)

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.vision_model = model.model.vision_model
        self.connector = model.model.connector

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:  # (N, C, T, T)
        vision = self.vision_model
        embeds = vision.embeddings.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
        # A whole tile's bucketed position ids are 0..P-1 in order (the embeddings' bucketize
        # only matters for padded images, and traces to a float Gather index).
        positions = vision.embeddings.position_embedding.weight[: embeds.shape[1]]
        hidden = vision.encoder(inputs_embeds=embeds + positions).last_hidden_state
        features = self.connector(vision.post_layernorm(hidden))  # (N, image_seq_len, H)
        return features.reshape(-1, features.shape[-1])
