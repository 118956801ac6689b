"""LLaVA on the runtime side: CLIP-style preprocessing, a fixed count of image tokens in a
prompt template, image features replacing those tokens, positions from the mask.

Preprocessing is a plain spec (`vlmprune_preprocess.json` in a LLaVA model folder, copied
into the manifest). The builder evaluates with this same code, so the runtime's inputs
match the PyTorch evaluation's inputs by construction; a test checks it against
transformers' CLIP processor. The builder's side is `vlmprune.export.models.llava`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ..errors import InputError
from ..generation import positions_from_mask
from .base import Architecture, PreprocessingError, register_architecture

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

PREPROCESS_FILE = "vlmprune_preprocess.json"  # stored beside config.json in a model folder


@dataclass(frozen=True)
class PreprocessSpec:
    image_size: int  # square input side in pixels
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    image_token: str  # placeholder token, repeated num_image_tokens times in the prompt
    num_image_tokens: int
    prompt_template: str  # holds "{image}" and "{prompt}"
    tokenizer_file: str = "tokenizer.json"
    eos_token: str = "</s>"
    pad_token: str = "<pad>"
    bos_token: str | None = "<s>"
    extra: dict = field(default_factory=dict)

    @property
    def stop_tokens(self) -> tuple[str, ...]:
        """Generation ends at these tokens (a property: the spec file holds `eos_token`)."""
        return (self.eos_token,)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["image_mean"] = list(self.image_mean)
        d["image_std"] = list(self.image_std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PreprocessSpec:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        known["image_mean"] = tuple(float(x) for x in known["image_mean"])
        known["image_std"] = tuple(float(x) for x in known["image_std"])
        return cls(**known)

    @classmethod
    def load(cls, folder: str | Path) -> PreprocessSpec:
        return cls.from_dict(json.loads((Path(folder) / PREPROCESS_FILE).read_text()))


def preprocess_image(image: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    """PIL image -> float32 (3, S, S), CLIP-style: RGB, bicubic resize, rescale, normalise."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != (spec.image_size, spec.image_size):
        image = image.resize((spec.image_size, spec.image_size), Image.Resampling.BICUBIC)
    pixels = np.asarray(image, dtype=np.float32) / 255.0  # (S, S, 3)
    mean = np.asarray(spec.image_mean, dtype=np.float32)
    std = np.asarray(spec.image_std, dtype=np.float32)
    return ((pixels - mean) / std).transpose(2, 0, 1).copy()


def format_prompt(prompt: str, spec: PreprocessSpec) -> str:
    """The model's text input: template with the image placeholder expanded."""
    image = spec.image_token * spec.num_image_tokens
    return spec.prompt_template.format(image=image, prompt=prompt.strip())


def merge_image_features(
    inputs_embeds: np.ndarray,
    input_ids: np.ndarray,
    image_features: np.ndarray,
    image_token_id: int,
) -> np.ndarray:
    """Token embeddings (B, T, H) with image features (B, n_img, H) at the image-token positions.

    Row b's n_img image tokens take row b's features, in order (what LLaVA's masked_scatter
    does when every row holds exactly n_img image tokens, which is checked here).
    """
    batch, n_img, hidden = image_features.shape
    if inputs_embeds.shape[0] != batch or inputs_embeds.shape[2] != hidden:
        raise ValueError(
            f"image features {image_features.shape} do not fit token embeddings {inputs_embeds.shape}"
        )
    is_image = input_ids == image_token_id  # (B, T)
    counts = is_image.sum(axis=1)
    for row, count in enumerate(counts.tolist()):
        if count != n_img:
            raise ValueError(
                f"row {row} holds {count} image tokens (id {image_token_id}); the vision "
                f"encoder produced {n_img} features per image"
            )
    out = inputs_embeds.copy()
    out[is_image] = image_features.reshape(batch * n_img, hidden).astype(out.dtype, copy=False)
    return out


_SPEC_FIELDS = (
    "image_size",
    "image_mean",
    "image_std",
    "image_token",
    "num_image_tokens",
    "prompt_template",
)


_TRIPLE = {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}


@register_architecture
class Llava(Architecture):
    """A fixed number of image tokens in the prompt template; one square image per row."""

    model_types = ("llava",)
    preprocessing_schema = {
        "required": [*_SPEC_FIELDS, "image_token_id"],
        "properties": {
            "image_size": {"type": "integer", "minimum": 1},
            "image_mean": _TRIPLE,
            "image_std": {**_TRIPLE, "items": {"type": "number", "exclusiveMinimum": 0}},
            "image_token": {"type": "string", "minLength": 1},
            "num_image_tokens": {"type": "integer", "minimum": 1},
            "prompt_template": {
                "type": "string",
                "allOf": [{"pattern": "\\{image\\}"}, {"pattern": "\\{prompt\\}"}],
            },
            "bos_token": {"type": ["string", "null"]},
            "extra": {"type": "object"},
        },
    }

    def __init__(self, spec: PreprocessSpec, image_token_id: int) -> None:
        self.spec = spec
        self.image_token_id = image_token_id

    @classmethod
    def from_preprocessing(cls, pre: Mapping[str, Any]) -> Llava:
        for name in (*_SPEC_FIELDS, "image_token_id"):
            if name not in pre:
                raise PreprocessingError(f"preprocessing.{name}", "is missing")
        try:
            spec = PreprocessSpec.from_dict(dict(pre))
        except (TypeError, ValueError, KeyError) as exc:
            raise PreprocessingError("preprocessing", f"is not a valid spec ({exc})") from None
        if "{image}" not in spec.prompt_template or "{prompt}" not in spec.prompt_template:
            raise PreprocessingError(
                "preprocessing.prompt_template", "must hold '{image}' and '{prompt}'"
            )
        if len(spec.image_mean) != 3 or len(spec.image_std) != 3 or 0.0 in spec.image_std:
            raise PreprocessingError(
                "preprocessing.image_mean/image_std", "need 3 values each, std non-zero"
            )
        image_token_id = pre["image_token_id"]
        if (
            not isinstance(image_token_id, int)
            or isinstance(image_token_id, bool)
            or image_token_id < 0
        ):
            raise PreprocessingError(
                "preprocessing.image_token_id", f"must be an integer >= 0, not {image_token_id!r}"
            )
        return cls(spec, image_token_id)

    def preprocessing(self) -> dict:
        return {**self.spec.to_dict(), "image_token_id": self.image_token_id}

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return preprocess_image(image, self.spec)

    def prompt_text(self, prompt: str, image: Any) -> str:
        return self.spec.prompt_template.format(image=self.spec.image_token, prompt=prompt.strip())

    def prompt_ids(self, tokenizer: Tokenizer, prompt: str, image: Any) -> list[int]:
        if self.spec.image_token in prompt:
            raise InputError(
                f"the prompt must not contain the image token '{self.spec.image_token}'"
            )
        ids = tokenizer.encode(format_prompt(prompt, self.spec)).ids
        self._check_image_tokens(ids, "the prompt")
        return ids

    def synthetic_ids(self, tokenizer: Tokenizer, text_ids: Sequence[int], image: Any) -> list[int]:
        spec = self.spec
        before, marker, after = spec.prompt_template.partition("{prompt}")
        placeholder = spec.image_token * spec.num_image_tokens
        head = tokenizer.encode(before.format(image=placeholder)).ids
        tail = tokenizer.encode(after.format(image=placeholder), add_special_tokens=False).ids
        ids = [*head, *text_ids, *tail] if marker else [*head, *tail, *text_ids]
        self._check_image_tokens(ids, "the template")
        return ids

    def synthetic_image(self, rng: np.random.Generator) -> Image.Image:
        size = self.spec.image_size
        return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))

    def image_features(
        self, vision: onnxruntime.InferenceSession, images: Sequence[Any]
    ) -> np.ndarray:
        pixels = np.stack(list(images))  # (B, 3, S, S)
        return vision.run(["image_features"], {"pixel_values": pixels})[0]  # (B, n_img, H)

    def inputs_embeds(
        self,
        embed_tokens: onnxruntime.InferenceSession,
        input_ids: np.ndarray,
        features: np.ndarray,
    ) -> np.ndarray:
        embeds = embed_tokens.run(["inputs_embeds"], {"input_ids": input_ids})[0]  # (B, T, H)
        return merge_image_features(embeds, input_ids, features, self.image_token_id)

    def position_ids(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, images: Sequence[Any]
    ) -> np.ndarray:
        return positions_from_mask(attention_mask)

    def vision_io(self, hidden_size: int) -> tuple[dict[str, list], dict[str, list]]:
        size = self.spec.image_size
        return (
            {"pixel_values": [None, 3, size, size]},
            {"image_features": [None, self.spec.num_image_tokens, hidden_size]},
        )

    def _check_image_tokens(self, ids: Sequence[int], what: str) -> None:
        n_image = sum(1 for i in ids if i == self.image_token_id)
        if n_image != self.spec.num_image_tokens:
            raise InputError(
                f"{what} tokenises to {n_image} image tokens, expected {self.spec.num_image_tokens}"
            )
