"""The fused decoder graph against the torch model it was written from."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from vlmprune.export.onnx.fused_decoder import (
    FusedDecoderError,
    build_fused_decoder,
    fused_input_names,
    fused_output_names,
)

# Fused kernels (RMSNorm, GQA softmax, packed MatMuls) round differently from torch's ops.
ATOL = 2e-4


def _tiny_llama(layers: int = 3) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        rope_theta=10000.0,
    )
    return LlamaForCausalLM(config).eval()


def _session(model: LlamaForCausalLM, drop: list[int] | None = None):
    if drop:
        keep = [layer for i, layer in enumerate(model.model.layers) if i not in drop]
        model.model.layers = torch.nn.ModuleList(keep)
    graph, layout = build_fused_decoder(model.model, model.lm_head, model.config, 64)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        graph.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session, layout


def _empty_past(layout, batch: int) -> dict[str, np.ndarray]:
    shape = (batch, layout.num_kv_heads, 0, layout.head_dim)
    return {name: np.zeros(shape, np.float32) for name in fused_input_names(layout.num_layers)[3:]}


@pytest.mark.parametrize("drop", [None, [1]])
def test_right_padded_prefill_and_decode_match_torch(drop) -> None:
    model = _tiny_llama()
    session, layout = _session(model, drop)
    assert [i.name for i in session.get_inputs()] == fused_input_names(layout.num_layers)
    assert [o.name for o in session.get_outputs()] == fused_output_names(layout.num_layers)

    gen = torch.Generator().manual_seed(1)
    lengths = [7, 4]  # row 1 is right-padded
    ids = torch.randint(0, 97, (2, 7), generator=gen)
    embeds = model.model.embed_tokens(ids).detach()
    feeds = {
        "inputs_embeds": embeds.numpy(),
        "seqlens_k": np.array([n - 1 for n in lengths], np.int32),
        "total_sequence_length": np.array(7, np.int32),
        **_empty_past(layout, 2),
    }
    outputs = session.run(None, feeds)
    with torch.no_grad():
        for row, n in enumerate(lengths):
            ref = model(input_ids=ids[row : row + 1, :n]).logits[0].numpy()
            np.testing.assert_allclose(outputs[0][row, :n], ref, atol=ATOL)
            assert (outputs[0][row, :n].argmax(-1) == ref.argmax(-1)).all()

    # one decode step for row 0 with the present cache fed back as past
    present = dict(zip(fused_output_names(layout.num_layers)[1:], outputs[1:], strict=True))
    next_id = torch.tensor([[5]])
    step = {
        "inputs_embeds": model.model.embed_tokens(next_id).detach().numpy(),
        "seqlens_k": np.array([7], np.int32),
        "total_sequence_length": np.array(8, np.int32),
    }
    for i in range(layout.num_layers):
        for kind in ("key", "value"):
            step[f"past_key_values.{i}.{kind}"] = present[f"present.{i}.{kind}"][:1]
    logits = session.run(["logits"], step)[0]
    with torch.no_grad():
        ref = model(input_ids=torch.cat([ids[:1], next_id], dim=1)).logits[0, -1].numpy()
    np.testing.assert_allclose(logits[0, -1], ref, atol=ATOL)


def test_graph_is_a_few_fused_nodes_per_block() -> None:
    model = _tiny_llama()
    graph, _ = build_fused_decoder(model.model, model.lm_head, model.config, 64)
    ops = [n.op_type for n in graph.graph.node]
    assert ops.count("GroupQueryAttention") == 3
    assert ops.count("MatMul") == 3 * 4 + 1  # qkv, o, gate|up, down per block + lm head
    assert ops.count("Concat") == 0
    assert len(ops) <= 3 * 11 + 2


def test_unsupported_activation_is_refused() -> None:
    model = _tiny_llama(layers=1)
    model.config.hidden_act = "gelu"
    with pytest.raises(FusedDecoderError, match="hidden_act"):
        build_fused_decoder(model.model, model.lm_head, model.config, 64)


def _greedy_torch(model: LlamaForCausalLM, ids: torch.Tensor, steps: int) -> list[int]:
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=steps, do_sample=False, min_new_tokens=steps)
    return out[0, ids.shape[1] :].tolist()


def test_shared_kv_buffer_greedy_matches_torch_batched_and_reused() -> None:
    from vlmprune.runtime.errors import InputError
    from vlmprune.runtime.kv_buffer import SharedKvBuffer

    model = _tiny_llama()
    session, layout = _session(model)
    gen = torch.Generator().manual_seed(2)
    prompts = [torch.randint(0, 97, (1, n), generator=gen) for n in (6, 3)]
    steps = 6
    expected = [_greedy_torch(model, p, steps) for p in prompts]
    embed = model.model.embed_tokens
    buffer = SharedKvBuffer(session, layout.num_layers, 2, layout.num_kv_heads, 32, layout.head_dim)
    for _request in range(2):  # the second request reuses the buffer left by the first
        lengths = np.array([p.shape[1] for p in prompts])
        padded = torch.zeros(2, lengths.max(), dtype=torch.int64)
        for row, p in enumerate(prompts):
            padded[row, : p.shape[1]] = p[0]  # right padding
        logits = buffer.run(embed(padded).detach().numpy(), lengths - 1)
        tokens = logits[np.arange(2), lengths - 1].argmax(-1)
        answers = [[int(t)] for t in tokens]
        for _ in range(steps - 1):
            lengths = lengths + 1
            step = embed(torch.tensor(tokens)[:, None]).detach().numpy()
            tokens = buffer.run(step, lengths - 1)[:, -1].argmax(-1)
            for row in range(2):
                answers[row].append(int(tokens[row]))
        assert answers == expected
    with pytest.raises(InputError, match="exceeds the KV buffer of 32"):
        buffer.run(embed(padded).detach().numpy(), np.array([40, 3]))


def _greedy_recompute(model: LlamaForCausalLM, ids: torch.Tensor, steps: int) -> list[int]:
    """Greedy by full recomputation, no stop token (generate() masks EOS under min_new_tokens)."""
    out = []
    with torch.no_grad():
        for _ in range(steps):
            out.append(int(model(input_ids=ids).logits[0, -1].argmax()))
            ids = torch.cat([ids, torch.tensor([[out[-1]]])], dim=1)
    return out


def _embed_session(model: LlamaForCausalLM) -> ort.InferenceSession:
    """An embed_tokens graph (input_ids -> inputs_embeds) holding the model's table."""
    from onnx import TensorProto, helper, numpy_helper

    table = numpy_helper.from_array(model.model.embed_tokens.weight.detach().numpy(), "table")
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["inputs_embeds"])],
        "embed",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"])],
        [helper.make_tensor_value_info("inputs_embeds", TensorProto.FLOAT, ["b", "s", 64])],
        [table],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _left_padded(model: LlamaForCausalLM, prompts: list[torch.Tensor], width: int):
    from vlmprune.runtime.generation import left_pad, positions_from_mask

    ids, mask = left_pad([p[0].tolist() for p in prompts], 0)
    if width > ids.shape[1]:  # extra padding columns, as a row subset of a wider batch has
        extra = width - ids.shape[1]
        ids = np.pad(ids, ((0, 0), (extra, 0)))
        mask = np.pad(mask, ((0, 0), (extra, 0)))
    embeds = model.model.embed_tokens(torch.from_numpy(ids)).detach().numpy()
    return embeds, mask, positions_from_mask(mask)


@pytest.mark.parametrize("extra_width", [0, 3])
def test_greedy_decode_takes_left_padded_batches_on_the_gqa_layout(extra_width) -> None:
    """The runtime loop hands the gqa graph left-padded rows (moved right inside decoders.py):
    every row's tokens equal transformers' greedy generate of that row alone."""
    from vlmprune.runtime.decoders import DecoderLayout, decoder_layout
    from vlmprune.runtime.generation import greedy_decode

    model = _tiny_llama()
    session, _ = _session(model)
    assert decoder_layout(session) is DecoderLayout.GQA
    gen = torch.Generator().manual_seed(3)
    prompts = [torch.randint(3, 97, (1, n), generator=gen) for n in (5, 9, 2)]
    embeds, mask, positions = _left_padded(model, prompts, 9 + extra_width)
    out = greedy_decode(session, _embed_session(model), embeds, mask, positions, [1000], 7)
    assert out.tokens == [_greedy_recompute(model, p, 7) for p in prompts]


def test_concurrent_requests_on_one_gqa_session_get_their_own_buffers() -> None:
    """Threads running one session at once never share a KV buffer (decoders.py's pool)."""
    from concurrent.futures import ThreadPoolExecutor

    from vlmprune.runtime.generation import greedy_decode

    model = _tiny_llama()
    session, _ = _session(model)
    embed = _embed_session(model)
    gen = torch.Generator().manual_seed(4)
    requests = [[torch.randint(3, 97, (1, int(n)), generator=gen)] for n in range(2, 14)]
    inputs = [_left_padded(model, r, r[0].shape[1]) for r in requests]

    def answer(i: int) -> list[list[int]]:
        embeds, mask, positions = inputs[i]
        return greedy_decode(session, embed, embeds, mask, positions, [1000], 6).tokens

    alone = [answer(i) for i in range(len(inputs))]
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(answer, list(range(len(inputs))) * 3))
    assert together == alone * 3


def test_layouts_the_fused_graph_cannot_run_are_refused_with_the_reason() -> None:
    from vlmprune.export.onnx.fused_decoder import check_fusable

    model = _tiny_llama(layers=1)
    check_fusable(model.config, model.model)  # head_dim 16: fine
    model.config.head_dim = 8
    with pytest.raises(FusedDecoderError, match="head_dim 8 is not a multiple of 16"):
        check_fusable(model.config, model.model)
    model.config.model_type = "gemma3_text"
    with pytest.raises(FusedDecoderError, match="'gemma3_text' is not one"):
        check_fusable(model.config, model.model)
