"""Gemma3 on the runtime side: the whole image resized to the tower's square (gemma3_vision),
the model's chat template (rendered by the builder into pieces; its `| trim` of the user's
text kept as `strip_prompt`), the template's `<start_of_image>` expanded as Gemma3Processor
expands it, the pooled image features at the image tokens, plain (B, T) positions, and the
image tokens marked in the decoder's attention mask (0 pad, 1 text, 2 image): Gemma3's image
tokens attend to each other bidirectionally, and the exported decoder reads the marks
(vlmprune.export.models.gemma3_graphs). The builder's side is vlmprune.export.models.gemma3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ..errors import InputError
from ..generation import positions_from_mask
from .base import (
    Architecture,
    PreprocessingError,
    ScatteredFeatures,
    check_one_image,
    check_stats,
    parse_section,
    register_architecture,
)
from .gemma3_vision import ImageSpec, preprocess_image
from .images import stats_to_lists, stats_to_tuples
from .text_spec import TextSpec

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

IMAGE_MARK = 2  # attention_mask value of an image token


@dataclass(frozen=True, kw_only=True)
class Gemma3Spec(TextSpec):
    """The manifest's `preprocessing` section for Gemma3 (the chat prompt's image slot takes
    boi_token, as the template writes it)."""

    image: ImageSpec
    mm_tokens_per_image: int
    boi_token: str  # "<start_of_image>"
    eoi_token: str  # "<end_of_image>"
    image_token: str  # "<image_soft_token>": mm_tokens_per_image per image

    def image_sequence(self) -> str:
        """What Gemma3Processor puts where the template wrote boi_token."""
        tokens = self.image_token * self.mm_tokens_per_image
        return f"\n\n{self.boi_token}{tokens}{self.eoi_token}\n\n"

    def to_dict(self) -> dict:
        return {
            "image": stats_to_lists(self.image.to_dict()),
            "mm_tokens_per_image": self.mm_tokens_per_image,
            "boi_token": self.boi_token,
            "eoi_token": self.eoi_token,
            "image_token": self.image_token,
            **self.text_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Gemma3Spec:
        return cls(
            image=ImageSpec(**stats_to_tuples(d["image"])),
            mm_tokens_per_image=int(d["mm_tokens_per_image"]),
            boi_token=str(d["boi_token"]),
            eoi_token=str(d["eoi_token"]),
            image_token=str(d["image_token"]),
            **cls.text_fields(d),
        )


_POSITIVE = {"type": "integer", "minimum": 1}
_TRIPLE = {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}
_TOKEN = {"type": "string", "minLength": 1}


@register_architecture
class Gemma3(ScatteredFeatures, Architecture):
    """One image per request, resized whole, in the model's chat template."""

    model_types = ("gemma3",)
    preprocessing_schema = {
        "required": [
            "image",
            "mm_tokens_per_image",
            "chat_prompt",
            "boi_token",
            "eoi_token",
            "image_token",
            "image_token_id",
            "stop_tokens",
        ],  # fmt: skip
        "properties": {
            "image": {
                "type": "object",
                "required": ["height", "width"],
                "properties": {
                    "height": _POSITIVE,
                    "width": _POSITIVE,
                    "resample": {"type": "integer", "minimum": 0},
                    "rescale_factor": {"type": "number", "exclusiveMinimum": 0},
                    "image_mean": _TRIPLE,
                    "image_std": {**_TRIPLE, "items": {"type": "number", "exclusiveMinimum": 0}},
                },
            },
            "mm_tokens_per_image": _POSITIVE,
            "chat_prompt": {
                "type": "object",
                "required": ["parts", "slots"],
                "properties": {
                    "parts": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                    "slots": {"type": "array", "items": {"enum": ["image", "prompt"]}},
                    "strip_prompt": {"type": "boolean"},
                },
            },
            "boi_token": _TOKEN,
            "eoi_token": _TOKEN,
            "image_token": _TOKEN,
            "image_token_id": {"type": "integer", "minimum": 0},
            "stop_tokens": {"type": "array", "items": _TOKEN, "minItems": 1},
        },
    }

    def __init__(self, spec: Gemma3Spec) -> None:
        check_one_image(spec.chat_prompt)
        self.spec = spec
        self.image_token_id = spec.image_token_id

    @classmethod
    def from_preprocessing(cls, pre: Mapping[str, Any]) -> Gemma3:
        required = ("image", "mm_tokens_per_image", "chat_prompt", "image_token_id", "eos_token")
        spec = parse_section(pre, required, Gemma3Spec.from_dict, "Gemma3")
        im = spec.image
        check_stats("preprocessing.image", im.image_mean, im.image_std)
        if min(im.height, im.width, spec.mm_tokens_per_image) < 1:
            raise PreprocessingError(
                "preprocessing.image", "height, width and mm_tokens_per_image must be >= 1"
            )
        return cls(spec)

    def preprocessing(self) -> dict:
        return self.spec.to_dict()

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return preprocess_image(image, self.spec.image)

    def prompt_text(self, prompt: str, image: Any) -> str:
        return self.spec.chat_prompt.render(prompt, self.spec.boi_token)

    def prompt_ids(self, tokenizer: Tokenizer, prompt: str, image: Any) -> list[int]:
        for token in (self.spec.boi_token, self.spec.image_token, self.spec.eoi_token):
            if token in prompt:
                raise InputError(f"the prompt must not contain the image token '{token}'")
        text = self.spec.chat_prompt.render(prompt, self.spec.image_sequence())
        # The template writes <bos> itself; the tokenizer's post-processor would add a second
        # (apply_chat_template(tokenize=True) encodes without special tokens too).
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        self._check_image_tokens(ids, "the prompt")
        return ids

    def synthetic_ids(self, tokenizer: Tokenizer, text_ids: Sequence[int], image: Any) -> list[int]:
        ids = self.spec.chat_prompt.ids_around(
            tokenizer, text_ids, self.spec.image_sequence(), add_special_tokens=False
        )
        self._check_image_tokens(ids, "the template")
        return ids

    def synthetic_image(self, rng: np.random.Generator) -> Image.Image:
        im = self.spec.image
        return Image.fromarray(rng.integers(0, 256, (im.height, im.width, 3), dtype=np.uint8))

    def image_features(
        self, vision: onnxruntime.InferenceSession, images: Sequence[np.ndarray]
    ) -> np.ndarray:
        """(images x mm_tokens_per_image, H), in image order."""
        pixels = np.stack(images).astype(np.float32, copy=False)
        return vision.run(["image_features"], {"pixel_values": pixels})[0]

    def position_ids(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, images: Sequence[Any]
    ) -> np.ndarray:
        return positions_from_mask(attention_mask)

    def decoder_mask(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        marked = np.asarray(attention_mask, dtype=np.int64).copy()
        marked[(input_ids == self.image_token_id) & (marked > 0)] = IMAGE_MARK
        return marked

    def vision_io(self, hidden_size: int) -> tuple[dict[str, list], dict[str, list]]:
        im = self.spec.image
        return (
            {"pixel_values": [None, 3, im.height, im.width]},
            {"image_features": [None, hidden_size]},
        )

    def _check_image_tokens(self, ids: Sequence[int], what: str) -> None:
        found = sum(1 for i in ids if i == self.image_token_id)
        if found != self.spec.mm_tokens_per_image:
            raise InputError(
                f"{what} tokenises to {found} image tokens, expected "
                f"{self.spec.mm_tokens_per_image}"
            )
