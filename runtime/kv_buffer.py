"""One preallocated KV buffer per layer, bound as both past and present of a fused decoder.

GroupQueryAttention writes the new keys/values in place when `past_key_values.{i}.key` and
`present.{i}.key` are the same memory (past_present_share_buffer), so the cache never grows by
Concat and is never copied: the buffer (B, kv_heads, max_len, head_dim) is allocated once and
reused across steps and requests; each row's length travels in seqlens_k.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from .errors import InputError


def session_device(session: ort.InferenceSession) -> str:
    """The OrtValue device type of the session's first provider."""
    return "cuda" if session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"


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
        device = session_device(session)
        shape = [batch, kv_heads, max_len, head_dim]
        self.values = {
            f"{i}.{kind}": ort.OrtValue.ortvalue_from_shape_and_type(shape, np.float32, device, 0)
            for i in range(num_layers)
            for kind in ("key", "value")
        }
        self.binding = session.io_binding()
        # The buffers never move: bound once here; each step rebinds only what changes (an
        # input or output bound again under its name replaces the earlier binding).
        for name, value in self.values.items():
            self.binding.bind_ortvalue_input(f"past_key_values.{name}", value)
            self.binding.bind_ortvalue_output(f"present.{name}", value)

    def run(self, inputs_embeds: np.ndarray, seqlens_k: np.ndarray) -> np.ndarray:
        """One prefill or decode step; seqlens_k = (valid length after this step) - 1 per row.
        Returns logits (B, S, V)."""
        total = int(seqlens_k.max()) + 1
        if total > self.max_len:
            raise InputError(
                f"sequence of {total} tokens exceeds the KV buffer of {self.max_len} positions"
            )
        b = self.binding
        b.bind_cpu_input("inputs_embeds", np.ascontiguousarray(inputs_embeds, np.float32))
        b.bind_cpu_input("seqlens_k", seqlens_k.astype(np.int32))
        # GQA tells a first prompt from a decode step by S == total_sequence_length
        b.bind_cpu_input("total_sequence_length", np.array(total, np.int32))
        b.bind_output("logits")
        self.session.run_with_iobinding(b)
        # Only the logits come back to the host: copying every output would copy the whole
        # KV buffer each step. Outputs keep their binding order; logits was bound last.
        return b.get_outputs()[-1].numpy()
