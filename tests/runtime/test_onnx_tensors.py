"""The runtime's protobuf reader of external initializers, checked against `onnx.load`."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from vlmprune.runtime.onnx_tensors import GraphFormatError, external_initializers


def reference(path: Path) -> list[tuple]:
    """What onnx itself reads: (name, type, dims, location, offset, length) of external ones."""
    model = onnx.load(str(path), load_external_data=False)
    out = []
    for t in model.graph.initializer:
        if t.data_location != TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        length = int(info["length"]) if "length" in info else None
        out.append((t.name, t.data_type, tuple(t.dims), info["location"],
                    int(info.get("offset", 0)), length))  # fmt: skip
    return out


def ours(path: Path) -> list[tuple]:
    return [(t.name, t.data_type, t.dims, t.location, t.offset, t.length)
            for t in external_initializers(path)]  # fmt: skip


def test_equal_to_onnx_on_every_graph_of_the_toy_export(toy_export_master):
    graphs = sorted(toy_export_master.parent.glob("variants/*.onnx"))
    assert len(graphs) >= 3
    for graph in graphs:
        expected = reference(graph)
        assert expected, graph  # the toy export keeps its weights external
        assert ours(graph) == expected, graph


def external(name: str, data_type: int, dims: list[int], **where: str) -> TensorProto:
    tensor = TensorProto(name=name, data_type=data_type, dims=dims)
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in where.items():
        tensor.external_data.add(key=key, value=value)
    return tensor


def test_inline_initializers_are_left_out_and_odd_fields_read(tmp_path):
    """Inline data (not the store's business), a missing offset and length, dims needing
    multi-byte varints, and fields after the graph's initializers."""
    ext = external("ext", TensorProto.FLOAT16, [3, 70000], location="w.bin")
    off = external("off", TensorProto.INT64, [1], location="sub/w.bin", offset="65536", length="8")
    inline = helper.make_tensor("inline", TensorProto.FLOAT, [2], [1.0, 2.0])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["inline"], ["y"])], "g", [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        initializer=[ext, inline, off], doc_string="after",
    )  # fmt: skip
    path = tmp_path / "g.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    assert (
        ours(path)
        == reference(path)
        == [
            ("ext", TensorProto.FLOAT16, (3, 70000), "w.bin", 0, None),
            ("off", TensorProto.INT64, (1,), "sub/w.bin", 65536, 8),
        ]
    )


def test_truncated_or_foreign_file_is_one_clear_error(toy_export_master, tmp_path):
    graph = next(toy_export_master.parent.glob("variants/decoder*.onnx"))
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    for bad in (cut, junk):
        with pytest.raises(GraphFormatError, match=f"{bad}: not a readable ONNX model"):
            external_initializers(bad)
