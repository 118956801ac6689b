"""Qwen2-VL and Qwen2.5-VL (`Qwen2VLForConditionalGeneration`,
`Qwen2_5_VLForConditionalGeneration`): a dynamic-resolution ViT with a patch merger and a
Qwen2 decoder with 3-D M-RoPE positions, from a folder exactly as downloaded.

Removal is the common contract (`removal.py`) on `model.model.language_model` and
`config.text_config` (transformers 5.x keeps `num_hidden_layers` and `layer_types` there
only; generate and `DynamicCache(config=...)` read them from it). The model caches
`rope_deltas` from its last forward/generate; vlmprune always passes positions itself and
resets that cache before each batch, so a stale one cannot shift a later request.

The folder gives the runtime everything (no vlmprune file): `tokenizer.json`, the chat
template, `preprocessor_config.json`, and `generation_config.json`'s stop tokens (its
`do_sample: true` is ignored: vlmprune decodes greedily).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from ...runtime.arch.qwen2_vl import Qwen2VL, QwenSpec, VisionSpec
from ...runtime.arch.qwen2_vl_vision import ImageSpec, QwenImage
from ..errors import ModelLoadError
from . import hf_folder
from .adapter import GenaiSpec, GenaiUnsupportedError, GraphSpec, ModelAdapter, register_adapter
from .chat_template import chat_prompt
from .qwen2_vl_graphs import (
    EmbeddingWithImages,
    Qwen2VisionGraph,
    Qwen25VisionFromGrid,
    Qwen25VisionGraph,
)

QWEN2_5_VL = "qwen2_5_vl"
# Trace images: 224 x 280 spans several 112-pixel windows; the second image makes two segments.
_TRACE_SIZES = ((224, 280), (112, 168))


@register_adapter
class QwenVLAdapter(ModelAdapter):
    model_types = ("qwen2_vl", QWEN2_5_VL)

    def text_config(self, model: PreTrainedModel) -> PretrainedConfig:
        return model.config.text_config

    def decoder(self, model: PreTrainedModel) -> nn.Module:
        return model.model.language_model  # Qwen2(_5)_VLTextModel: embed_tokens, layers, norm

    def lm_head(self, model: PreTrainedModel) -> nn.Module:
        return model.lm_head

    def read_folder(self, path: Path, config: PretrainedConfig) -> tuple[QwenSpec, Tokenizer]:
        text = hf_folder.read_text_files(path, config)
        image_processor = hf_folder.read_json(
            path,
            hf_folder.PREPROCESSOR_CONFIG,
            required=True,
            why="the image processor: min/max pixels, patch and merge sizes, mean/std",
        )
        spec = QwenSpec(
            image_processor=_image_spec(path, image_processor),
            vision=_vision_spec(config),
            chat_prompt=chat_prompt(
                text.template, text.image_token, text.specials, str(text.template_file)
            ),
            image_token=text.image_token,
            image_token_id=int(config.image_token_id),
            eos_token=text.stop_tokens[0],
            pad_token=text.pad_token,
            stop_tokens=text.stop_tokens,
        )
        return spec, text.tokenizer

    def runtime_architecture(self, model: PreTrainedModel, spec: QwenSpec) -> Qwen2VL:
        return Qwen2VL(spec)

    def input_embeddings(
        self, model: PreTrainedModel, input_ids: torch.Tensor, images: Sequence[QwenImage]
    ) -> torch.Tensor:
        """Token embeddings with the merged vision features at the `<|image_pad|>` positions,
        as `Qwen2VLModel.forward` merges them (masked_scatter: row-major order)."""
        model.model.rope_deltas = None  # a cached value from an earlier call must not leak
        embeds = model.get_input_embeddings()(input_ids)  # (B, T, H)
        if not images:
            return embeds
        pixels = torch.from_numpy(np.concatenate([im.patches for im in images]))
        grid = torch.tensor([im.grid for im in images], dtype=torch.long, device=embeds.device)
        out = model.model.get_image_features(pixels.to(embeds.device, embeds.dtype), grid)
        features = torch.cat(list(out.pooler_output), dim=0).to(embeds.dtype)
        mask = (input_ids == model.config.image_token_id).unsqueeze(-1).expand_as(embeds)
        return embeds.masked_scatter(mask, features)

    def vision_graph(self, model: PreTrainedModel, arch: Qwen2VL) -> GraphSpec:
        rng = np.random.default_rng(0)
        images = [
            arch.preprocess(_random_image(rng, height, width)) for height, width in _TRACE_SIZES
        ]
        feeds = arch.vision_feeds(images)
        visual = model.model.visual
        is_25 = model.config.model_type == QWEN2_5_VL
        module = Qwen25VisionGraph(visual) if is_25 else Qwen2VisionGraph(visual)
        merged = {"window_index", "reverse_index"}  # one entry per merged token
        axes = {n: {0: "num_merged" if n in merged else "num_patches"} for n in module.input_names}
        return GraphSpec(
            module=module.eval(),
            args=tuple(torch.from_numpy(feeds[n]) for n in module.input_names),
            input_names=module.input_names,
            output_names=("image_features",),
            dynamic_axes={**axes, "image_features": {0: "num_merged"}},
        )

    def genai(self, model: PreTrainedModel, arch: Qwen2VL) -> GenaiSpec:
        if model.config.model_type != QWEN2_5_VL:
            raise GenaiUnsupportedError(
                "onnxruntime-genai 0.18 has no 'qwen2_vl' model type (its model builder refuses "
                "Qwen2VLForConditionalGeneration: builder.py:806 NotImplementedError)"
            )
        config = model.config
        image = arch.preprocess(_random_image(np.random.default_rng(1), *_TRACE_SIZES[0]))
        hidden = self.text_config(model).hidden_size
        vision = GraphSpec(
            module=Qwen25VisionFromGrid(model.model.visual).eval(),
            args=(torch.from_numpy(image.patches), torch.tensor([image.grid])),
            input_names=("pixel_values", "image_grid_thw"),
            output_names=("image_features",),
            # genai runs one image per call with a (1, 3) grid (qwen_vision_state.cpp).
            dynamic_axes={"pixel_values": {0: "num_patches"}, "image_features": {0: "num_merged"}},
        )
        ids = torch.tensor([[1, config.image_token_id, config.image_token_id, 3]])
        embedding = GraphSpec(
            module=EmbeddingWithImages(model.get_input_embeddings(), config.image_token_id),
            args=(ids, torch.randn(2, hidden, generator=torch.Generator().manual_seed(0))),
            input_names=("input_ids", "image_features"),
            output_names=("inputs_embeds",),
            dynamic_axes={
                "input_ids": {0: "batch_size", 1: "sequence_length"},
                "image_features": {0: "num_image_tokens"},
                "inputs_embeds": {0: "batch_size", 1: "sequence_length"},
            },
        )
        return GenaiSpec(
            model_type=QWEN2_5_VL,
            graphs={"vision.onnx": vision, "embedding.onnx": embedding},
            model_config=_genai_model_config(config),
            processor_config=_processor_config(arch.spec.image_processor),
        )


def _genai_model_config(config: PretrainedConfig) -> dict:
    """genai_config.json's `model` entries for the qwen2_5_vl type, besides the decoder."""
    vision = config.vision_config
    return {
        "image_token_id": config.image_token_id,
        "video_token_id": config.video_token_id,
        "vision_start_token_id": config.vision_start_token_id,
        "embedding": {
            "filename": "embedding.onnx",
            "inputs": {"input_ids": "input_ids", "image_features": "image_features"},
            "outputs": {"inputs_embeds": "inputs_embeds"},
        },
        "vision": {
            "filename": "vision.onnx",
            "config_filename": "processor_config.json",
            "spatial_merge_size": vision.spatial_merge_size,
            "tokens_per_second": float(vision.tokens_per_second),
            "patch_size": vision.patch_size,
            "window_size": vision.window_size,
            "inputs": {"pixel_values": "pixel_values", "image_grid_thw": "image_grid_thw"},
            "outputs": {"image_features": "image_features"},
        },
    }


def _processor_config(spec: ImageSpec) -> dict:
    """onnxruntime-extensions' image pipeline for genai's qwen2_5_vl processor: the same
    steps as transformers' (smart resize within min/max pixels, rescale, normalise, patch)."""

    def step(name: str, kind: str, **attrs: object) -> dict:
        return {"operation": {"name": name, "type": kind, **({"attrs": attrs} if attrs else {})}}

    return {
        "processor": {
            "name": "qwen2_5_image_processor",
            "transforms": [
                step("decode_image", "DecodeImage", color_space="RGB"),
                step("convert_to_rgb", "ConvertRGB"),
                step(
                    "resize",
                    "Resize",
                    width=540,  # unused with smart_resize; the pipeline requires the fields
                    height=360,
                    smart_resize=1,
                    min_pixels=spec.min_pixels,
                    max_pixels=spec.max_pixels,
                    patch_size=spec.patch_size,
                    merge_size=spec.merge_size,
                ),
                step("rescale", "Rescale", rescale_factor=spec.rescale_factor),
                step(
                    "normalize",
                    "Normalize",
                    mean=list(spec.image_mean),
                    std=list(spec.image_std),
                    qwen2_5_vl=1,
                ),
                step(
                    "patch_image",
                    "PatchImage",
                    patch_size=spec.patch_size,
                    temporal_patch_size=spec.temporal_patch_size,
                    merge_size=spec.merge_size,
                ),
            ],
        }
    }


def _random_image(rng: np.random.Generator, height: int, width: int) -> Any:
    from PIL import Image

    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _image_spec(path: Path, d: dict) -> ImageSpec:
    """preprocessor_config.json -> ImageSpec (min/max_pixels override `size`, as in transformers)."""
    where = path / hf_folder.PREPROCESSOR_CONFIG
    hf_folder.require_image_steps(where, d)
    size = d.get("size") or {}
    try:
        return ImageSpec(
            min_pixels=int(d.get("min_pixels", size.get("shortest_edge", 56 * 56))),
            max_pixels=int(d.get("max_pixels", size.get("longest_edge", 28 * 28 * 1280))),
            patch_size=int(d.get("patch_size", 14)),
            temporal_patch_size=int(d.get("temporal_patch_size", 2)),
            merge_size=int(d.get("merge_size", 2)),
            image_mean=tuple(float(x) for x in d.get("image_mean", ImageSpec.image_mean)),
            image_std=tuple(float(x) for x in d.get("image_std", ImageSpec.image_std)),
            rescale_factor=float(d.get("rescale_factor", 1 / 255)),
            resample=int(d.get("resample", 3)),
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise ModelLoadError(f"{where}: not a Qwen2-VL image processor config ({exc})") from None


def _vision_spec(config: PretrainedConfig) -> VisionSpec:
    vision = config.vision_config
    width = vision.hidden_size if config.model_type == QWEN2_5_VL else vision.embed_dim
    return VisionSpec(
        head_dim=width // vision.num_heads,
        rope_theta=float((vision.rope_parameters or {}).get("rope_theta", 10000.0)),
        window_size=getattr(vision, "window_size", None)
        if config.model_type == QWEN2_5_VL
        else None,
    )
