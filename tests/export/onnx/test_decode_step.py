"""The decode step on fixed buffers (runtime/decode_step.py) on CPU, where the same IO-binding
code path as on CUDA runs with device "cpu"; and the provider checks around fp16 and CUDA
graphs (runtime/sessions.py)."""

import copy

import numpy as np
import onnxruntime as ort
import pytest
import torch
from test_fused_decoder import (
    _embed_session,
    _greedy_recompute,
    _left_padded,
    _tiny_llama,
)

from vlmprune.export.onnx.fused_decoder import add_next_tokens, build_fused_decoder
from vlmprune.export.onnx.half import to_fp16
from vlmprune.runtime.decode_step import next_tokens
from vlmprune.runtime.decoders import stepper
from vlmprune.runtime.generation import greedy_decode
from vlmprune.runtime.kv_buffer import SharedKvBuffer, cuda_graph_enabled, graph_io, kv_device


def _graph(model, next_tokens: bool = True, fp16: bool = False):
    graph, layout = build_fused_decoder(model.model, model.lm_head, model.config, 64)
    if next_tokens:
        add_next_tokens(graph)
    return (to_fp16(graph) if fp16 else graph), layout


def _open(graph) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(
        graph.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _prompts(seed: int, lengths=(5, 9, 2)):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(3, 97, (1, n), generator=gen) for n in lengths]


@pytest.mark.parametrize("extra_width", [0, 3])
def test_next_tokens_path_gives_the_tokens_of_the_logits_path_and_of_torch(extra_width):
    model = _tiny_llama()
    prompts = _prompts(3)
    embeds, mask, positions = _left_padded(model, prompts, 9 + extra_width)
    embed = _embed_session(model)
    host = _open(_graph(model, next_tokens=False)[0])
    device = _open(_graph(model)[0])
    assert not graph_io(host).has_next_tokens and graph_io(device).has_next_tokens
    a = greedy_decode(host, embed, embeds, mask, positions, [1000], 7).tokens
    b = greedy_decode(device, embed, embeds, mask, positions, [1000], 7).tokens
    assert a == b == [_greedy_recompute(model, p, 7) for p in prompts]


def test_fp16_graph_runs_the_same_path_on_cpu_and_agrees_with_its_logits():
    """fp16 KV buffer (read from the graph's past input type), fp32 inputs_embeds, ArgMax
    ids equal to the host argmax of the same graph's fp16 logits."""
    model = _tiny_llama()
    graph, _ = _graph(model, fp16=True)
    session = _open(graph)
    io = graph_io(session)
    assert io.cache_dtype is np.float16 and io.embeds_dtype is np.float32
    assert io.logits_dtype is np.float16 and kv_device(session, io.cache_dtype) == "cpu"
    prompts = _prompts(5)
    embeds, mask, positions = _left_padded(model, prompts, 9)
    embed = _embed_session(model)
    tokens = greedy_decode(session, embed, embeds, mask, positions, [1000], 6).tokens
    host = greedy_decode(
        _open(_graph(model, next_tokens=False, fp16=True)[0]),
        embed,
        embeds,
        mask,
        positions,
        [1000],
        6,
    ).tokens
    assert tokens == host
    reference = [_greedy_recompute(model, p, 6) for p in prompts]
    agree = sum(
        a == b
        for row, ref in zip(tokens, reference, strict=True)
        for a, b in zip(row, ref, strict=False)
    )
    assert agree >= 0.8 * sum(map(len, reference))  # fp16 rounding may flip a near-tie


def test_decode_step_logits_equal_the_logits_path_with_a_fixed_total_length():
    """total_sequence_length bound once at the buffer's length (what a CUDA graph needs)
    changes no logit against passing the true total each step."""
    model = _tiny_llama()
    session = _open(_graph(model)[0])
    embed = _embed_session(model)
    prompts = _prompts(7, (6, 3))
    lengths = np.array([p.shape[1] for p in prompts])
    padded = torch.zeros(2, lengths.max(), dtype=torch.int64)
    for row, p in enumerate(prompts):
        padded[row, : p.shape[1]] = p[0]
    x = model.model.embed_tokens(padded).detach().numpy()
    steps = []
    for fixed in (False, True):
        buffer = SharedKvBuffer(session, 3, 2, 2, 32, 16)
        logits = buffer.run(x, lengths - 1)
        ids = logits[np.arange(2), lengths - 1].argmax(-1)
        seq, rows = lengths.copy(), []
        for _ in range(5):
            if fixed:
                ids = next_tokens(buffer, ids, seq, embed)
                rows.append(buffer.step.logits.numpy()[:, 0].copy())  # a view on CPU
            else:
                step = embed.run(None, {"input_ids": ids[:, None]})[0]
                rows.append(buffer.run(step, seq)[:, 0])
                ids = rows[-1].argmax(-1)
            seq = seq + 1
        steps.append(np.stack(rows))
        assert buffer.step is None or buffer.step.total.numpy() == 32
    np.testing.assert_array_equal(steps[0], steps[1])


def test_an_embed_graph_of_another_dtype_is_cast_on_the_host():
    """A decoder whose inputs_embeds are fp16 next to an fp32 embed_tokens: each step's
    (B, 1, H) embeddings are cast and copied into the fixed buffer."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = _tiny_llama()
    graph, _ = _graph(model)
    all_fp16 = convert_float_to_float16(copy.deepcopy(graph), disable_shape_infer=True)
    session = _open(all_fp16)
    assert graph_io(session).embeds_dtype is np.float16
    embed = _embed_session(model)
    prompts = _prompts(9, (4, 7))
    embeds, mask, positions = _left_padded(model, prompts, 7)
    with stepper(session, 2, 7 + 4, embed) as steps:
        first = steps.first_tokens(embeds, mask, positions)
        second = steps.next_tokens(first)
        assert steps.buffer.step.embed_binding is None
    assert first.dtype == np.int64 and second.shape == (2,)


def test_cpu_sessions_have_no_cuda_graph_and_no_graph_run_options():
    model = _tiny_llama()
    session = _open(_graph(model)[0])
    buffer = SharedKvBuffer(session, 3, 1, 2, 16, 16)
    assert not cuda_graph_enabled(session) and buffer.eager_options() is None
    assert buffer.kv_device == buffer.io_device == "cpu"


@pytest.fixture(scope="module")
def exports(tmp_path_factory, tiny_model_dir):
    """fp32 and fp16 exports of one variant of the tiny model: dtype -> manifest."""
    from export_helpers import FAST, run_cli, write_scores

    root = tmp_path_factory.mktemp("dtypes")
    write_scores(root / "scores", tiny_model_dir)
    args = ["export", "--model", tiny_model_dir, "--scores-dir", root / "scores", *FAST]
    manifests = {}
    for dtype in ("fp32", "fp16"):
        result = run_cli(*args, "--blocks", "1", "--dtype", dtype, "--out", root / dtype)
        assert result.exit_code == 0, result.output
        manifests[dtype] = root / dtype / "manifest.json"
    return manifests


def _image():
    from PIL import Image

    return Image.new("RGB", (40, 40), (200, 30, 30))


CUDA_FIRST = ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_cuda_graph_without_the_cuda_provider_is_refused_at_configuration():
    from vlmprune.runtime.sessions import SessionConfig

    with pytest.raises(ValueError, match="cuda_graph=True needs CUDAExecutionProvider"):
        SessionConfig(cuda_graph=True)


def test_cuda_graph_on_an_fp32_variant_names_the_variant_and_the_fix(exports):
    from vlmprune.runtime.api import Runtime
    from vlmprune.runtime.errors import ProviderError

    runtime = Runtime.from_manifest(exports["fp32"], providers=CUDA_FIRST, cuda_graph=True)
    with pytest.raises(ProviderError, match=r"^blocks_1: cuda_graph=True needs an fp16 gqa"):
        runtime.generate(_image(), "What color is it?")


def test_cuda_graph_where_the_session_ends_on_cpu_is_one_error_not_a_fallback(exports):
    """A CPU-only onnxruntime: the CUDA provider is silently dropped; a CUDA-graph runtime
    refuses rather than run on CPU."""
    from vlmprune.runtime.api import Runtime
    from vlmprune.runtime.errors import ProviderError, ProviderWarning

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("a CUDA onnxruntime: the session would run on CUDA")
    runtime = Runtime.from_manifest(exports["fp16"], providers=CUDA_FIRST, cuda_graph=True)
    with (
        pytest.warns(ProviderWarning),
        pytest.raises(ProviderError, match="cuda_graph=True but the decoder runs on CPUExec"),
    ):
        runtime.generate(_image(), "What color is it?")


def test_an_fp16_variant_the_cpu_provider_cannot_run_is_one_error(exports, monkeypatch):
    """onnxruntime builds without fp16 CPU kernels refuse the graph at load: the error names
    the variant, the provider and the way out (1.32 runs it: simulated)."""
    from vlmprune.runtime import sessions
    from vlmprune.runtime.api import Runtime
    from vlmprune.runtime.errors import ProviderError

    real = sessions.ort.InferenceSession

    def refuse(path, *args, **kwargs):
        if "decoder_" in str(path):
            raise RuntimeError(
                "[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation "
                "for GroupQueryAttention(1) node with name 'GroupQueryAttention_2'"
            )
        return real(path, *args, **kwargs)

    monkeypatch.setattr(sessions.ort, "InferenceSession", refuse)
    runtime = Runtime.from_manifest(exports["fp16"])
    with pytest.raises(
        ProviderError,
        match=r"^blocks_1: an fp16 variant; onnxruntime .*CPUExecutionProvider cannot run it "
        r"\(.*GroupQueryAttention.*\): run it with CUDAExecutionProvider",
    ):
        runtime.generate(_image(), "What color is it?")


def test_fp16_and_fp32_exports_answer_on_cpu_with_the_same_code_path(exports):
    from vlmprune.runtime.api import Runtime

    answers = {}
    for dtype, manifest in exports.items():
        runtime = Runtime.from_manifest(manifest)
        assert runtime.manifest.variants[0].dtype.value == dtype
        answers[dtype] = runtime.generate(_image(), "What color is it?").tokens
    assert answers["fp32"] and answers["fp16"]


def test_profile_cuda_graph_without_cuda_is_one_line(exports):
    from cli_helpers import one_error_line
    from export_helpers import run_cli

    result = run_cli("profile", "--manifest", exports["fp16"], "--cuda-graph")
    one_error_line(result, "--cuda-graph needs --provider cuda")
