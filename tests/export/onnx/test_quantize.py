"""int8 / int4 weight quantization of the fused decoder with onnxruntime's quantizers."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from test_fused_decoder import _empty_past, _tiny_llama

from vlmprune.export.onnx.fused_decoder import build_fused_decoder
from vlmprune.export.onnx.quantize import (
    Precision,
    QuantizationError,
    parse_precision,
    quantize,
)


def _logits(graph: onnx.ModelProto, layout, embeds: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    n = embeds.shape[1]
    feeds = {
        "inputs_embeds": embeds,
        "seqlens_k": np.array([n - 1], np.int32),
        "total_sequence_length": np.array(n, np.int32),
        **_empty_past(layout, 1),
    }
    return session.run(["logits"], feeds)[0]


@pytest.mark.parametrize(
    ("precision", "op", "tolerance"),
    [
        # int8: 0.03-0.12 of the largest logit on this random model, by CPU (the u8s8 kernels
        # without VNNI saturate differently)
        (Precision.INT8, {"MatMulInteger", "DynamicQuantizeMatMul"}, 0.2),
        (Precision.INT4, {"MatMulNBits"}, 0.15),
    ],
)
def test_quantized_decoder_runs_close_to_fp32(precision, op, tolerance):
    model = _tiny_llama()
    graph, layout = build_fused_decoder(model.model, model.lm_head, model.config, 64)
    before = graph.SerializeToString()
    quantized = quantize(graph, precision)
    assert graph.SerializeToString() == before  # the fp32 graph is left as it was
    ops = [n.op_type for n in quantized.graph.node]
    assert set(ops) & op and "GroupQueryAttention" in ops
    assert sum(o == "MatMul" for o in ops) == 0  # every constant-weight MatMul changed
    embeds = torch.randn(1, 9, 64, generator=torch.Generator().manual_seed(3)).numpy()
    fp32, low = _logits(graph, layout, embeds), _logits(quantized, layout, embeds)
    relative = np.abs(low - fp32).max() / np.abs(fp32).max()
    assert 0 < relative < tolerance  # changed (it is quantized), but close
    assert quantized.ByteSize() < graph.ByteSize()


def test_fp32_is_unchanged_and_unknown_precision_is_one_line():
    model = _tiny_llama()
    graph, _ = build_fused_decoder(model.model, model.lm_head, model.config, 64)
    assert quantize(graph, Precision.FP32) is graph
    with pytest.raises(
        QuantizationError, match=r"^unknown precision 'int3' \(known: fp32, int8, int4\)$"
    ):
        parse_precision("int3")


def test_a_graph_without_constant_weights_is_refused():
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 2])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 2])
    node = onnx.helper.make_node("MatMul", ["x", "x"], ["y"])
    graph = onnx.helper.make_model(onnx.helper.make_graph([node], "g", [x], [y]))
    with pytest.raises(QuantizationError, match="^g: the int4 quantizer changed no MatMul"):
        quantize(graph, Precision.INT4, name="g")
