"""The model adapter interface: where a VLM keeps its decoder blocks and how to remove them.

Removal is exact: the kept blocks keep their weights, every attention module's
`layer_idx` is re-indexed, the text config's `num_hidden_layers` is updated and every
per-layer list in the config (e.g. `layer_types`) is re-sliced, so the result is a valid
model of the same architecture that `save_pretrained` / `from_pretrained` round-trips.
Blocks are always numbered 0..N-1 in the *unpruned* model; a pruned model remembers
which original blocks it kept (config attribute `vlmprune_kept_blocks`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import ClassVar

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from ..errors import InvalidBlocksError
from ..registry import Registry

KEPT_ATTR = "vlmprune_kept_blocks"  # stored in the text config of a pruned model


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
    def input_embeddings(
        self, model: PreTrainedModel, input_ids: torch.Tensor, pixel_values: torch.Tensor
    ) -> torch.Tensor:
        """(B, T, H) decoder inputs: token embeddings with image features merged in."""

    def layers(self, model: PreTrainedModel) -> nn.ModuleList:
        return self.decoder(model).layers

    def kept_blocks(self, model: PreTrainedModel) -> list[int]:
        """Original indices of the blocks the model holds now."""
        kept = getattr(self.text_config(model), KEPT_ATTR, None)
        return list(kept) if kept is not None else list(range(len(self.layers(model))))

    def original_num_blocks(self, model: PreTrainedModel) -> int:
        config = self.text_config(model)
        return int(getattr(config, "vlmprune_original_num_blocks", len(self.layers(model))))

    def validate(self, model: PreTrainedModel, blocks: Iterable[int]) -> tuple[int, ...]:
        return validate_removal(blocks, self.original_num_blocks(model), self.kept_blocks(model))

    def remove_blocks(self, model: PreTrainedModel, blocks: Iterable[int]) -> PreTrainedModel:
        """Remove `blocks` (original numbering) in place and return the model."""
        removed = self.validate(model, blocks)
        kept = [b for b in self.kept_blocks(model) if b not in removed]
        _apply_kept(self, model, kept)
        return model

    @contextmanager
    def removed(self, model: PreTrainedModel, blocks: Iterable[int]) -> Iterator[PreTrainedModel]:
        """Temporarily remove `blocks` without copying weights (the evaluation fast path)."""
        before = self.kept_blocks(model)
        layers = self.layers(model)
        by_original = dict(zip(before, layers, strict=True))
        config = self.text_config(model)
        saved = {k: getattr(config, k, None) for k in (KEPT_ATTR, "vlmprune_original_num_blocks")}
        saved_lists = {k: list(v) for k, v in _per_layer_lists(config, len(before)).items()}
        saved_n = config.num_hidden_layers
        try:
            self.remove_blocks(model, blocks)
            yield model
        finally:
            self.decoder(model).layers = nn.ModuleList([by_original[b] for b in before])
            _reindex(self.decoder(model).layers)
            config.num_hidden_layers = saved_n
            for key, value in saved_lists.items():
                setattr(config, key, value)
            for key, value in saved.items():
                if value is None:
                    if hasattr(config, key):
                        delattr(config, key)
                else:
                    setattr(config, key, value)


def validate_removal(
    blocks: Iterable[int], num_blocks: int, kept: Sequence[int] | None = None
) -> tuple[int, ...]:
    """Sorted, checked removal set; raises InvalidBlocksError with one clear line."""
    requested = list(blocks)
    for b in requested:
        if isinstance(b, bool) or not isinstance(b, int):
            raise InvalidBlocksError(
                f"block {b!r} is not an integer; valid blocks: 0..{num_blocks - 1}"
            )
        if not 0 <= b < num_blocks:
            raise InvalidBlocksError(
                f"block {b} is out of range; valid blocks: 0..{num_blocks - 1}"
            )
    duplicates = sorted({b for b in requested if requested.count(b) > 1})
    if duplicates:
        raise InvalidBlocksError(f"block {duplicates[0]} is listed more than once")
    kept = list(range(num_blocks)) if kept is None else list(kept)
    gone = [b for b in requested if b not in kept]
    if gone:
        raise InvalidBlocksError(f"block {gone[0]} was already removed from this model")
    if len(set(requested)) >= len(kept):
        raise InvalidBlocksError(
            f"cannot remove all {len(kept)} remaining blocks; keep at least one"
        )
    return tuple(sorted(requested))


def _per_layer_lists(config: PretrainedConfig, n: int) -> dict[str, list]:
    """Config attributes holding one entry per decoder block (layer_types and the like)."""
    lists = {}
    for key, value in vars(config).items():
        if (
            key != KEPT_ATTR
            and isinstance(value, (list, tuple))
            and len(value) == n
            and key.startswith(
                ("layer_types", "sliding_window_pattern", "no_rope_layers", "swa_layers")
            )
        ):
            lists[key] = value
    return lists


def _reindex(layers: nn.ModuleList) -> None:
    # The KV cache is indexed by layer_idx: after removal block j must write slot j.
    for new_idx, layer in enumerate(layers):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_idx


def _apply_kept(adapter: ModelAdapter, model: PreTrainedModel, kept: list[int]) -> None:
    config = adapter.text_config(model)
    current = adapter.kept_blocks(model)
    position = {b: i for i, b in enumerate(current)}
    original_n = adapter.original_num_blocks(model)
    old_layers = adapter.layers(model)
    for key, value in _per_layer_lists(config, len(current)).items():
        setattr(config, key, type(value)(value[position[b]] for b in kept))
    adapter.decoder(model).layers = nn.ModuleList([old_layers[position[b]] for b in kept])
    _reindex(adapter.decoder(model).layers)
    config.num_hidden_layers = len(kept)
    setattr(config, KEPT_ATTR, list(kept))
    config.vlmprune_original_num_blocks = original_n


ADAPTERS: Registry[ModelAdapter] = Registry("model architecture")


def register_adapter(cls: type[ModelAdapter]) -> type[ModelAdapter]:
    for model_type in cls.model_types:
        ADAPTERS.register(model_type)(cls())
    return cls


def adapter_for(model: PreTrainedModel) -> ModelAdapter:
    from . import llava  # noqa: F401  (registers the built-in adapters)

    return ADAPTERS.get(model.config.model_type)
