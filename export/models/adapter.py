"""The model adapter interface: where a VLM keeps its decoder blocks, and its inputs.

One adapter per architecture family (`models/<arch>.py`), registered beside its
definition; `models/architectures.py` lists them. Removal itself is the same for every
architecture (`models/removal.py`): an adapter only says where the decoder and its text
config are.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import ClassVar

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from ...runtime.arch.base import Architecture
from ..registry import Registry
from . import removal


class ModelAdapter(ABC):
    """One per architecture family: locate the decoder blocks; remove some exactly."""

    model_types: ClassVar[tuple[str, ...]]  # `config.model_type` values served

    @abstractmethod
    def text_config(self, model: PreTrainedModel) -> PretrainedConfig: ...

    @abstractmethod
    def decoder(self, model: PreTrainedModel) -> nn.Module:
        """The module that owns `layers` (an nn.ModuleList of decoder blocks)."""

    @abstractmethod
    def lm_head(self, model: PreTrainedModel) -> nn.Module: ...

    @abstractmethod
    def runtime_architecture(self, model: PreTrainedModel, spec: object) -> Architecture:
        """The runtime's side of this architecture (vlmprune.runtime.arch), for this model:
        the builder prepares inputs with it, so both sides see the same ones."""

    @abstractmethod
    def input_embeddings(
        self, model: PreTrainedModel, input_ids: torch.Tensor, pixel_values: torch.Tensor
    ) -> torch.Tensor:
        """(B, T, H) decoder inputs: token embeddings with image features merged in."""

    def layers(self, model: PreTrainedModel) -> nn.ModuleList:
        return self.decoder(model).layers

    def kept_blocks(self, model: PreTrainedModel) -> list[int]:
        """Original indices of the blocks the model holds now."""
        return removal.kept_blocks(self.text_config(model), self.decoder(model))

    def original_num_blocks(self, model: PreTrainedModel) -> int:
        return removal.original_num_blocks(self.text_config(model), self.decoder(model))

    def validate(self, model: PreTrainedModel, blocks: Iterable[int]) -> tuple[int, ...]:
        return removal.validate_removal(
            blocks, self.original_num_blocks(model), self.kept_blocks(model)
        )

    def remove_blocks(self, model: PreTrainedModel, blocks: Iterable[int]) -> PreTrainedModel:
        """Remove `blocks` (original numbering) in place and return the model."""
        removed = self.validate(model, blocks)
        kept = [b for b in self.kept_blocks(model) if b not in removed]
        removal.keep_only(self.decoder(model), self.text_config(model), kept)
        return model

    @contextmanager
    def removed(self, model: PreTrainedModel, blocks: Iterable[int]) -> Iterator[PreTrainedModel]:
        """Temporarily remove `blocks` without copying weights (the evaluation fast path)."""
        with removal.restored_afterwards(self.decoder(model), self.text_config(model)):
            self.remove_blocks(model, blocks)
            yield model


ADAPTERS: Registry[ModelAdapter] = Registry("model architecture")


def register_adapter(cls: type[ModelAdapter]) -> type[ModelAdapter]:
    for model_type in cls.model_types:
        ADAPTERS.register(model_type)(cls())
    return cls
