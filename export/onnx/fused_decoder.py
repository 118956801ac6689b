"""A Llama-family text decoder written directly as an ONNX graph of onnxruntime's fused ops.

The traced decoder (graphs.py) leaves ~1,600 nodes after onnxruntime's optimisation, most of
them shape bookkeeping, and grows its KV cache by Concat. This graph is what onnxruntime-genai's
model builder writes for the same weights, ~11 nodes per block:

    SkipSimplifiedLayerNormalization (residual add + RMSNorm in one kernel)
    MatMul with packed q|k|v weights
    com.microsoft GroupQueryAttention (rotary inside: do_rotary=1 with cos/sin caches)
    MatMul o_proj, MatMul with packed gate|up weights, Split, SiLU, Mul, MatMul down_proj

M-RoPE decoders (Qwen2-VL, Qwen2.5-VL: the text config's `mrope_section`) rotate by three
rows of positions (t, h, w), which GroupQueryAttention's rotary cannot take. As
onnxruntime-genai 0.18 builds Qwen2.5-VL: the packed q|k|v MatMul is Split, q and k go through
com.microsoft MRotaryEmbedding (sectioned layout, the same cos/sin caches) and
GroupQueryAttention runs with do_rotary=0 (~14 nodes per block).

I/O (names follow onnxruntime-genai; docs/contracts.md):

    inputs_embeds (B, S, H) float32
    seqlens_k (B,) int32: valid length - 1 per row (padding must be on the RIGHT: GQA on CPU
        reads the last valid position from it and is silently wrong with left padding)
    total_sequence_length () int32: past length + S
    position_ids (3, B, S) int64: M-RoPE decoders only, right-padded like the embeddings
    past_key_values.{i}.key/value (B, kv_heads, P, head_dim)
    -> logits (B, S, V), present.{i}.key/value
       next_tokens (B, S) int64: ArgMax of the logits (`add_next_tokens`, on every exported
       graph): a decode step hands back B ids instead of B x V logits

Positions come from seqlens_k inside GQA (from position_ids for M-RoPE), so the context is
limited by the cos/sin cache: `max_positions` rows, recorded so the runtime can refuse longer
prompts (M-RoPE ids never exceed a token's index, so the same limit holds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn
from transformers import PretrainedConfig

from .io_names import (  # noqa: F401  (re-exported)
    NEXT_TOKENS,
    decoder_output_names,
    fused_input_names,
)

# GroupQueryAttention and SkipSimplifiedLayerNormalization live in onnxruntime's contrib domain;
# SimplifiedLayerNormalization is registered by onnxruntime under the default domain.
MS_DOMAIN = "com.microsoft"
OPSET = 17
IR_VERSION = 8


class FusedDecoderError(ValueError):
    """The decoder's config has something this graph does not implement."""


@dataclass(frozen=True)
class FusedLayout:
    num_layers: int
    hidden_size: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    max_positions: int
    mrope_section: tuple[int, ...] = ()  # M-RoPE rotary pairs per position row; () = RoPE


fused_output_names = decoder_output_names  # same outputs as the traced graph


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float32).cpu().numpy()


# Text decoders whose blocks are exactly what this graph computes: pre-norm RMSNorm, q/k/v/o
# (biases allowed), one RoPE (or M-RoPE) over all heads, SiLU-gated MLP, full causal attention.
FUSABLE_MODEL_TYPES = ("llama", "qwen2", "qwen2_vl_text", "qwen2_5_vl_text")
MROPE_ROWS = 3  # (t, h, w)


def mrope_section(config: PretrainedConfig) -> tuple[int, ...]:
    """The M-RoPE sections of a text config (() without M-RoPE), in rotary pairs per row
    (they sum to head_dim / 2): transformers 5 keeps them in `rope_parameters`, configs
    written by 4.x in `rope_scaling`. MRotaryEmbedding takes the same unit (genai passes
    the config's list as it is; tests/export/onnx/test_fused_mrope.py checks the op)."""
    for key in ("rope_parameters", "rope_scaling"):
        section = (getattr(config, key, None) or {}).get("mrope_section")
        if section:
            return tuple(int(n) for n in section)
    return ()


def _head_dim(config: PretrainedConfig) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def check_fusable(config: PretrainedConfig, decoder: nn.Module) -> None:
    """FusedDecoderError naming what this graph does not implement for `decoder`."""
    model_type = getattr(config, "model_type", "")
    if model_type not in FUSABLE_MODEL_TYPES:
        raise FusedDecoderError(
            f"text model type '{model_type}' is not one the fused graph implements "
            f"({', '.join(FUSABLE_MODEL_TYPES)})"
        )
    if getattr(config, "use_sliding_window", False):
        raise FusedDecoderError(
            "text config use_sliding_window=true: the fused graph is causal only"
        )
    _check_supported(config)
    head_dim = _head_dim(config)
    if head_dim % 16:  # onnxruntime's GroupQueryAttention refuses other sizes at run time
        raise FusedDecoderError(
            f"head_dim {head_dim} is not a multiple of 16 (GroupQueryAttention)"
        )
    for i, layer in enumerate(decoder.layers):
        attn = layer.self_attn
        if hasattr(attn, "q_norm") or hasattr(attn, "k_norm"):
            raise FusedDecoderError(f"block {i} normalises q/k: the fused graph does not")


def _check_supported(config: PretrainedConfig) -> None:
    act = getattr(config, "hidden_act", "silu")
    if act != "silu":
        raise FusedDecoderError(f"text config hidden_act={act!r}: the fused graph implements silu")
    if getattr(config, "mlp_bias", False):
        raise FusedDecoderError("text config mlp_bias=true: the fused graph has no MLP biases")
    partial = getattr(config, "partial_rotary_factor", 1.0)
    if partial != 1.0:
        raise FusedDecoderError(f"text config partial_rotary_factor={partial}: needs 1.0")
    section = mrope_section(config)
    if section and (len(section) != MROPE_ROWS or 2 * sum(section) != _head_dim(config)):
        raise FusedDecoderError(
            f"text config mrope_section={list(section)}: needs {MROPE_ROWS} sections summing "
            f"to head_dim / 2 = {_head_dim(config) // 2}"
        )


def rotary_caches(
    decoder: nn.Module, max_positions: int, rows: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """cos/sin caches (max_positions, head_dim / 2) from the model's own rotary module, so rope
    scaling (llama3, linear, dynamic at its base length) is exactly what transformers computes.
    An M-RoPE module (`rows` = 3) gets three equal rows of positions: its sections then all
    read the same table, the one MRotaryEmbedding indexes per row."""
    rotary = decoder.rotary_emb
    positions = torch.arange(max_positions, dtype=torch.int64)[None]
    if rows > 1:  # transformers before 5.23 indexes M-RoPE positions as (3, B, P) itself
        positions = positions[None].expand(rows, 1, max_positions)
    probe = torch.zeros(1, dtype=torch.float32)
    with torch.no_grad():
        cos, sin = rotary(probe, positions)  # (..., max_pos, head_dim), halves duplicated
    half = cos.shape[-1] // 2
    # (1, P, D), or (3, 1, P, D) of equal rows where the module leaves the sections to
    # the attention: the first row's table either way.
    cos, sin = (x.reshape(-1, max_positions, x.shape[-1])[0] for x in (cos, sin))
    return _np(cos[:, :half]).copy(), _np(sin[:, :half]).copy()


def build_fused_decoder(
    decoder: nn.Module, lm_head: nn.Module, config: PretrainedConfig, max_positions: int
) -> tuple[onnx.ModelProto, FusedLayout]:
    """The graph of `decoder` (a LlamaModel-like module: layers, norm, rotary_emb) + `lm_head`,
    fp32, weights as initializers (weights.py stores them once across variants)."""
    _check_supported(config)
    layers = list(decoder.layers)
    head_dim = _head_dim(config)
    layout = FusedLayout(
        num_layers=len(layers),
        hidden_size=config.hidden_size,
        num_heads=config.num_attention_heads,
        num_kv_heads=config.num_key_value_heads,
        head_dim=head_dim,
        vocab_size=config.vocab_size,
        max_positions=max_positions,
        mrope_section=mrope_section(config),
    )
    eps = float(config.rms_norm_eps)
    nodes: list[onnx.NodeProto] = []
    inits: list[TensorProto] = []

    def init(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], outputs: list[str], domain: str = "", **attrs) -> None:
        nodes.append(
            helper.make_node(
                op, inputs, outputs, name=f"{op}_{len(nodes)}", domain=domain or None, **attrs
            )
        )

    def linear(x: str, module: nn.Linear | list[nn.Linear], name: str) -> str:
        mods = module if isinstance(module, list) else [module]
        weight = np.concatenate([_np(m.weight).T for m in mods], axis=1)  # (in, sum out)
        node("MatMul", [x, init(f"{name}.weight", weight)], [f"{name}/out"])
        out = f"{name}/out"
        if all(m.bias is not None for m in mods):
            bias = np.concatenate([_np(m.bias) for m in mods])
            node("Add", [out, init(f"{name}.bias", bias)], [f"{name}/biased"])
            out = f"{name}/biased"
        elif any(m.bias is not None for m in mods):
            raise FusedDecoderError(f"{name}: some projections have a bias and some do not")
        return out

    cos, sin = rotary_caches(decoder, max_positions, MROPE_ROWS if layout.mrope_section else 1)
    init("cos_cache", cos)
    init("sin_cache", sin)
    scale = float(getattr(layers[0].self_attn, "scaling", head_dim**-0.5)) if layers else 1.0

    hidden, residual = "inputs_embeds", ""
    for i, layer in enumerate(layers):
        p = f"layers.{i}"
        gamma = init(f"{p}.input_layernorm.weight", _np(layer.input_layernorm.weight))
        normed = f"{p}/attn_norm"
        if not residual:
            node(
                "SimplifiedLayerNormalization",
                [hidden, gamma],
                [normed],
                axis=-1,
                epsilon=eps,
                stash_type=1,
            )
            residual = hidden
        else:
            new_residual = f"{p}/attn_residual"
            node(
                "SkipSimplifiedLayerNormalization",
                [hidden, residual, gamma],
                [normed, "", "", new_residual],
                MS_DOMAIN,
                epsilon=eps,
            )
            residual = new_residual
        attn = layer.self_attn
        qkv = linear(normed, [attn.q_proj, attn.k_proj, attn.v_proj], f"{p}.self_attn.qkv_proj")
        cache = [f"past_key_values.{i}.key", f"past_key_values.{i}.value"]
        lengths = ["seqlens_k", "total_sequence_length"]
        present = [f"{p}/attn", f"present.{i}.key", f"present.{i}.value"]
        heads = dict(num_heads=layout.num_heads, kv_num_heads=layout.num_kv_heads, scale=scale)
        if layout.mrope_section:  # rotated outside; GQA only attends
            qkv_in = _mrope_qkv(node, init, qkv, layout, p)
            rotary, caches = {"do_rotary": 0}, []
        else:
            qkv_in = [qkv, "", ""]
            rotary, caches = {"do_rotary": 1, "rotary_interleaved": 0}, ["cos_cache", "sin_cache"]
        attn_in = [*qkv_in, *cache, *lengths, *caches]
        node("GroupQueryAttention", attn_in, present, MS_DOMAIN, **rotary, **heads)
        attn_out = linear(f"{p}/attn", attn.o_proj, f"{p}.self_attn.o_proj")
        gamma = init(
            f"{p}.post_attention_layernorm.weight", _np(layer.post_attention_layernorm.weight)
        )
        mlp_in, mlp_residual = f"{p}/mlp_norm", f"{p}/mlp_residual"
        node(
            "SkipSimplifiedLayerNormalization",
            [attn_out, residual, gamma],
            [mlp_in, "", "", mlp_residual],
            MS_DOMAIN,
            epsilon=eps,
        )
        mlp = layer.mlp
        gate_up = linear(mlp_in, [mlp.gate_proj, mlp.up_proj], f"{p}.mlp.gate_up_proj")
        node("Split", [gate_up], [f"{p}/gate", f"{p}/up"], axis=-1)
        node("Sigmoid", [f"{p}/gate"], [f"{p}/gate_sigmoid"])
        node("Mul", [f"{p}/gate", f"{p}/gate_sigmoid"], [f"{p}/gate_silu"])
        node("Mul", [f"{p}/gate_silu", f"{p}/up"], [f"{p}/gated"])
        hidden = linear(f"{p}/gated", mlp.down_proj, f"{p}.mlp.down_proj")
        residual = mlp_residual

    gamma = init("norm.weight", _np(decoder.norm.weight))
    if residual:
        node(
            "SkipSimplifiedLayerNormalization",
            [hidden, residual, gamma],
            ["final_norm", "", "", "final_residual"],
            MS_DOMAIN,
            epsilon=eps,
        )
    else:  # no blocks kept: the norm of the embeddings themselves
        node(
            "SimplifiedLayerNormalization",
            [hidden, gamma],
            ["final_norm"],
            axis=-1,
            epsilon=eps,
            stash_type=1,
        )
    node("MatMul", ["final_norm", init("lm_head.weight", _np(lm_head.weight).T)], ["logits"])

    kv = ["batch", layout.num_kv_heads, "past_sequence_length", head_dim]
    present = ["batch", layout.num_kv_heads, "total_sequence_length", head_dim]
    f32 = TensorProto.FLOAT
    inputs = [
        helper.make_tensor_value_info(
            "inputs_embeds", f32, ["batch", "sequence", layout.hidden_size]
        ),
        helper.make_tensor_value_info("seqlens_k", TensorProto.INT32, ["batch"]),
        helper.make_tensor_value_info("total_sequence_length", TensorProto.INT32, []),
    ]
    if layout.mrope_section:
        inputs.append(
            helper.make_tensor_value_info(
                "position_ids", TensorProto.INT64, [MROPE_ROWS, "batch", "sequence"]
            )
        )
    outputs = [
        helper.make_tensor_value_info("logits", f32, ["batch", "sequence", layout.vocab_size])
    ]
    for i in range(layout.num_layers):
        for kind in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(f"past_key_values.{i}.{kind}", f32, kv))
            outputs.append(helper.make_tensor_value_info(f"present.{i}.{kind}", f32, present))
    graph = helper.make_graph(nodes, "fused_decoder", inputs, outputs, inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(MS_DOMAIN, 1)],
        producer_name="vlmprune",
    )
    model.ir_version = IR_VERSION
    return model, layout


def _mrope_qkv(
    node: Callable[..., None],
    init: Callable[[str, np.ndarray], str],
    qkv: str,
    layout: FusedLayout,
    p: str,
) -> list[str]:
    """q|k|v (B, S, (N + 2 KV) * head_dim) split, q and k rotated by the three position rows
    (sectioned: rotary pairs [0, s0) read row t, the next s1 row h, the last s2 row w)."""
    q_size, kv_size = layout.num_heads * layout.head_dim, layout.num_kv_heads * layout.head_dim
    sizes = init(f"{p}.self_attn.qkv_split", np.array([q_size, kv_size, kv_size], np.int64))
    names = [f"{p}/q", f"{p}/k", f"{p}/v"]
    node("Split", [qkv, sizes], names, axis=-1)
    rotated = []
    for name, heads in ((names[0], layout.num_heads), (names[1], layout.num_kv_heads)):
        node(
            "MRotaryEmbedding",
            [name, "position_ids", "cos_cache", "sin_cache"],
            [f"{name}_rotated"],
            MS_DOMAIN,
            interleaved=0,
            num_heads=heads,
            rotary_embedding_dim=layout.head_dim,
            mrope_section=list(layout.mrope_section),
            mrope_layout=0,  # sectioned (Qwen2-VL, Qwen2.5-VL); 1 is Qwen3-VL's interleaved
        )
        rotated.append(f"{name}_rotated")
    return [*rotated, names[2]]


def add_next_tokens(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with the output `next_tokens` (B, S) int64 = ArgMax(logits) over the vocabulary
    (the first index of the largest logit, as numpy's argmax), in place."""
    graph = model.graph
    if any(o.name == NEXT_TOKENS for o in graph.output):
        return model
    graph.node.append(
        helper.make_node(
            "ArgMax", ["logits"], [NEXT_TOKENS], name="ArgMax_next_tokens", axis=-1, keepdims=0
        )
    )
    graph.output.append(
        helper.make_tensor_value_info(NEXT_TOKENS, TensorProto.INT64, ["batch", "sequence"])
    )
    return model
