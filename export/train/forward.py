"""The training loss of a LLaVA model, written out so that `torch.compile` sees one graph.

`LlavaForConditionalGeneration.forward` checks that the number of image tokens matches the
image features with a host sync (`Tensor.item`), which splits a compiled graph in pieces,
and builds an attention mask the training batches do not need. Here the image features are
spliced in at the template's fixed image offset and the decoder runs with its causal mask
only (batches are right-padded, so no real token sees padding). The loss equals the
transformers forward's on the same batch (tests/export/train/test_forward.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import LlavaForConditionalGeneration

from .data import IGNORE


def image_offset(input_ids: torch.Tensor, image_token_id: int, num_image_tokens: int) -> int:
    """Where the image tokens start; the same in every row, since the template is fixed."""
    first = (input_ids[0] == image_token_id).nonzero()
    if len(first) == 0:
        raise ValueError("training batch has no image tokens")
    start = int(first[0])
    expected = input_ids[:, start : start + num_image_tokens]
    if not bool((expected == image_token_id).all()):
        raise ValueError("image tokens are not at the same offset in every row of the batch")
    return start


class LlavaLoss(torch.nn.Module):
    """A module (so DDP and torch.compile can wrap it) whose forward is `llava_loss`."""

    def __init__(self, model: LlavaForConditionalGeneration):
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, pixel_values: torch.Tensor, labels: torch.Tensor, offset: int
    ) -> torch.Tensor:
        return llava_loss(self.model, input_ids, pixel_values, labels, offset)


def llava_loss(
    model: LlavaForConditionalGeneration,
    input_ids: torch.Tensor,
    pixel_values: torch.Tensor,
    labels: torch.Tensor,
    offset: int,
) -> torch.Tensor:
    """Mean next-token cross-entropy over labelled positions (as the transformers forward)."""
    inner = model.model
    strategy = model.config.vision_feature_select_strategy
    layer = model.config.vision_feature_layer
    if layer != -1 or strategy != "default":
        raise ValueError(f"unsupported vision feature selection: layer {layer}, {strategy}")
    # The last hidden state is the last layer's output (CLIP's post-layernorm only touches
    # the pooled CLS); asking for all hidden states would install capture hooks instead.
    vision = inner.vision_tower(pixel_values)
    features = inner.multi_modal_projector(vision.last_hidden_state[:, 1:])
    embeds = inner.get_input_embeddings()(input_ids)
    width = features.shape[1]
    embeds = torch.cat(
        [embeds[:, :offset], features.to(embeds.dtype), embeds[:, offset + width :]], dim=1
    )
    hidden = inner.language_model(inputs_embeds=embeds).last_hidden_state
    logits = model.lm_head(hidden[:, :-1]).float()
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=IGNORE
    )
