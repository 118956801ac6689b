"""One decode step (S = 1) of a gqa graph on buffers that never move.

    ids (B,) host -> embed_tokens -> embeds (B, 1, H)            [session device]
    seqlens_k (B,) int32                                          [where GQA runs: kv_device]
    position_ids (3, B, 1) int64, M-RoPE graphs only              [session device]
    total_sequence_length = the buffer's max_len, int32 scalar    [host, bound once]
    -> decoder -> next_tokens (B, 1) int64 -> host (8 bytes a row)
                  logits (B, 1, V), present.* into the cache      [never copied]

Every input and output is bound once, at a fixed address with a fixed shape: what a CUDA graph
replays (onnxruntime's `enable_cuda_graph`; docs/runtime.md). Only the contents of `seqlens`,
`positions` (M-RoPE) and `embeds` (written by embed_tokens) change between steps.

total_sequence_length stays at max_len: GroupQueryAttention reads it to tell a prompt
(S == total) from a decode step and to size the present cache (max(total, past) = max_len
either way); every row's own length comes from seqlens_k. On CPU the logits are identical
to passing the true total (tests/export/onnx/test_decode_step.py).
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from .kv_buffer import NEXT_TOKENS, ORT_FLOAT_TYPES, POSITION_IDS, SharedKvBuffer


class DecodeStep:
    def __init__(self, buffer: SharedKvBuffer, embed: ort.InferenceSession) -> None:
        io, batch, device = buffer.io, buffer.batch, buffer.io_device
        if not io.has_next_tokens:
            raise ValueError(f"the decoder graph has no '{NEXT_TOKENS}' output")

        def value(shape: list[int], dtype: type, where: str = device) -> ort.OrtValue:
            return ort.OrtValue.ortvalue_from_shape_and_type(shape, dtype, where, 0)

        self.buffer = buffer
        self.embeds = value([batch, 1, io.hidden_size], io.embeds_dtype)
        self.seqlens = value([batch], np.int32, buffer.kv_device)
        self.tokens = value([batch, 1], np.int64)
        self.logits = value([batch, 1, io.vocab_size], io.logits_dtype)
        self.total = ort.OrtValue.ortvalue_from_numpy(np.array(buffer.max_len, np.int32))
        b = self.binding = buffer.new_binding()
        b.bind_ortvalue_input("inputs_embeds", self.embeds)
        b.bind_ortvalue_input("seqlens_k", self.seqlens)
        b.bind_ortvalue_input("total_sequence_length", self.total)
        b.bind_ortvalue_output("logits", self.logits)
        b.bind_ortvalue_output(NEXT_TOKENS, self.tokens)
        self.positions = None  # M-RoPE: beside the embeddings, where MRotaryEmbedding runs
        if io.position_rows:
            self.positions = value([io.position_rows, batch, 1], np.int64)
            b.bind_ortvalue_input(POSITION_IDS, self.positions)
        self.embed_binding = self._embed_binding(embed)
        self.options = None
        if buffer.cuda_graph:  # this buffer's own graph: captured once, replayed after
            self.options = ort.RunOptions()
            self.options.add_run_config_entry("gpu_graph_id", str(buffer.graph_id))

    def _embed_binding(self, embed: ort.InferenceSession) -> ort.IOBinding | None:
        """embed_tokens writing straight into `embeds`, where its output type is the
        decoder's input type (None: its output is cast on the host, (B, 1, H) only)."""
        out = embed.get_outputs()[0]
        if ORT_FLOAT_TYPES.get(out.type) != np.dtype(self.buffer.io.embeds_dtype).type:
            return None
        binding = embed.io_binding()
        binding.bind_ortvalue_output(out.name, self.embeds)
        return binding

    def run(
        self,
        ids: np.ndarray,
        seqlens_k: np.ndarray,
        embed: ort.InferenceSession,
        position_ids: np.ndarray | None = None,
    ) -> np.ndarray:
        """The next ids (B,) int64 after the previous ones `ids` (B,); `position_ids`
        (3, B, 1) of the new token for an M-RoPE graph."""
        column = np.ascontiguousarray(ids, dtype=np.int64)[:, None]  # (B, 1)
        if self.embed_binding is not None:
            self.embed_binding.bind_cpu_input("input_ids", column)
            embed.run_with_iobinding(self.embed_binding)
            self.embed_binding.synchronize_outputs()  # its stream before the decoder's
        else:
            host = embed.run(None, {"input_ids": column})[0]
            self.embeds.update_inplace(np.ascontiguousarray(host, self.buffer.io.embeds_dtype))
        self.seqlens.update_inplace(np.ascontiguousarray(seqlens_k, dtype=np.int32))
        if self.positions is not None:
            host = self.buffer.check_positions(position_ids, column.shape)
            self.positions.update_inplace(host)
        with self.buffer.serial:
            self.buffer.session.run_with_iobinding(self.binding, self.options)
        # A copy: on CPU numpy() is a view of the buffer the next step overwrites.
        return self.tokens.numpy()[:, 0].copy()


def next_tokens(
    buffer: SharedKvBuffer,
    ids: np.ndarray,
    seqlens_k: np.ndarray,
    embed: ort.InferenceSession,
    position_ids: np.ndarray | None = None,
) -> np.ndarray:
    """One decode step on `buffer` from the previous ids (B,): embed_tokens and the decoder
    on the buffer's fixed step buffers (made on its first step); the next ids (B,) int64.
    `position_ids` (3, B, 1): the new token's, for an M-RoPE graph."""
    buffer.check_length(seqlens_k)
    if buffer.step is None:
        buffer.step = DecodeStep(buffer, embed)
    return buffer.step.run(ids, seqlens_k, embed, position_ids)
