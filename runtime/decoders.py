"""The two decoder graph layouts, behind one stepping interface (docs/contracts.md).

    traced  inputs_embeds, attention_mask, position_ids, past_key_values.*  -> logits, present.*
            (export/onnx/graphs.py): the KV cache grows by Concat, fed back each step
    gqa     inputs_embeds, seqlens_k, total_sequence_length, past_key_values.*  -> logits,
            present.* (export/onnx/fused_decoder.py): GroupQueryAttention writes into one
            preallocated buffer per layer, bound as both past and present (kv_buffer.py);
            M-RoPE graphs (Qwen2-VL) also take the architecture's position_ids (3, B, S)

Callers always hand over left-padded batches, because the architectures compute prefill
positions on them. GroupQueryAttention on CPU needs the padding on the right (it reads each
row's last position from seqlens_k), so the gqa stepper moves every row's tokens (and M-RoPE
position ids) to the left edge and its logits back: nothing outside this module knows about
right padding. Decode steps continue each row's positions by one on every row, as the traced
stepper does: the architecture's prefill ids already hold the image's offset (rope deltas).

Buffers are reused across requests: each session keeps a small pool, one buffer per request
in flight, so threads running the same variant never share one (sessions.py's contract).

Two interfaces per stepper: `prefill`/`step` return logits (the parity checks compare them);
`first_tokens`/`next_tokens` return greedy ids (B,) (what generation.py decodes with). A gqa
graph with a `next_tokens` output (its ArgMax) keeps the logits inside onnxruntime and runs
each decode step on fixed buffers (decode_step.py); other graphs take the argmax on the host.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

import numpy as np

from . import decode_step
from .errors import InputError
from .kv_buffer import SharedKvBuffer

if TYPE_CHECKING:
    import onnxruntime

MAX_POSITIONS_KEY = "vlmprune.max_positions"  # gqa graphs: rows of the rotary caches
_POOL_SIZE = 4  # idle buffers kept per session (more requests in flight allocate their own)
_PAST = re.compile(r"^past_key_values\.(\d+)\.(key|value)$")
_ORT_FLOAT = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
}


class DecoderLayout(str, Enum):
    TRACED = "traced"
    GQA = "gqa"


class Precision(str, Enum):
    """Of a decoder's MatMul weights (export/onnx/quantize.py writes int8 and int4)."""

    FP32 = "fp32"
    INT8 = "int8"
    INT4 = "int4"


class DType(str, Enum):
    """Of a decoder's weights and activations (export/onnx/half.py writes fp16)."""

    FP32 = "fp32"
    FP16 = "fp16"


def decoder_layout(session: onnxruntime.InferenceSession) -> DecoderLayout:
    names = {i.name for i in session.get_inputs()}
    return DecoderLayout.GQA if "seqlens_k" in names else DecoderLayout.TRACED


@dataclass(frozen=True)
class CacheLayout:
    num_layers: int
    num_kv_heads: int
    head_dim: int
    dtype: type


def cache_layout(session: onnxruntime.InferenceSession) -> CacheLayout:
    """Layers, kv heads, head_dim and dtype of the session's past_key_values inputs."""
    layers: set[int] = set()
    kv_heads = head_dim = None
    dtype: type = np.float32
    for arg in session.get_inputs():
        match = _PAST.match(arg.name)
        if match is None:
            continue
        layers.add(int(match.group(1)))
        kv_heads, head_dim = arg.shape[1], arg.shape[3]
        dtype = _ORT_FLOAT.get(arg.type, np.float32)
    if layers != set(range(len(layers))):
        raise ValueError(f"decoder cache inputs are not numbered 0..L-1: {sorted(layers)}")
    if layers and not (isinstance(kv_heads, int) and isinstance(head_dim, int)):
        raise ValueError("decoder cache inputs need static kv_heads and head_dim dimensions")
    return CacheLayout(len(layers), kv_heads or 0, head_dim or 0, dtype)


def max_positions(session: onnxruntime.InferenceSession) -> int | None:
    """The positions a gqa graph's rotary caches cover (None: no limit recorded)."""
    value = session.get_modelmeta().custom_metadata_map.get(MAX_POSITIONS_KEY)
    return int(value) if value is not None else None


class TracedStepper:
    """The traced graph: the cache comes back as `present.*` and is fed in again."""

    def __init__(
        self,
        session: onnxruntime.InferenceSession,
        cache: CacheLayout,
        embed: onnxruntime.InferenceSession | None = None,
    ) -> None:
        self.session = session
        self.embed = embed  # embed_tokens: next_tokens embeds the previous ids
        self.layers, self.kv_heads = cache.num_layers, cache.num_kv_heads
        self.head_dim, self.dtype = cache.head_dim, cache.dtype
        self._outputs = [o.name for o in session.get_outputs()]

    def prefill(self, embeds: np.ndarray, mask: np.ndarray, positions: np.ndarray) -> np.ndarray:
        batch = embeds.shape[0]
        empty = np.zeros((batch, self.kv_heads, 0, self.head_dim), dtype=self.dtype)
        self._past = {
            f"past_key_values.{i}.{kind}": empty
            for i in range(self.layers)
            for kind in ("key", "value")
        }
        self._mask = np.ascontiguousarray(mask, dtype=np.int64)
        self._positions = np.ascontiguousarray(positions, dtype=np.int64)
        return self._run(np.ascontiguousarray(embeds, dtype=self.dtype))

    def step(self, embeds: np.ndarray) -> np.ndarray:
        self._positions = self._positions[..., -1:] + 1
        ones = np.ones((self._mask.shape[0], 1), dtype=np.int64)
        self._mask = np.concatenate([self._mask, ones], axis=1)
        return self._run(embeds.astype(self.dtype, copy=False))

    def first_tokens(
        self, embeds: np.ndarray, mask: np.ndarray, positions: np.ndarray
    ) -> np.ndarray:
        return _greedy(self.prefill(embeds, mask, positions)[:, -1])

    def next_tokens(self, ids: np.ndarray) -> np.ndarray:
        return _greedy(self.step(_embed(self.embed, ids))[:, -1])

    def _run(self, embeds: np.ndarray) -> np.ndarray:
        feed = {
            "inputs_embeds": embeds,
            "attention_mask": self._mask,
            "position_ids": self._positions,
            **self._past,
        }
        outputs = dict(zip(self._outputs, self.session.run(None, feed), strict=True))
        self._past = {
            name: outputs[name.replace("past_key_values.", "present.", 1)] for name in self._past
        }
        return outputs["logits"]


class GqaStepper:
    """The gqa graph on a preallocated buffer: no cache goes in or out of a step."""

    def __init__(
        self, buffer: SharedKvBuffer, embed: onnxruntime.InferenceSession | None = None
    ) -> None:
        self.buffer = buffer
        self.embed = embed  # embed_tokens: next_tokens embeds the previous ids

    def prefill(self, embeds: np.ndarray, mask: np.ndarray, positions: np.ndarray) -> np.ndarray:
        right, start, real = self._right_padded(embeds, mask, positions)
        logits = self.buffer.run(right, self._lengths - 1, self._prefill_positions)
        width, longest = embeds.shape[1], right.shape[1]
        rows = np.arange(embeds.shape[0])[:, None]
        back = np.arange(width)[None, :] - start  # left position p <- right index p - start
        left = logits[rows, np.clip(back, 0, longest - 1)]
        left[~real] = 0.0  # padding positions: nothing was computed for them
        return left

    def step(self, embeds: np.ndarray) -> np.ndarray:
        # the new token sits at index n
        logits = self.buffer.run(embeds, self._lengths, self._step_positions())
        self._lengths = self._lengths + 1
        return logits

    def first_tokens(
        self, embeds: np.ndarray, mask: np.ndarray, positions: np.ndarray
    ) -> np.ndarray:
        if not self.buffer.io.has_next_tokens:
            return _greedy(self.prefill(embeds, mask, positions)[:, -1])
        right, _, _ = self._right_padded(embeds, mask, positions)
        tokens = self.buffer.first_tokens(right, self._lengths - 1, self._prefill_positions)
        return tokens[np.arange(len(tokens)), self._lengths - 1]  # each row's last token

    def next_tokens(self, ids: np.ndarray) -> np.ndarray:
        if self.embed is None:
            raise ValueError("next_tokens needs the embed_tokens session (stepper(embed=...))")
        if not self.buffer.io.has_next_tokens:
            return _greedy(self.step(_embed(self.embed, ids))[:, -1])
        tokens = decode_step.next_tokens(
            self.buffer, ids, self._lengths, self.embed, self._step_positions()
        )
        self._lengths = self._lengths + 1
        return tokens

    def _step_positions(self) -> np.ndarray | None:
        """The next token's M-RoPE ids (rows, B, 1): each row's last one + 1 (None: the
        graph takes no positions)."""
        if self._last_positions is None:
            return None
        self._last_positions = self._last_positions + 1
        return self._last_positions

    def _right_padded(
        self, embeds: np.ndarray, mask: np.ndarray, positions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(right-padded embeds (B, longest, H), each row's left start (B, 1), real mask);
        sets the row lengths (and M-RoPE positions) the steps continue from."""
        rows_wanted = self.buffer.io.position_rows
        if (positions.ndim == 3) != bool(rows_wanted):
            # GQA's rotary takes (B, T) positions; an M-RoPE graph takes its own (3, B, T)
            want = f"({rows_wanted}, B, T)" if rows_wanted else "(B, T)"
            raise ValueError(f"this gqa decoder takes {want} positions, got {positions.shape}")
        real = mask.astype(bool)
        self._lengths = lengths = real.sum(axis=1).astype(np.int64)
        width, longest = embeds.shape[1], int(lengths.max())
        rows = np.arange(embeds.shape[0])[:, None]
        # Left-padded row b holds its n tokens in [width - n, width): move them to [0, n).
        # The width can exceed the longest row (a subset of a padded batch); GQA needs
        # S <= total_sequence_length, so the right-padded batch is `longest` wide.
        start = (width - lengths)[:, None]
        index = np.minimum(start + np.arange(longest)[None, :], width - 1)
        right = embeds[rows, index]
        self._prefill_positions = self._last_positions = None
        if rows_wanted:  # (3, B, longest): the padding on the right repeats the last ids
            self._prefill_positions = positions[:, rows, index]
            self._last_positions = positions[:, :, -1:]  # left-padded: every row's last real
        return right, start, real


def _greedy(logits: np.ndarray) -> np.ndarray:
    """(B, V) -> (B,) int64: the first index of the largest logit, as onnxruntime's ArgMax."""
    return logits.argmax(-1).astype(np.int64)


def _embed(embed: onnxruntime.InferenceSession | None, ids: np.ndarray) -> np.ndarray:
    if embed is None:
        raise ValueError("next_tokens needs the embed_tokens session (stepper(embed=...))")
    return embed.run(None, {"input_ids": np.asarray(ids, np.int64)[:, None]})[0]


class _BufferPool:
    """Idle KV buffers of one session, by batch size; one per request in flight."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[SharedKvBuffer] = []

    def take(
        self,
        session: onnxruntime.InferenceSession,
        cache: CacheLayout,
        batch: int,
        needed: int,
        limit: int | None,
    ) -> SharedKvBuffer:
        with self._lock:
            for i, buffer in enumerate(self._idle):
                if buffer.batch == batch and buffer.max_len >= needed:
                    return self._idle.pop(i)
        size = 1 << max(needed - 1, 1).bit_length()  # room to grow before the next allocation
        if limit is not None:
            size = min(size, limit)
        return SharedKvBuffer(
            session, cache.num_layers, batch, cache.num_kv_heads, size, cache.head_dim
        )

    def give_back(self, buffer: SharedKvBuffer) -> None:
        with self._lock:
            self._idle.append(buffer)
            self._idle.sort(key=lambda b: -b.max_len)
            del self._idle[_POOL_SIZE:]  # the largest stay: they serve the most requests


_pools: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # session -> _BufferPool
_pools_lock = threading.Lock()


@contextmanager
def stepper(
    session: onnxruntime.InferenceSession,
    batch: int,
    total_len: int,
    embed: onnxruntime.InferenceSession | None = None,
) -> Iterator[TracedStepper | GqaStepper]:
    """A stepper for one request of `batch` rows reaching `total_len` positions at most;
    `embed` (embed_tokens) is needed by `next_tokens` only."""
    cache = cache_layout(session)
    if decoder_layout(session) is DecoderLayout.TRACED:
        yield TracedStepper(session, cache, embed)
        return
    limit = max_positions(session)
    if limit is not None and total_len > limit:
        raise InputError(
            f"the prompt and its new tokens need {total_len} positions; the decoder's rotary "
            f"tables cover {limit}"
        )
    with _pools_lock:
        pool = _pools.setdefault(session, _BufferPool())
    buffer = pool.take(session, cache, batch, total_len, limit)
    try:
        yield GqaStepper(buffer, embed)
    finally:
        pool.give_back(buffer)
