"""SmolVLM / SmolVLM2 / Idefics3 on the runtime side: each image cut into fixed-size tiles
plus a global image (`smolvlm_images`), the model's chat template (rendered by the builder
into pieces), `image_seq_len` image tokens per tile between the processor's markers, image
features at the `<image>` positions in token order, and plain (B, T) positions.

Mirrors transformers 5.23: `Idefics3Processor` / `SmolVLMProcessor` expand the template's one
`<image>` per image into its tiles' markers and tokens, and the model puts the connector's
features at every `<image>` token in order (`masked_scatter`). The decoder is a plain Llama,
so positions count real tokens only (left padding does not shift them). The builder's side
is `vlmprune.export.models.smolvlm`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
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
from .images import stats_to_lists, stats_to_tuples
from .smolvlm_images import IMAGE_TOKEN, Tiles, TileSpec, image_prompt, preprocess_image
from .text_spec import TextSpec

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

MAX_TILES_PER_CALL = 64  # bounds the vision call's activations; a tile's cost is fixed


@dataclass(frozen=True, kw_only=True)
class SmolSpec(TextSpec):
    """The manifest's `preprocessing` section for SmolVLM / Idefics3 (image_token_id is
    IMAGE_TOKEN's)."""

    tiles: TileSpec
    image_seq_len: int  # image tokens per tile (after the connector's pixel shuffle)

    def to_dict(self) -> dict:
        return {
            "tiles": stats_to_lists(asdict(self.tiles)),
            "image_seq_len": self.image_seq_len,
            "image_token": IMAGE_TOKEN,
            **self.text_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SmolSpec:
        return cls(
            tiles=TileSpec(**stats_to_tuples(d["tiles"])),
            image_seq_len=int(d["image_seq_len"]),
            **cls.text_fields(d),
        )


_POSITIVE = {"type": "integer", "minimum": 1}
_TRIPLE = {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}


@register_architecture
class SmolVLM(ScatteredFeatures, Architecture):
    """One image per request, split into tiles, in the model's chat template."""

    model_types = ("smolvlm", "idefics3")
    preprocessing_schema = {
        "required": ["tiles", "image_seq_len", "chat_prompt", "image_token", "stop_tokens"],
        "properties": {
            "tiles": {
                "type": "object",
                "required": ["longest_edge", "tile", "do_image_splitting"],
                "properties": {
                    "longest_edge": _POSITIVE,
                    "tile": _POSITIVE,
                    "do_image_splitting": {"type": "boolean"},
                    "image_mean": _TRIPLE,
                    "image_std": {**_TRIPLE, "items": {"type": "number", "exclusiveMinimum": 0}},
                    "rescale_factor": {"type": "number", "exclusiveMinimum": 0},
                    "resample": {"type": "integer", "minimum": 0},
                },
            },
            "image_seq_len": _POSITIVE,
            "chat_prompt": {
                "type": "object",
                "required": ["parts", "slots"],
                "properties": {
                    "parts": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                    "slots": {"type": "array", "items": {"enum": ["image", "prompt"]}},
                },
            },
            "image_token": {"const": IMAGE_TOKEN},
            "stop_tokens": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        },
    }

    def __init__(self, spec: SmolSpec) -> None:
        check_one_image(spec.chat_prompt)
        self.spec = spec
        self.image_token_id = spec.image_token_id

    @classmethod
    def from_preprocessing(cls, pre: Mapping[str, Any]) -> SmolVLM:
        required = ("tiles", "image_seq_len", "chat_prompt", "image_token_id", "eos_token")
        spec = parse_section(pre, required, SmolSpec.from_dict, "SmolVLM")
        t = spec.tiles
        check_stats("preprocessing.tiles", t.image_mean, t.image_std)
        if min(t.tile, t.longest_edge, spec.image_seq_len) < 1:
            raise PreprocessingError(
                "preprocessing.tiles", "tile, longest_edge and image_seq_len must be >= 1"
            )
        return cls(spec)

    def preprocessing(self) -> dict:
        return self.spec.to_dict()

    def preprocess(self, image: Image.Image) -> Tiles:
        return preprocess_image(image, self.spec.tiles)

    def prompt_text(self, prompt: str, image: Any) -> str:
        return self.spec.chat_prompt.render(prompt, IMAGE_TOKEN)

    def prompt_ids(self, tokenizer: Tokenizer, prompt: str, image: Tiles) -> list[int]:
        if IMAGE_TOKEN in prompt:
            raise InputError(f"the prompt must not contain the image token '{IMAGE_TOKEN}'")
        expanded = image_prompt(image, self.spec.image_seq_len)
        ids = tokenizer.encode(self.spec.chat_prompt.render(prompt, expanded)).ids
        self._check_image_tokens(ids, image, "the prompt")
        return ids

    def synthetic_ids(self, tokenizer: Tokenizer, text_ids: Sequence[int], image: Any) -> list[int]:
        expanded = image_prompt(image, self.spec.image_seq_len)
        ids = self.spec.chat_prompt.ids_around(tokenizer, text_ids, expanded)
        self._check_image_tokens(ids, image, "the template")
        return ids

    def synthetic_image(self, rng: np.random.Generator) -> Image.Image:
        # A square of size.longest_edge: (longest_edge / tile)^2 tiles + the global image.
        side = self.spec.tiles.longest_edge
        return Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))

    def image_features(
        self, vision: onnxruntime.InferenceSession, images: Sequence[Tiles]
    ) -> np.ndarray:
        """(total tiles x image_seq_len, H): every tile of every image, in order."""
        pixels = np.concatenate([im.pixels for im in images])  # (N, C, tile, tile)
        out = [
            vision.run(["image_features"], {"pixel_values": pixels[i : i + MAX_TILES_PER_CALL]})[0]
            for i in range(0, pixels.shape[0], MAX_TILES_PER_CALL)
        ]
        return np.concatenate(out)

    def position_ids(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, images: Sequence[Any]
    ) -> np.ndarray:
        return positions_from_mask(attention_mask)

    def vision_io(self, hidden_size: int) -> tuple[dict[str, list], dict[str, list]]:
        tile = self.spec.tiles.tile
        return {"pixel_values": [None, 3, tile, tile]}, {"image_features": [None, hidden_size]}

    def _check_image_tokens(self, ids: Sequence[int], image: Tiles, what: str) -> None:
        found = sum(1 for i in ids if i == self.image_token_id)
        expected = image.pixels.shape[0] * self.spec.image_seq_len
        if found != expected:
            raise InputError(f"{what} tokenises to {found} image tokens, expected {expected}")
