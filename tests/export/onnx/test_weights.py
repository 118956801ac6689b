"""The shared weights file: every tensor once, large ones 64 KiB-aligned, all graphs load."""

import hashlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from vlmprune.export.models.llava_build import VlmSize, build_llava, preprocess_spec
from vlmprune.export.models.loading import LoadedVlm, hash_in_memory
from vlmprune.export.models.tokenizer import train_tokenizer
from vlmprune.export.onnx import graphs
from vlmprune.export.onnx.weights import (
    ALIGN_MIN_BYTES,
    ALIGNMENT,
    EXTERNAL_MIN_BYTES,
    SharedWeightsWriter,
    external_refs,
)


def _graph_with(tensors: dict[str, np.ndarray]) -> onnx.ModelProto:
    """A graph that sums the first element of each initializer (enough to be loadable)."""
    nodes, names = [], []
    for name in tensors:
        nodes.append(helper.make_node("ReduceSum", [name], [f"{name}_sum"], keepdims=0))
        names.append(f"{name}_sum")
    nodes.append(helper.make_node("Sum", names, ["y"]))
    graph = helper.make_graph(
        nodes,
        "g",
        [],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [])],
        [numpy_helper.from_array(a, n) for n, a in tensors.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _regions(folder: Path) -> dict[tuple[int, int], bytes]:
    data = (folder / "weights.bin").read_bytes()
    regions = {}
    for path in folder.glob("*.onnx"):
        for ref in external_refs(onnx.load(str(path), load_external_data=False)):
            regions[(ref.offset, ref.length)] = data[ref.offset : ref.offset + ref.length]
    return regions


def test_writer_dedupes_by_content_aligns_large_and_packs_small(tmp_path):
    rng = np.random.default_rng(0)
    big = rng.standard_normal(ALIGN_MIN_BYTES // 4 + 100).astype(np.float32)  # > 64 KiB
    small = rng.standard_normal(300).astype(np.float32)  # 1200 bytes: external, packed
    tiny = np.ones(8, np.float32)  # 32 bytes: stays in the graph
    with SharedWeightsWriter(tmp_path) as writer:
        writer.add_graph(_graph_with({"a": big, "b": small, "t": tiny}), "one.onnx")
        # Same contents under other names (and a second large tensor): stored once.
        writer.add_graph(_graph_with({"renamed": small, "big2": big * 2, "again": big}), "two.onnx")
        stats = writer.stats()
    assert stats.unique_tensors == 3 and stats.references == 5
    assert stats.file_bytes == (tmp_path / "weights.bin").stat().st_size
    regions = _regions(tmp_path)
    assert len(regions) == 3
    assert len({hashlib.sha256(b).hexdigest() for b in regions.values()}) == 3
    for (offset, length), _ in regions.items():
        if length >= ALIGN_MIN_BYTES:
            assert offset % ALIGNMENT == 0
        else:
            assert offset < ALIGNMENT * 3  # packed into the gap before an aligned tensor
    assert stats.padding_bytes < ALIGNMENT  # the small tensor filled the alignment gap
    for name in ("one.onnx", "two.onnx"):
        session = ort.InferenceSession(str(tmp_path / name), providers=["CPUExecutionProvider"])
        assert np.isfinite(session.run(None, {})[0])
    inline = onnx.load(str(tmp_path / "one.onnx"), load_external_data=False).graph.initializer
    assert [t.name for t in inline if t.data_location != onnx.TensorProto.EXTERNAL] == ["t"]
    assert tiny.nbytes < EXTERNAL_MIN_BYTES


def test_fresh_export_stores_each_tensor_once_and_loads(tiny_export):
    out, _, summary = tiny_export
    regions = _regions(out)
    digests = [hashlib.sha256(b).hexdigest() for b in regions.values()]
    assert len(digests) == len(set(digests)) == summary["weights"]["unique_tensors"]
    spans = sorted(regions)
    assert all(a[0] + a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))  # no overlap
    assert summary["weights"]["references"] > summary["weights"]["unique_tensors"]
    options = ort.SessionOptions()
    options.add_session_config_entry("session.disable_prepacking", "1")
    for path in out.glob("*.onnx"):
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def mid_vlm():
    """4 blocks with 256 KiB weight matrices: weights dominate, as in real models."""
    size = VlmSize(
        64, 1, 2, 128, 256, 4, 4, 4, 256, image_size=48, patch_size=12, max_positions=128
    )
    tokenizer = train_tokenizer(["a b c d e f g h"] * 4, vocab_size=64)
    model = build_llava(size, tokenizer, seed=1)
    spec = preprocess_spec(size)
    from vlmprune.export.models.architectures import adapter_for

    return LoadedVlm(
        "mid", model, adapter_for(model), tokenizer, spec, hash_in_memory(model, tokenizer, spec)
    )


def _export(vlm, folder: Path, removal_sets) -> int:
    folder.mkdir()
    with SharedWeightsWriter(folder) as writer:
        writer.add_graph(
            graphs.compact_value_names(graphs.export_vision_encoder(vlm)), "vision_encoder.onnx"
        )
        writer.add_graph(
            graphs.compact_value_names(graphs.export_embed_tokens(vlm)), "embed_tokens.onnx"
        )
        for removed in removal_sets:
            with vlm.adapter.removed(vlm.model, removed):
                name = "decoder_" + ("_".join(map(str, removed)) or "full") + ".onnx"
                writer.add_graph(graphs.compact_value_names(graphs.export_decoder(vlm)), name)
    return sum(p.stat().st_size for p in folder.iterdir())


def test_all_variants_take_at_most_1_1_times_one_full_export(mid_vlm, tmp_path):
    full = _export(mid_vlm, tmp_path / "full", [()])
    every = _export(mid_vlm, tmp_path / "all", [(1,), (2,), (1, 2), (2, 3), ()])
    assert every <= 1.1 * full, (every, full)
    for (offset, length), _ in _regions(tmp_path / "all").items():
        assert length < ALIGN_MIN_BYTES or offset % ALIGNMENT == 0
