"""The exported graphs: names per the contract, and the numbers PyTorch computes."""

import numpy as np
import onnx
import pytest
import torch

from vlmprune.export.evaluation.generation import greedy_generate
from vlmprune.export.onnx import graphs
from vlmprune.export.onnx.parity import (
    Divergence,
    ParityConfig,
    ParityReport,
    ParitySet,
    _divergence,
    check_decoder,
    session_from_proto,
)
from vlmprune.runtime.generation import greedy_decode, positions_from_mask

DATASETS = ("shapes_vqa", "code_match", "receipts_docqa")


@pytest.fixture(scope="module")
def shared(tiny_vlm):
    """Sessions of the shared graphs and a parity set with ONNX-side embeddings."""
    vision = session_from_proto(graphs.export_vision_encoder(tiny_vlm))
    embed = session_from_proto(graphs.export_embed_tokens(tiny_vlm))
    parity = ParitySet.build(tiny_vlm, DATASETS, n=6, batch_size=4)
    diff = parity.attach_shared(vision, embed)
    return vision, embed, parity, diff


def test_decoder_io_names_follow_the_contract(tiny_vlm):
    with tiny_vlm.adapter.removed(tiny_vlm.model, [1, 2]):
        model = graphs.export_decoder(tiny_vlm)
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    assert inputs == [
        "inputs_embeds",
        "attention_mask",
        "position_ids",
        "past_key_values.0.key",
        "past_key_values.0.value",
        "past_key_values.1.key",
        "past_key_values.1.value",
    ]
    assert outputs == [
        "logits",
        "present.0.key",
        "present.0.value",
        "present.1.key",
        "present.1.value",
    ]
    assert model.ir_version == graphs.IR_VERSION <= 10
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [graphs.OPSET]
    dims = [d.dim_param or d.dim_value for d in model.graph.input[3].type.tensor_type.shape.dim]
    assert dims == ["batch", 1, "past_sequence", 16]  # (B, kv_heads, P, head_dim)


def test_shared_graph_names_and_static_dims(tiny_vlm):
    vision = graphs.export_vision_encoder(tiny_vlm)
    embed = graphs.export_embed_tokens(tiny_vlm)
    assert [i.name for i in vision.graph.input] == ["pixel_values"]
    assert [o.name for o in vision.graph.output] == ["image_features"]
    out_dims = [
        d.dim_param or d.dim_value for d in vision.graph.output[0].type.tensor_type.shape.dim
    ]
    assert out_dims == ["batch", 64, 32]
    assert [i.name for i in embed.graph.input] == ["input_ids"]
    assert [o.name for o in embed.graph.output] == ["inputs_embeds"]
    onnx.checker.check_model(vision)


def test_vision_and_embed_graphs_reproduce_pytorch_input_embeddings(shared):
    *_, diff = shared
    assert diff < 1e-5


def test_pruned_decoder_logits_match_pytorch_for_prefill_and_decode(tiny_vlm, shared):
    _, embed, parity, _ = shared
    with tiny_vlm.adapter.removed(tiny_vlm.model, [2]):
        session = session_from_proto(graphs.export_decoder(tiny_vlm))
        report = check_decoder(
            tiny_vlm, session, embed, parity, ParityConfig(atol=1e-4, decode_steps=3)
        )
    assert report.removed_blocks == (2,)
    assert report.prefill_max_abs_diff < 1e-4
    assert report.decode_max_abs_diff < 1e-4
    assert report.identical == report.n == 6
    assert report.passed and report.problem() == ""


def test_runtime_greedy_answers_equal_pytorch_with_left_padding(tiny_vlm, shared):
    _, embed, parity, _ = shared
    with tiny_vlm.adapter.removed(tiny_vlm.model, [0, 3]):
        session = session_from_proto(graphs.export_decoder(tiny_vlm))
        for batch in parity.batches:
            assert batch.mask.min() == 0 or len(batch.mask) == 1  # rows of different lengths
            positions = positions_from_mask(batch.mask)
            ours = greedy_decode(
                session, embed, batch.onnx_embeds, batch.mask, positions, tiny_vlm.eos_id, 6
            )
            theirs = greedy_generate(tiny_vlm, batch.torch_embeds, torch.from_numpy(batch.mask), 6)
            assert ours.tokens == theirs
            assert ours.steps <= 6 and ours.prefill_s > 0


def test_parity_report_names_the_failure_and_the_numbers(tiny_vlm, shared):
    _, embed, parity, _ = shared
    with tiny_vlm.adapter.removed(tiny_vlm.model, [1]):
        session = session_from_proto(graphs.export_decoder(tiny_vlm))
        report = check_decoder(tiny_vlm, session, embed, parity, ParityConfig(atol=0.0))
    assert not report.passed
    assert "max |Δlogit|" in report.problem() and "> 0e+00" in report.problem()


def test_compact_value_names_keeps_io_and_results(tiny_vlm, shared):
    _, embed, parity, _ = shared
    model = graphs.export_decoder(tiny_vlm)
    before = session_from_proto(model)
    compact = graphs.compact_value_names(onnx.ModelProto.FromString(model.SerializeToString()))
    assert [i.name for i in compact.graph.input] == [i.name for i in model.graph.input]
    assert len(compact.SerializeToString()) < 0.8 * len(model.SerializeToString())
    after = session_from_proto(compact)
    batch = parity.batches[0]
    feed = {
        "inputs_embeds": batch.onnx_embeds,
        "attention_mask": batch.mask,
        "position_ids": np.clip(np.cumsum(batch.mask, -1) - 1, 0, None),
    }
    feed.update(
        {i.name: np.zeros((len(batch.mask), 1, 0, 16), np.float32) for i in before.get_inputs()[3:]}
    )
    np.testing.assert_array_equal(before.run(None, feed)[0], after.run(None, feed)[0])


@pytest.mark.parametrize(
    ("divergences", "passed"),
    [
        ((), True),
        ((Divergence("a#1", 3, 2e-7),), True),  # one near-tie in 200: rounding, allowed
        ((Divergence("a#1", 3, 0.2),), False),  # a clear decision went the other way
        (tuple(Divergence(f"a#{i}", 0, 1e-7) for i in range(3)), False),  # 1.5% > 1%
    ],
)
def test_greedy_criterion_allows_rare_near_ties_only(divergences, passed):
    report = ParityReport(
        (1,), 1e-6, 1e-6, ParityConfig(), 200, 200 - len(divergences), divergences
    )
    assert report.passed is passed
    assert (report.problem() == "") is passed


def test_divergence_margin_is_measured_where_the_answers_part(tiny_vlm, shared):
    _, _, parity, _ = shared
    batch = parity.batches[0]
    with torch.no_grad():
        theirs = greedy_generate(
            tiny_vlm, batch.torch_embeds[:1], torch.from_numpy(batch.mask[:1]), 3
        )[0]
    fake = [*theirs[:1], (theirs[1] + 1) % 200, 0]  # differs at token 1
    found = _divergence(tiny_vlm, batch, 0, fake, theirs, "x#0")
    assert found.step == 1 and found.margin >= 0
