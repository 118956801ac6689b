"""The model adapter interface: where a VLM keeps its decoder blocks, and its inputs.

One adapter per architecture family (`models/<arch>.py`), registered beside its
definition; `models/architectures.py` lists them. Removal itself is the same for every
architecture (`models/removal.py`): an adapter only says where the decoder and its text
config are, what its folder holds, how its inputs are embedded and how its vision tower
is traced. Everything an image becomes on the way (patches, grids, tiles) is the runtime
architecture's preprocessed image, passed through untouched.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from ...runtime.arch.base import Architecture
from ..errors import VlmpruneError
from ..registry import Registry
from . import removal

if TYPE_CHECKING:
    from tokenizers import Tokenizer


@dataclass(frozen=True)
class GraphSpec:
    """A module to trace to ONNX, with its sample inputs and I/O names (export/onnx/graphs.py)."""

    module: nn.Module
    args: tuple[torch.Tensor, ...]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    dynamic_axes: Mapping[str, Mapping[int, str]]
    # Dims the trace leaves symbolic that the config fixes: output name -> {axis: size}.
    static_output_dims: Mapping[str, Mapping[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class GenaiSpec:
    """What an onnxruntime-genai folder of this architecture needs beside the decoder."""

    model_type: str  # genai_config.json's model.type
    graphs: Mapping[str, GraphSpec]  # file name in the folder -> graph ("vision.onnx", ...)
    model_config: Mapping[str, Any]  # genai_config.json `model` entries besides `decoder`
    processor_config: Mapping[str, Any]  # processor_config.json (onnxruntime-extensions)


class GenaiUnsupportedError(VlmpruneError):
    """onnxruntime-genai cannot run this architecture (the message says which check refuses)."""


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
    def read_folder(self, path: Path, config: PretrainedConfig) -> tuple[Any, Tokenizer]:
        """(preprocessing spec, tokenizer) from a model folder, before its weights load; a
        missing or invalid file is one ModelLoadError naming it."""

    @abstractmethod
    def runtime_architecture(self, model: PreTrainedModel, spec: object) -> Architecture:
        """The runtime's side of this architecture (vlmprune.runtime.arch), for this model:
        the builder prepares inputs with it, so both sides see the same ones."""

    @abstractmethod
    def input_embeddings(
        self, model: PreTrainedModel, input_ids: torch.Tensor, images: Sequence[Any]
    ) -> torch.Tensor:
        """(B, T, H) decoder inputs: token embeddings with the features of `images` (the
        runtime architecture's preprocessed images, in token order) merged in."""

    @abstractmethod
    def vision_graph(self, model: PreTrainedModel, arch: Architecture) -> GraphSpec:
        """The `vision_encoder` graph: inputs as the runtime architecture `arch` feeds them."""

    def decoder_with_cache(self, model: PreTrainedModel) -> nn.Module | None:
        """The module traced as the decoder graph (and the parity check's reference for it),
        (inputs_embeds, attention_mask, position_ids, *past) -> (logits, *present); None:
        the common one (export/onnx/graphs.py DecoderWithCache)."""
        return None

    def attention_mask(
        self,
        model: PreTrainedModel,
        embeds: torch.Tensor,
        mask: torch.Tensor,
        cache: object,
        positions: torch.Tensor,
    ) -> object:
        """The decoder's `attention_mask` argument for the runtime architecture's
        `decoder_mask` (by default that mask itself: 0 padding, 1 token)."""
        return mask

    def genai(self, model: PreTrainedModel, arch: Architecture) -> GenaiSpec:
        """The onnxruntime-genai folder's parts; GenaiUnsupportedError if there is none."""
        raise GenaiUnsupportedError(
            f"onnxruntime-genai has no model type for '{model.config.model_type}'"
        )

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
