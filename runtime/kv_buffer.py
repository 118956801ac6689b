"""One preallocated KV buffer per layer, bound as both past and present of a fused decoder.

GroupQueryAttention writes the new keys/values in place when `past_key_values.{i}.key` and
`present.{i}.key` are the same memory (past_present_share_buffer), so the cache never grows by
Concat and is never copied: the buffer (B, kv_heads, max_len, head_dim) is allocated once and
reused across steps and requests; each row's length travels in seqlens_k.

Three ways to run the graph on it, each with its own IO binding (the cache bound once):
- `run`: logits (B, S, V) back to the host (the parity checks read them);
- `first_tokens`: the prefill, only the graph's `next_tokens` (B, S) int64 back;
- a decode step on fixed buffers (`decode_step.next_tokens`): no tensor larger than (B,)
  crosses between host and device, and the addresses never change, as CUDA graphs need.

Dtypes come from the graph's own inputs (fp32 or fp16 caches), devices from the session
(`io_device`) and from where GroupQueryAttention runs (`kv_device`). An M-RoPE graph (Qwen2-VL)
also takes `position_ids` (3, B, S) int64 each call: GQA's rotary reads positions from
seqlens_k, which cannot say where an image's rows and columns are.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from .errors import InputError

CUDA = "CUDAExecutionProvider"
NEXT_TOKENS = "next_tokens"  # gqa graphs: ArgMax of the logits, (B, S) int64
POSITION_IDS = "position_ids"  # M-RoPE gqa graphs only: (3, B, S) int64
ORT_FLOAT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
}
# Each buffer's decode step is its own CUDA graph (ids > 0; 0 is onnxruntime's default).
_graph_ids = itertools.count(1)
_session_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_session_locks_guard = threading.Lock()


def _serial(session: ort.InferenceSession) -> AbstractContextManager:
    """One decoder call at a time on a session with CUDA graphs: a replay bypasses
    onnxruntime's allocator, so it must not overlap another call that could be handed the
    scratch memory the graph was captured with. Other sessions run calls concurrently."""
    if not cuda_graph_enabled(session):
        return nullcontext()
    with _session_locks_guard:
        return _session_locks.setdefault(session, threading.Lock())


def session_device(session: ort.InferenceSession) -> str:
    """The OrtValue device type of the session's first provider."""
    return "cuda" if session.get_providers()[0] == CUDA else "cpu"


def kv_device(session: ort.InferenceSession, dtype: type) -> str:
    """Where the cache must live for past and present to be one buffer: where
    GroupQueryAttention runs. onnxruntime's CUDA kernel exists for fp16/bf16 only
    (contrib_ops/cuda/bert/group_query_attention.cc), so an fp32 graph's attention falls
    back to the CPU EP even in a CUDA session, and its cache stays in host memory."""
    if session_device(session) == "cuda" and np.dtype(dtype) == np.float16:
        return "cuda"
    return "cpu"


def cuda_graph_enabled(session: ort.InferenceSession) -> bool:
    """The session was created with the CUDA EP's `enable_cuda_graph` option."""
    options = session.get_provider_options().get(CUDA, {})
    return session_device(session) == "cuda" and str(options.get("enable_cuda_graph")) in (
        "1",
        "True",
        "true",
    )


@dataclass(frozen=True)
class GraphIo:
    """Element types and static sizes of a gqa graph's I/O, read from the session."""

    embeds_dtype: type  # inputs_embeds
    cache_dtype: type  # past_key_values.*
    logits_dtype: type
    hidden_size: int
    vocab_size: int
    has_next_tokens: bool
    position_rows: int = 0  # rows of the graph's position_ids input (0: it has none)


def graph_io(session: ort.InferenceSession) -> GraphIo:
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    past = next((i for n, i in inputs.items() if n.startswith("past_key_values.")), None)
    embeds, logits = inputs["inputs_embeds"], outputs["logits"]
    return GraphIo(
        embeds_dtype=ORT_FLOAT_TYPES.get(embeds.type, np.float32),
        cache_dtype=ORT_FLOAT_TYPES.get(past.type, np.float32) if past is not None else np.float32,
        logits_dtype=ORT_FLOAT_TYPES.get(logits.type, np.float32),
        hidden_size=_static(embeds.shape[-1]),
        vocab_size=_static(logits.shape[-1]),
        has_next_tokens=NEXT_TOKENS in outputs,
        position_rows=_static(inputs[POSITION_IDS].shape[0]) if POSITION_IDS in inputs else 0,
    )


def _static(dim: object) -> int:
    return dim if isinstance(dim, int) else 0


class SharedKvBuffer:
    def __init__(
        self,
        session: ort.InferenceSession,
        num_layers: int,
        batch: int,
        kv_heads: int,
        max_len: int,
        head_dim: int,
    ) -> None:
        self.session = session
        self.batch = batch
        self.max_len = max_len
        self.io = graph_io(session)
        self.io_device = session_device(session)
        self.kv_device = kv_device(session, self.io.cache_dtype)
        self.graph_id = next(_graph_ids)
        self.cuda_graph = cuda_graph_enabled(session)
        self.serial = _serial(session)
        shape = [batch, kv_heads, max_len, head_dim]
        self.values = {
            f"{i}.{kind}": ort.OrtValue.ortvalue_from_shape_and_type(
                shape, self.io.cache_dtype, self.kv_device, 0
            )
            for i in range(num_layers)
            for kind in ("key", "value")
        }
        self.binding = self.new_binding()  # logits out (run)
        self._tokens_binding: ort.IOBinding | None = None  # next_tokens out (first_tokens)
        self.step = None  # its decode_step.DecodeStep, made on the first decode step

    def new_binding(self) -> ort.IOBinding:
        """An IO binding with the cache bound as both past and present (each step rebinds
        only what changes: an input or output bound again under its name replaces it)."""
        binding = self.session.io_binding()
        for name, value in self.values.items():
            binding.bind_ortvalue_input(f"past_key_values.{name}", value)
            binding.bind_ortvalue_output(f"present.{name}", value)
        return binding

    def run(
        self,
        inputs_embeds: np.ndarray,
        seqlens_k: np.ndarray,
        position_ids: np.ndarray | None = None,
    ) -> np.ndarray:
        """One prefill or decode step; seqlens_k = (valid length after this step) - 1 per row;
        position_ids (3, B, S) for an M-RoPE graph only. Returns logits (B, S, V)."""
        b = self.binding
        self._bind_inputs(b, inputs_embeds, seqlens_k, position_ids)
        b.bind_output("logits")
        with self.serial:
            self.session.run_with_iobinding(b, self.eager_options())
        # Only the logits come back to the host: copying every output would copy the whole
        # KV buffer each step. Outputs keep their binding order; logits was bound last.
        return b.get_outputs()[-1].numpy()

    def first_tokens(
        self,
        inputs_embeds: np.ndarray,
        seqlens_k: np.ndarray,
        position_ids: np.ndarray | None = None,
    ) -> np.ndarray:
        """The prefill, returning the graph's greedy ids (B, S) int64: the logits stay
        inside onnxruntime (on the device of a CUDA session)."""
        if not self.io.has_next_tokens:
            raise ValueError(f"the decoder graph has no '{NEXT_TOKENS}' output")
        if self._tokens_binding is None:
            self._tokens_binding = self.new_binding()
        b = self._tokens_binding
        self._bind_inputs(b, inputs_embeds, seqlens_k, position_ids)
        b.bind_output(NEXT_TOKENS, self.io_device)
        with self.serial:
            self.session.run_with_iobinding(b, self.eager_options())
        return b.get_outputs()[-1].numpy()

    def eager_options(self) -> ort.RunOptions | None:
        """Run options of a call outside the decode step's CUDA graph (shapes vary)."""
        if not self.cuda_graph:
            return None
        options = ort.RunOptions()
        options.add_run_config_entry("gpu_graph_id", "-1")  # -1: neither capture nor replay
        return options

    def _bind_inputs(
        self,
        b: ort.IOBinding,
        inputs_embeds: np.ndarray,
        seqlens_k: np.ndarray,
        position_ids: np.ndarray | None,
    ) -> None:
        total = self.check_length(seqlens_k)
        b.bind_cpu_input(
            "inputs_embeds", np.ascontiguousarray(inputs_embeds, dtype=self.io.embeds_dtype)
        )
        b.bind_cpu_input("seqlens_k", seqlens_k.astype(np.int32))
        # GQA tells a first prompt from a decode step by S == total_sequence_length
        b.bind_cpu_input("total_sequence_length", np.array(total, np.int32))
        if self.io.position_rows:
            rows = self.check_positions(position_ids, inputs_embeds.shape[:2])
            b.bind_cpu_input(POSITION_IDS, rows)

    def check_positions(
        self, position_ids: np.ndarray | None, batch_seq: tuple[int, ...]
    ) -> np.ndarray:
        """The graph's (rows, B, S) int64 position ids for embeddings of (B, S); ValueError
        when they are missing or shaped otherwise (a caller bug, not a user's input)."""
        want = (self.io.position_rows, *batch_seq)
        if position_ids is None or tuple(position_ids.shape) != want:
            got = None if position_ids is None else tuple(position_ids.shape)
            raise ValueError(f"this decoder takes position_ids of shape {want}, got {got}")
        return np.ascontiguousarray(position_ids, dtype=np.int64)

    def check_length(self, seqlens_k: np.ndarray) -> int:
        total = int(seqlens_k.max()) + 1
        if total > self.max_len:
            raise InputError(
                f"sequence of {total} tokens exceeds the KV buffer of {self.max_len} positions"
            )
        return total
