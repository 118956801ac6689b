"""Qwen2-VL and Qwen2.5-VL on the runtime side: dynamic-resolution images, the model's own
chat template (rendered by the builder into pieces), image features at `<|image_pad|>`
positions, and 3-D M-RoPE position ids.

Everything here is numpy and mirrors transformers 5.23; the builder evaluates and checks
parity with this same code (`vlmprune.export.models.qwen2_vl`), and the tests compare it
with transformers' image processor, chat template and `get_rope_index`.

Positions (`Qwen2VLModel.get_rope_index`): a text token advances all three rows (t, h, w)
by one; an image's merged tokens get t = start, h = start + row, w = start + column on the
merged grid, and the next token starts at start + max(h, w) / merge. Decode steps then add
one to every row (the generic loop does that), which is what `generate` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ..errors import InputError
from .base import (
    Architecture,
    ScatteredFeatures,
    check_one_image,
    check_stats,
    parse_section,
    register_architecture,
)
from .images import stats_to_lists, stats_to_tuples
from .qwen2_vl_vision import ImageSpec, QwenImage, preprocess_image, vision_feeds
from .text_spec import TextSpec

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

MAX_PATCHES_PER_CALL = 1024  # vision attention is O(N^2) per call: small images share one


@dataclass(frozen=True)
class VisionSpec:
    """What the vision graph's side inputs depend on (from config.json's vision_config)."""

    head_dim: int  # per attention head of the vision tower
    rope_theta: float
    window_size: int | None  # pixels (Qwen2.5-VL); None: no window attention (Qwen2-VL)


@dataclass(frozen=True, kw_only=True)
class QwenSpec(TextSpec):
    """The manifest's `preprocessing` section for Qwen2-VL / Qwen2.5-VL."""

    image_processor: ImageSpec
    vision: VisionSpec
    image_token: str  # "<|image_pad|>": once per image in the template, expanded per image

    def to_dict(self) -> dict:
        return {
            "image_processor": stats_to_lists(asdict(self.image_processor)),
            "vision": asdict(self.vision),
            "image_token": self.image_token,
            **self.text_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> QwenSpec:
        return cls(
            image_processor=ImageSpec(**stats_to_tuples(d["image_processor"])),
            vision=VisionSpec(**d["vision"]),
            image_token=str(d["image_token"]),
            **cls.text_fields(d),
        )


def rope_index(
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    grids: Sequence[tuple[int, int, int]],
    image_token_id: int,
    merge: int,
) -> np.ndarray:
    """(3, B, T) int64 M-RoPE positions of a left-padded batch (0 at padding); `grids` are
    the images in the order their tokens appear, row by row (`get_rope_index` for images)."""
    batch, width = input_ids.shape
    positions = np.zeros((3, batch, width), dtype=np.int64)
    queue = iter(grids)
    for b in range(batch):
        real = attention_mask[b].astype(bool)
        is_image = input_ids[b][real] == image_token_id
        chunks, start, i, n = [], 0, 0, int(is_image.size)
        while i < n:
            j = i
            while j < n and is_image[j] == is_image[i]:
                j += 1
            if not is_image[i]:  # a run of text tokens: all three rows advance together
                chunks.append(np.broadcast_to(np.arange(j - i) + start, (3, j - i)))
                start += j - i
            else:
                t, h, w = next(queue)
                tt, hh, ww = np.meshgrid(
                    np.arange(t), np.arange(h // merge), np.arange(w // merge), indexing="ij"
                )
                block = np.stack([tt, hh, ww]).reshape(3, -1) + start
                if block.shape[1] != j - i:
                    raise InputError(
                        f"row {b} holds {j - i} image tokens where its image has {block.shape[1]}"
                    )
                chunks.append(block)
                start += max(h, w) // merge
            i = j
        if chunks:
            positions[:, b, real] = np.concatenate(chunks, axis=1)
    return positions


@register_architecture
class Qwen2VL(ScatteredFeatures, Architecture):
    """One image per request at its own resolution, in the model's chat template."""

    model_types = ("qwen2_vl", "qwen2_5_vl")
    position_rows = 3  # M-RoPE: (t, h, w) rows of position ids
    preprocessing_schema = {
        "required": ["image_processor", "vision", "chat_prompt", "image_token", "stop_tokens"],
        "properties": {
            "image_processor": {
                "type": "object",
                "required": ["min_pixels", "max_pixels", "patch_size", "merge_size"],
                "properties": {
                    "min_pixels": {"type": "integer", "minimum": 1},
                    "max_pixels": {"type": "integer", "minimum": 1},
                    "patch_size": {"type": "integer", "minimum": 1},
                    "temporal_patch_size": {"type": "integer", "minimum": 1},
                    "merge_size": {"type": "integer", "minimum": 1},
                    "image_mean": {"type": "array", "items": {"type": "number"}},
                    "image_std": {
                        "type": "array",
                        "items": {"type": "number", "exclusiveMinimum": 0},
                    },
                },
            },
            "vision": {
                "type": "object",
                "required": ["head_dim", "rope_theta", "window_size"],
                "properties": {
                    "head_dim": {"type": "integer", "minimum": 1},
                    "rope_theta": {"type": "number"},
                    "window_size": {"type": ["integer", "null"]},
                },
            },
            "chat_prompt": {
                "type": "object",
                "required": ["parts", "slots"],
                "properties": {
                    "parts": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                    "slots": {"type": "array", "items": {"enum": ["image", "prompt"]}},
                },
            },
            "image_token": {"type": "string", "minLength": 1},
            "stop_tokens": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        },
    }

    def __init__(self, spec: QwenSpec) -> None:
        check_one_image(spec.chat_prompt)
        self.spec = spec
        self.image_token_id = spec.image_token_id
        self.merge = spec.image_processor.merge_size

    @classmethod
    def from_preprocessing(cls, pre: Mapping[str, Any]) -> Qwen2VL:
        required = ("image_processor", "vision", "chat_prompt", "image_token", "image_token_id")
        spec = parse_section(pre, required, QwenSpec.from_dict, "Qwen")
        im = spec.image_processor
        check_stats("preprocessing.image_processor", im.image_mean, im.image_std)
        return cls(spec)

    def preprocessing(self) -> dict:
        return self.spec.to_dict()

    def preprocess(self, image: Image.Image) -> QwenImage:
        try:
            return preprocess_image(image, self.spec.image_processor)
        except ValueError as exc:
            raise InputError(str(exc)) from None

    def prompt_text(self, prompt: str, image: Any) -> str:
        return self.spec.chat_prompt.render(prompt, self.spec.image_token)

    def prompt_ids(self, tokenizer: Tokenizer, prompt: str, image: QwenImage) -> list[int]:
        if self.spec.image_token in prompt:
            raise InputError(
                f"the prompt must not contain the image token '{self.spec.image_token}'"
            )
        expanded = self.spec.image_token * image.num_tokens(self.merge)
        ids = tokenizer.encode(self.spec.chat_prompt.render(prompt, expanded)).ids
        self._check_image_tokens(ids, image, "the prompt")
        return ids

    def synthetic_ids(self, tokenizer: Tokenizer, text_ids: Sequence[int], image: Any) -> list[int]:
        expanded = self.spec.image_token * image.num_tokens(self.merge)
        ids = self.spec.chat_prompt.ids_around(tokenizer, text_ids, expanded)
        self._check_image_tokens(ids, image, "the template")
        return ids

    def synthetic_image(self, rng: np.random.Generator) -> Image.Image:
        # 448 x 448 -> 32 x 32 patches -> 256 image tokens at patch 14, merge 2.
        return Image.fromarray(rng.integers(0, 256, (448, 448, 3), dtype=np.uint8))

    def image_features(
        self, vision: onnxruntime.InferenceSession, images: Sequence[QwenImage]
    ) -> np.ndarray:
        """(sum of image tokens, H): the images' features in order, a few images per call."""
        out = []
        for group in _groups(list(images), MAX_PATCHES_PER_CALL):
            out.append(vision.run(["image_features"], self.vision_feeds(group))[0])
        return np.concatenate(out)

    def vision_feeds(self, images: Sequence[QwenImage]) -> dict[str, np.ndarray]:
        v, p = self.spec.vision, self.spec.image_processor
        window = None if v.window_size is None else v.window_size // p.merge_size // p.patch_size
        return vision_feeds(list(images), p.merge_size, v.head_dim, v.rope_theta, window)

    def position_ids(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, images: Sequence[QwenImage]
    ) -> np.ndarray:
        grids = [im.grid for im in images]
        return rope_index(input_ids, attention_mask, grids, self.image_token_id, self.merge)

    def vision_io(self, hidden_size: int) -> tuple[dict[str, list], dict[str, list]]:
        p, v = self.spec.image_processor, self.spec.vision
        inputs: dict[str, list] = {
            "pixel_values": [None, p.patch_values],
            "rotary_cos": [None, v.head_dim],
            "rotary_sin": [None, v.head_dim],
            "full_segment_ids": [None],
        }
        if v.window_size is not None:
            inputs.update(window_index=[None], reverse_index=[None], window_segment_ids=[None])
        return inputs, {"image_features": [None, hidden_size]}

    def _check_image_tokens(self, ids: Sequence[int], image: QwenImage, what: str) -> None:
        found = sum(1 for i in ids if i == self.image_token_id)
        if found != image.num_tokens(self.merge):
            raise InputError(
                f"{what} tokenises to {found} image tokens, expected {image.num_tokens(self.merge)}"
            )


def _groups(images: list[QwenImage], max_patches: int) -> list[list[QwenImage]]:
    """Consecutive images, as many per group as fit `max_patches` (at least one)."""
    groups: list[list[QwenImage]] = []
    size = 0
    for image in images:
        n = image.patches.shape[0]
        if groups and size + n <= max_patches:
            groups[-1].append(image)
            size += n
        else:
            groups.append([image])
            size = n
    return groups
