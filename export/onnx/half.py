"""fp16 decoder graphs, converted by onnxruntime's own converter
(`onnxruntime.transformers.float16.convert_float_to_float16`).

I/O of an fp16 gqa decoder (docs/contracts.md):

    inputs_embeds          float32 (B, S, H)  cast to fp16 inside the graph, so embed_tokens
                           and vision_encoder stay the fp32 graphs every variant shares and
                           embed_tokens can write a decode step's input on the device
    past_key_values.*      float16            the KV buffer is half the size
    present.*, logits      float16
    next_tokens            int64 (B, S)       what a decode step reads back
    seqlens_k, total_sequence_length  int32   unchanged

The fp32 graph stays the correctness gate (parity.py); the fp16 graph's agreement with
PyTorch fp32 is measured where onnxruntime's CPU provider runs it (1.32 does: fp16 kernels
for GroupQueryAttention and the norms, MatMul through inserted casts) and recorded, or
recorded as not measured with the reason.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import onnx

from ..errors import VlmpruneError
from .parity import ParityReport

KEEP_FLOAT32 = ["inputs_embeds"]
METHOD = (
    "onnxruntime.transformers.float16.convert_float_to_float16: fp16 weights and "
    "activations, inputs_embeds kept float32"
)


class HalfPrecisionError(VlmpruneError):
    """The fp16 converter refused the graph."""


@dataclass(frozen=True)
class HalfCheck:
    """The fp16 graph against PyTorch fp32 (informative, not a gate)."""

    provider: str  # the execution provider it was (or would have been) measured on
    report: ParityReport | None = None  # None: not measured
    reason: str = ""  # why not measured

    def to_json(self) -> dict:
        parity = None
        if self.report is not None:
            r = self.report
            parity = {
                "greedy_identical": r.identical,
                "n": r.n,
                "prefill_max_abs_diff": r.prefill_max_abs_diff,
                "decode_max_abs_diff": r.decode_max_abs_diff,
            }
        out = {"method": METHOD, "provider": self.provider, "parity": parity}
        if self.report is None:
            out["not_measured"] = self.reason
        return out


def to_fp16(model: onnx.ModelProto, name: str = "decoder") -> onnx.ModelProto:
    """A float16 copy of `model` (inputs_embeds stays float32; `model` is left as it was)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    try:
        # The converter rewrites the graph it is given; onnx's shape inference does not know
        # the contrib ops, and onnxruntime infers the intermediate types itself.
        return convert_float_to_float16(
            copy.deepcopy(model), keep_io_types=KEEP_FLOAT32, disable_shape_infer=True
        )
    except Exception as exc:  # the converter raises anything from assertions down
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HalfPrecisionError(
            f"{name}: onnxruntime's fp16 converter refused it: {first}"
        ) from None
