"""Exact block removal: what changes in a decoder and its config when blocks go.

The kept blocks keep their weights; every attention module's `layer_idx` is re-indexed
(the KV cache is indexed by it); the text config's `num_hidden_layers` is updated and
every per-layer list in it (`layer_types` and the like) is re-sliced, so the result is a
valid model of the same architecture that `save_pretrained` / `from_pretrained`
round-trips. Blocks are always numbered 0..N-1 in the *unpruned* model: a pruned config
remembers which original blocks it kept (`vlmprune_kept_blocks`) and how many there were.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from torch import nn
from transformers import PretrainedConfig

from ..errors import InvalidBlocksError

KEPT_ATTR = "vlmprune_kept_blocks"  # stored in the text config of a pruned model
ORIGINAL_ATTR = "vlmprune_original_num_blocks"
# Config attributes that hold one entry per decoder block, by name prefix.
PER_LAYER_PREFIXES = ("layer_types", "sliding_window_pattern", "no_rope_layers", "swa_layers")


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


def kept_blocks(config: PretrainedConfig, decoder: nn.Module) -> list[int]:
    """Original indices of the blocks `decoder` holds now."""
    kept = getattr(config, KEPT_ATTR, None)
    return list(kept) if kept is not None else list(range(len(decoder.layers)))


def original_num_blocks(config: PretrainedConfig, decoder: nn.Module) -> int:
    return int(getattr(config, ORIGINAL_ATTR, len(decoder.layers)))


def per_layer_lists(config: PretrainedConfig, n: int) -> dict[str, list]:
    """Config attributes holding one entry per decoder block (layer_types and the like)."""
    return {
        key: value
        for key, value in vars(config).items()
        if key != KEPT_ATTR
        and isinstance(value, (list, tuple))
        and len(value) == n
        and key.startswith(PER_LAYER_PREFIXES)
    }


def keep_only(decoder: nn.Module, config: PretrainedConfig, kept: Sequence[int]) -> None:
    """Make `decoder` hold exactly the original blocks `kept` (a subset of what it holds)."""
    current = kept_blocks(config, decoder)
    position = {b: i for i, b in enumerate(current)}
    original_n = original_num_blocks(config, decoder)
    old_layers = decoder.layers
    for key, value in per_layer_lists(config, len(current)).items():
        setattr(config, key, type(value)(value[position[b]] for b in kept))
    decoder.layers = nn.ModuleList([old_layers[position[b]] for b in kept])
    _reindex(decoder.layers)
    config.num_hidden_layers = len(kept)
    setattr(config, KEPT_ATTR, list(kept))
    setattr(config, ORIGINAL_ATTR, original_n)


@contextmanager
def restored_afterwards(decoder: nn.Module, config: PretrainedConfig) -> Iterator[None]:
    """Whatever removal happens inside, the decoder and config are as before on exit."""
    before = kept_blocks(config, decoder)
    by_original = dict(zip(before, decoder.layers, strict=True))
    saved = {k: getattr(config, k, None) for k in (KEPT_ATTR, ORIGINAL_ATTR)}
    saved_lists = {k: list(v) for k, v in per_layer_lists(config, len(before)).items()}
    saved_n = config.num_hidden_layers
    try:
        yield
    finally:
        decoder.layers = nn.ModuleList([by_original[b] for b in before])
        _reindex(decoder.layers)
        config.num_hidden_layers = saved_n
        for key, value in saved_lists.items():
            setattr(config, key, value)
        for key, value in saved.items():
            if value is None:
                if hasattr(config, key):
                    delattr(config, key)
            else:
                setattr(config, key, value)


def _reindex(layers: nn.ModuleList) -> None:
    # The KV cache is indexed by layer_idx: after removal block j must write slot j.
    for new_idx, layer in enumerate(layers):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_idx
