"""The gqa decoder of M-RoPE models (Qwen2-VL, Qwen2.5-VL): onnxruntime's MRotaryEmbedding
against transformers' rotary, and the whole graph against transformers' decoder on prompts
with an image, batched with different lengths, through the runtime's stepper."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from vlmprune.export.onnx.fused_decoder import (
    MS_DOMAIN,
    FusedDecoderError,
    check_fusable,
    fused_input_names,
    mrope_section,
)
from vlmprune.runtime.decoders import DecoderLayout, stepper

KINDS = ["qwen2_5_vl", "qwen2_vl"]
# Fused kernels (RMSNorm, GQA softmax, packed MatMuls) round differently from torch's ops:
# measured ~2e-6 here. Tight, because this tiny model's logits are small: text-row positions
# on the image tokens instead of (t, h, w) move them by only ~8e-4.
ATOL = 5e-5
DECODE_STEPS = 4


def _session(model) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _mrotary_graph(heads: int, head_dim: int, section: list[int], cos, sin):
    node = helper.make_node(
        "MRotaryEmbedding",
        ["x", "position_ids", "cos", "sin"],
        ["y"],
        domain=MS_DOMAIN,
        interleaved=0,
        num_heads=heads,
        rotary_embedding_dim=head_dim,
        mrope_section=section,
        mrope_layout=0,
    )
    graph = helper.make_graph(
        [node],
        "mrotary",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", heads * head_dim]),
            helper.make_tensor_value_info("position_ids", TensorProto.INT64, [3, "b", "s"]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "s", heads * head_dim])],
        [numpy_helper.from_array(cos, "cos"), numpy_helper.from_array(sin, "sin")],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS_DOMAIN, 1)]
    )
    model.ir_version = 8
    return model


def test_mrotary_embedding_takes_transformers_sections_as_they_are(qwen_vlm):
    """The contrib op's mrope_section is in rotary pairs (sums to head_dim / 2), as
    transformers' config: the op equals q * cos + rotate_half(q) * sin with transformers'
    sectioned cos/sin, on positions whose three rows all differ."""
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import apply_rotary_pos_emb

    from vlmprune.export.onnx.fused_decoder import rotary_caches

    vlm = qwen_vlm("qwen2_5_vl")
    decoder, config = vlm.adapter.decoder(vlm.model), vlm.adapter.text_config(vlm.model)
    heads, head_dim, section = config.num_attention_heads, 16, list(mrope_section(config))
    assert 2 * sum(section) == head_dim
    cos, sin = rotary_caches(decoder, 64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, heads * head_dim)).astype(np.float32)
    positions = rng.integers(0, 64, (3, 2, 5))
    ours = _session(_mrotary_graph(heads, head_dim, section, cos, sin)).run(
        None, {"x": x, "position_ids": positions}
    )[0]
    probe = torch.zeros(1)
    with torch.no_grad():
        c, s = decoder.rotary_emb(probe, torch.from_numpy(positions))  # (B, S, head_dim)
        q = torch.from_numpy(x).view(2, 5, heads, head_dim).transpose(1, 2)
        ref, _ = apply_rotary_pos_emb(q, q, c, s)
    np.testing.assert_allclose(ours, ref.transpose(1, 2).reshape(2, 5, -1).numpy(), atol=1e-5)


def _prompts(vlm, sizes=((112, 168), (56, 84))):
    """Left-padded prompts of different lengths, one image each: ids, mask, positions."""
    from vlmprune.runtime.generation import left_pad

    rng = np.random.default_rng(1)
    images = [
        vlm.arch.preprocess(Image.fromarray(rng.integers(0, 256, (*s, 3), dtype=np.uint8)))
        for s in sizes
    ]
    prompts = ["What is in the picture?", "Colour?"]
    rows = [
        vlm.arch.prompt_ids(vlm.tokenizer, p, im) for p, im in zip(prompts, images, strict=True)
    ]
    ids, mask = left_pad(rows, vlm.pad_id)
    return ids, mask, vlm.arch.position_ids(ids, mask, images), images


@torch.no_grad()
def _reference(vlm, embeds: torch.Tensor, positions: torch.Tensor) -> np.ndarray:
    """transformers' logits (T, V) of one unpadded row, recomputed from scratch."""
    out = vlm.adapter.decoder(vlm.model)(inputs_embeds=embeds[None], position_ids=positions)
    return vlm.adapter.lm_head(vlm.model)(out.last_hidden_state)[0].numpy()


@pytest.mark.parametrize("kind", KINDS)
def test_gqa_graph_matches_transformers_on_image_prompts_and_decode_steps(qwen_vlm, kind):
    from vlmprune.export.onnx.graphs import choose_layout, export_decoder

    vlm = qwen_vlm(kind)
    assert choose_layout(vlm) is DecoderLayout.GQA
    graph = export_decoder(vlm, DecoderLayout.GQA)
    session = _session(graph)
    layers = len(vlm.adapter.layers(vlm.model))
    assert [i.name for i in session.get_inputs()] == fused_input_names(layers, m_rope=True)
    ids, mask, positions, images = _prompts(vlm)
    image_rows = positions[:, ids == vlm.arch.image_token_id]
    assert (image_rows[1] != image_rows[0]).any() and (image_rows[2] != image_rows[1]).any()
    with torch.no_grad():
        embeds = vlm.adapter.input_embeddings(vlm.model, torch.from_numpy(ids), images)
    table = vlm.model.get_input_embeddings()
    real = mask.astype(bool)
    rows = [embeds[b][real[b]] for b in range(2)]  # each row without its padding
    row_pos = [torch.from_numpy(positions[:, b : b + 1, real[b]]) for b in range(2)]
    with stepper(session, 2, ids.shape[1] + DECODE_STEPS + 1) as steps:
        logits = steps.prefill(embeds.numpy(), mask, positions)
        for b in range(2):
            np.testing.assert_allclose(
                logits[b, real[b]], _reference(vlm, rows[b], row_pos[b]), atol=ATOL
            )
        for _ in range(DECODE_STEPS):
            next_ids = torch.from_numpy(logits[:, -1].argmax(-1))
            step_embeds = table(next_ids)[:, None].detach()
            logits = steps.step(step_embeds.numpy())
            for b in range(2):
                rows[b] = torch.cat([rows[b], step_embeds[b]])
                row_pos[b] = torch.cat([row_pos[b], row_pos[b][..., -1:] + 1], dim=-1)
                ref = _reference(vlm, rows[b], row_pos[b])[-1]
                np.testing.assert_allclose(logits[b, -1], ref, atol=ATOL)


def test_gqa_decoder_refuses_positions_of_the_wrong_shape(qwen_vlm):
    from vlmprune.export.onnx.graphs import export_decoder

    vlm = qwen_vlm("qwen2_5_vl")
    session = _session(export_decoder(vlm, DecoderLayout.GQA))
    ids, mask, positions, images = _prompts(vlm)
    embeds = np.zeros((*ids.shape, vlm.adapter.text_config(vlm.model).hidden_size), np.float32)
    with stepper(session, 2, ids.shape[1] + 1) as steps:
        with pytest.raises(ValueError, match=r"takes \(3, B, T\) positions"):
            steps.prefill(embeds, mask, positions[0])


def test_mrope_sections_that_do_not_cover_head_dim_are_refused(qwen_vlm):
    vlm = qwen_vlm("qwen2_vl")
    config = vlm.adapter.text_config(vlm.model)
    original = dict(config.rope_parameters)
    try:
        config.rope_parameters["mrope_section"] = [2, 3, 2]
        with pytest.raises(FusedDecoderError, match=r"mrope_section=\[2, 3, 2\]: needs 3"):
            check_fusable(config, vlm.adapter.decoder(vlm.model))
    finally:
        config.rope_parameters.clear()
        config.rope_parameters.update(original)
