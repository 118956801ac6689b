"""Weight quantization of a decoder graph with onnxruntime's own quantizers.

    int4  MatMulNBits: 4-bit weight-only, blocks of 32, symmetric, accuracy level 4 (int8
          activations inside the kernel): the settings of onnxruntime-genai's model builder
    int8  dynamic quantization of every MatMul's weights (activations quantized at run time)

Only MatMuls with constant weights change; GroupQueryAttention, the norms and the caches
stay fp32. The quantized graph still holds its weights as initializers, so weights.py
stores them once across variants by content hash like fp32 ones. Sessions of int4 graphs
must keep onnxruntime's weight prepacking: without it MatMulNBits unpacks the weights on
every call.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import onnx

from ...runtime.decoders import Precision
from ..errors import VlmpruneError

INT4_BLOCK_SIZE = 32
INT4_ACCURACY_LEVEL = 4
__all__ = ["Precision", "QuantizationError", "parse_precision", "quantize", "method"]


def method(precision: Precision) -> str:
    """What the quantizer did, in words (the manifest records it)."""
    if Precision(precision) is Precision.INT4:
        return (
            f"MatMulNBits 4-bit weight-only, blocks of {INT4_BLOCK_SIZE}, symmetric, "
            f"accuracy level {INT4_ACCURACY_LEVEL}"
        )
    if Precision(precision) is Precision.INT8:
        return "dynamic int8 (quantize_dynamic: int8 MatMul weights, activations at run time)"
    return "none"


class QuantizationError(VlmpruneError):
    """onnxruntime's quantizer refused the graph."""


def parse_precision(value: str) -> Precision:
    try:
        return Precision(value)
    except ValueError:
        known = ", ".join(p.value for p in Precision)
        raise QuantizationError(f"unknown precision {value!r} (known: {known})") from None


def quantize(
    model: onnx.ModelProto, precision: Precision, name: str = "decoder"
) -> onnx.ModelProto:
    """`model` with its MatMul weights at `precision` (fp32: returned unchanged)."""
    precision = Precision(precision)
    if precision is Precision.FP32:
        return model
    try:
        quantized = _int4(model) if precision is Precision.INT4 else _int8(model)
    except Exception as exc:  # the quantizers raise anything from shape inference down
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QuantizationError(
            f"{name}: onnxruntime's {precision.value} quantizer refused the graph: {first}"
        ) from None
    if not _has_quantized_ops(quantized, precision):
        raise QuantizationError(
            f"{name}: the {precision.value} quantizer changed no MatMul (no constant weights?)"
        )
    return quantized


def _int4(model: onnx.ModelProto) -> onnx.ModelProto:
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    # It logs two INFO lines per MatMul to stderr: an export's progress is ours to report.
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)

    copy = onnx.ModelProto()
    copy.CopyFrom(model)  # the quantizer rewrites the graph it is given in place
    quantizer = MatMulNBitsQuantizer(
        copy,
        bits=4,
        block_size=INT4_BLOCK_SIZE,
        is_symmetric=True,
        accuracy_level=INT4_ACCURACY_LEVEL,
    )
    quantizer.process()
    return quantizer.model.model


def _int8(model: onnx.ModelProto) -> onnx.ModelProto:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # quantize_dynamic works on files; a temporary folder keeps nothing half-written around.
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.onnx", Path(folder) / "out.onnx"
        onnx.save(model, source)
        quantize_dynamic(
            source,
            target,
            op_types_to_quantize=["MatMul"],
            weight_type=QuantType.QInt8,
            # contrib ops (GroupQueryAttention...) have no shape inference in onnx: their
            # outputs are float32 activations
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        return onnx.load(target)


def _has_quantized_ops(model: onnx.ModelProto, precision: Precision) -> bool:
    ops = {n.op_type for n in model.graph.node}
    wanted = (
        {"MatMulNBits"}
        if precision is Precision.INT4
        else {"MatMulInteger", "DynamicQuantizeMatMul"}
    )
    return bool(ops & wanted)
