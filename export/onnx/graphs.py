"""ONNX graphs of a VLM: `vision_encoder`, `embed_tokens` (shared) and one decoder per variant.

Exported with the TorchScript path of `torch.onnx.export` (`dynamo=False`): on transformers
5.x it traces the pruned Llama decoder with a KV cache to within ~1e-7 of PyTorch and needs
no `dynamic_shapes` specification (DESIGN.md). Names follow optimum / ONNX Runtime GenAI:

    vision_encoder  the architecture's inputs (LLaVA: pixel_values (B, 3, S, S); Qwen2-VL:
                    flat patches + side inputs)  -> image_features (LLaVA (B, n_img, H))
    embed_tokens    input_ids (B, T)                    -> inputs_embeds (B, T, H)
    decoder         inputs_embeds (B, T, H), attention_mask (B, P+T), position_ids (B, T)
                    or (3, B, T) for M-RoPE, past_key_values.{i}.key/value
                    (B, kv_heads, P, head_dim), i < L
                    -> logits (B, T, V), present.{i}.key/value (B, kv_heads, P+T, head_dim)

One decoder graph serves prefill (P = 0) and decode steps (T = 1). The trace runs with a
left-padded mask, P > 0 and T > 1, so that no shortcut for "no padding" or "single token"
is baked into the graph.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
from torch import nn
from transformers import DynamicCache, PreTrainedModel

from ...runtime.decoders import MAX_POSITIONS_KEY, DecoderLayout
from ..models.adapter import GraphSpec, ModelAdapter
from ..models.loading import LoadedVlm
from .fused_decoder import (
    MROPE_ROWS,
    FusedDecoderError,
    add_next_tokens,
    build_fused_decoder,
    check_fusable,
    mrope_section,
)
from .io_names import (  # noqa: F401  (re-exported: the graph names belong to this module's API)
    DECODER_PREFIX,
    EMBED_TOKENS,
    VISION_ENCODER,
    decoder_input_names,
    decoder_output_names,
)

# onnxruntime 1.20 reads IR <= 10 and opset <= 21; opset 17 (IR 8) is the newest pair that
# every onnxruntime >= 1.20 and the TorchScript exporter of torch 2.13 support natively.
OPSET = 17
IR_VERSION = 8


@dataclass(frozen=True)
class DecoderDims:
    """What a decoder graph's inputs look like; read from the text config."""

    num_layers: int  # L: kept blocks
    hidden_size: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int


def decoder_dims(vlm: LoadedVlm) -> DecoderDims:
    config = vlm.adapter.text_config(vlm.model)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return DecoderDims(
        num_layers=len(vlm.adapter.layers(vlm.model)),
        hidden_size=config.hidden_size,
        num_kv_heads=config.num_key_value_heads,
        head_dim=head_dim,
        vocab_size=config.vocab_size,
    )


class EmbedTokens(nn.Module):
    def __init__(self, embedding: nn.Module) -> None:
        super().__init__()
        self.embedding = embedding

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(input_ids)  # (B, T, H)


class DecoderWithCache(nn.Module):
    """The (pruned) text decoder + LM head with the KV cache as flat tensors in and out."""

    def __init__(self, model: PreTrainedModel, adapter: ModelAdapter) -> None:
        super().__init__()
        self.decoder = adapter.decoder(model)
        self.head = adapter.lm_head(model)
        self.config = adapter.text_config(model)
        self.num_layers = len(adapter.layers(model))

    def forward(
        self,
        inputs_embeds: torch.Tensor,  # (B, T, H)
        attention_mask: torch.Tensor,  # (B, P + T), 1 = real token
        position_ids: torch.Tensor,  # (B, T), or (3, B, T) for M-RoPE
        *past: torch.Tensor,  # 2L tensors (B, kv_heads, P, head_dim): key, value per layer
    ) -> tuple[torch.Tensor, ...]:
        cache = DynamicCache(config=self.config)
        for i in range(self.num_layers):
            cache.update(past[2 * i], past[2 * i + 1], i)
        out = self.decoder(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=cache,
            use_cache=True,
        )
        logits = self.head(out.last_hidden_state)  # (B, T, V)
        present: list[torch.Tensor] = []
        for layer in out.past_key_values.layers:
            present += [layer.keys, layer.values]  # (B, kv_heads, P + T, head_dim)
        return (logits, *present)


def decoder_module(vlm: LoadedVlm) -> nn.Module:
    """What the traced decoder graph computes: the architecture's own module, if it has one."""
    return vlm.adapter.decoder_with_cache(vlm.model) or DecoderWithCache(vlm.model, vlm.adapter)


def sample_decoder_inputs(
    dims: DecoderDims, batch: int = 2, past: int = 3, seq: int = 4, position_rows: int | None = None
) -> tuple:
    """Trace inputs: left padding in row 1, P > 0 and T > 1 (see the module docstring);
    with `position_rows` (M-RoPE), that many rows of positions, all different."""
    generator = torch.Generator().manual_seed(0)
    embeds = torch.randn(batch, seq, dims.hidden_size, generator=generator)
    mask = torch.ones(batch, past + seq, dtype=torch.long)
    mask[1, :2] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, past:]
    if position_rows:
        positions = torch.stack([positions + row for row in range(position_rows)])
    cache = [
        torch.randn(batch, dims.num_kv_heads, past, dims.head_dim, generator=generator)
        for _ in range(2 * dims.num_layers)
    ]
    return (embeds, mask, positions, *cache)


class LayoutError(ValueError):
    """The decoder layout asked for cannot represent this model's decoder."""


def choose_layout(vlm: LoadedVlm, requested: DecoderLayout | None = None) -> DecoderLayout:
    """`requested`, checked; by default gqa (fused, ~3x fewer nodes, a buffer-shared KV
    cache) wherever fused_decoder.py implements the decoder, else traced."""
    problem = fused_problem(vlm)
    if requested is DecoderLayout.GQA and problem:
        raise LayoutError(f"--decoder-layout gqa: {problem}")
    if requested is not None:
        return DecoderLayout(requested)
    return DecoderLayout.TRACED if problem else DecoderLayout.GQA


def fused_problem(vlm: LoadedVlm) -> str:
    """Why the fused (gqa) graph cannot represent this decoder ('' when it can)."""
    config = vlm.adapter.text_config(vlm.model)
    rows, sections = vlm.arch.position_rows, mrope_section(config)
    # The graph rotates (t, h, w) rows by the text config's sections (MRotaryEmbedding).
    if rows and (rows != MROPE_ROWS or not sections):
        return f"{rows}-row positions without a 3-section mrope_section in the text config"
    if sections and not rows:
        return "the text config has mrope_section but the architecture gives one position row"
    try:
        check_fusable(config, vlm.adapter.decoder(vlm.model))
    except FusedDecoderError as exc:
        return str(exc)
    return ""


def export_decoder(vlm: LoadedVlm, layout: DecoderLayout = DecoderLayout.TRACED) -> onnx.ModelProto:
    """Export the model's decoder *as it is now* (remove blocks first, e.g. `adapter.removed`)."""
    if layout is DecoderLayout.GQA:
        return _fused_decoder(vlm)
    dims = decoder_dims(vlm)
    rows = vlm.arch.position_rows  # None: (B, T) positions; 3: M-RoPE (3, B, T)
    inputs, outputs = decoder_input_names(dims.num_layers), decoder_output_names(dims.num_layers)
    axes: dict[str, dict[int, str]] = {
        "inputs_embeds": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "total_sequence"},
        "position_ids": {1: "batch", 2: "sequence"} if rows else {0: "batch", 1: "sequence"},
        "logits": {0: "batch", 1: "sequence"},
    }
    axes.update({name: {0: "batch", 2: "past_sequence"} for name in inputs[3:]})
    axes.update({name: {0: "batch", 2: "total_sequence"} for name in outputs[1:]})
    module = decoder_module(vlm)
    sample = sample_decoder_inputs(dims, position_rows=rows)
    return _export(module, sample, inputs, outputs, axes)


def _fused_decoder(vlm: LoadedVlm) -> onnx.ModelProto:
    config = vlm.adapter.text_config(vlm.model)
    positions = int(config.max_position_embeddings)  # the context the manifest states
    model, _ = build_fused_decoder(
        vlm.adapter.decoder(vlm.model), vlm.adapter.lm_head(vlm.model), config, positions
    )
    add_next_tokens(model)  # decoding reads the ids, the logits stay inside onnxruntime
    onnx.helper.set_model_props(model, {MAX_POSITIONS_KEY: str(positions)})
    return model


def export_vision_encoder(vlm: LoadedVlm) -> onnx.ModelProto:
    """The architecture's vision tower (its adapter says how it is traced)."""
    return export_graph(vlm.adapter.vision_graph(vlm.model, vlm.arch))


def export_graph(spec: GraphSpec) -> onnx.ModelProto:
    """Trace a GraphSpec; the dims it declares static are written into the outputs."""
    model = _export(
        spec.module, spec.args, spec.input_names, spec.output_names, dict(spec.dynamic_axes)
    )
    outputs = {o.name: o for o in model.graph.output}
    for name, fixed in spec.static_output_dims.items():
        dims = outputs[name].type.tensor_type.shape.dim
        for axis, size in fixed.items():
            dims[axis].dim_value = size
    return model


def export_embed_tokens(vlm: LoadedVlm) -> onnx.ModelProto:
    ids = torch.tensor([[1, 5, 7], [0, 1, 9]], dtype=torch.long)
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "inputs_embeds": {0: "batch", 1: "sequence"}}
    module = EmbedTokens(vlm.model.get_input_embeddings())
    return _export(module, (ids,), ["input_ids"], ["inputs_embeds"], axes)


def compact_value_names(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rename intermediate values to short ids ("v12"); graph I/O and initializers keep theirs.

    The exporter's names ("/decoder/layers.0/self_attn/Concat_7_output_0") are most of a
    decoder graph's bytes once its weights are external: about 60% at demo size. Node names
    stay, so onnxruntime's per-operator profiles remain readable.
    """
    graph = model.graph
    keep = {v.name for v in (*graph.input, *graph.output)} | {t.name for t in graph.initializer}
    renamed: dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in keep:
            return name
        return renamed.setdefault(name, f"v{len(renamed)}")

    for node in graph.node:
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]
    for info in graph.value_info:
        info.name = short(info.name)
    return model


def _export(
    module: nn.Module,
    args: tuple,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: dict[str, dict[int, str]],
) -> onnx.ModelProto:
    """Trace `module` to an in-memory ModelProto with every initializer's data loaded.

    The exporter writes to a scratch folder (it switches to external data by itself past
    protobuf's 2 GB); `weights.SharedWeightsWriter` then moves the data to the shared file.
    """
    with tempfile.TemporaryDirectory(prefix="vlmprune-onnx-") as scratch:
        path = Path(scratch) / "graph.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            # The tracer warns about every Python branch it freezes; the trace inputs are
            # chosen so that the frozen branches are the general ones (parity checks it).
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(),
                args,
                str(path),
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_axes=dynamic_axes,
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
        model = onnx.load(str(path), load_external_data=True)
    model.ir_version = IR_VERSION  # explicit: onnxruntime 1.20 reads IR <= 10 only
    return model
