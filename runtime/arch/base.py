"""The interface every architecture module implements, and their registry.

The generic parts of the runtime (api, profiling, the greedy loop) ask an `Architecture`
for everything that differs between VLMs: how an image becomes vision-encoder inputs, how
a prompt becomes token ids around the image, how image features enter the token
embeddings, and which position ids the decoder's prefill gets. Decode steps then advance
every position by one, whatever its shape ((B, T), or (3, B, T) for M-RoPE).

Preprocessed images are whatever the architecture makes of one image (a fixed-size array
for LLaVA; patches plus their grid for Qwen2-VL): the generic code only passes them back to
the same architecture, so tiles (SmolVLM) or per-image token counts fit the interface too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from PIL import Image

if TYPE_CHECKING:  # onnxruntime and tokenizers come with whoever creates the sessions
    import onnxruntime
    from tokenizers import Tokenizer


class PreprocessingError(ValueError):
    """The manifest's `preprocessing` section does not fit the architecture."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field  # e.g. "preprocessing.image_size"
        self.problem = problem


class Architecture(ABC):
    """The runtime side of one VLM architecture (named like the builder's adapter)."""

    model_types: ClassVar[tuple[str, ...]]  # the manifest's `model.architecture` values
    # Position ids are (position_rows, B, T) when set (3 for M-RoPE), else (B, T).
    position_rows: ClassVar[int | None] = None
    # JSON Schema of this architecture's own `preprocessing` fields (the builder's manifest
    # schema applies it by `model.architecture`).
    preprocessing_schema: ClassVar[dict]

    @classmethod
    @abstractmethod
    def from_preprocessing(cls, pre: Mapping[str, Any]) -> Architecture:
        """Build from the manifest's `preprocessing` section; PreprocessingError if invalid."""

    @abstractmethod
    def preprocessing(self) -> dict:
        """The manifest's `preprocessing` section (tokenizer entries aside): the inverse of
        `from_preprocessing`."""

    @abstractmethod
    def preprocess(self, image: Image.Image) -> Any:
        """One RGB-convertible image -> what `image_features` takes for it."""

    @abstractmethod
    def prompt_text(self, prompt: str, image: Any) -> str:
        """The text the model is given for `prompt` about one preprocessed image, with the
        image placeholder once (as a chat template renders it, before it is expanded to the
        image's tokens)."""

    @abstractmethod
    def prompt_ids(self, tokenizer: Tokenizer, prompt: str, image: Any) -> list[int]:
        """The model's token ids for `prompt` about one preprocessed image (InputError if
        the prompt cannot be used, e.g. it holds the image placeholder itself)."""

    @abstractmethod
    def synthetic_ids(self, tokenizer: Tokenizer, text_ids: Sequence[int], image: Any) -> list[int]:
        """`prompt_ids` with `text_ids` where the user's prompt goes (for profiling)."""

    @abstractmethod
    def synthetic_image(self, rng: np.random.Generator) -> Image.Image:
        """A random image of the size profiling uses."""

    @abstractmethod
    def image_features(
        self, vision: onnxruntime.InferenceSession, images: Sequence[Any]
    ) -> np.ndarray:
        """The vision encoder's output for a batch of preprocessed images."""

    @abstractmethod
    def inputs_embeds(
        self,
        embed_tokens: onnxruntime.InferenceSession,
        input_ids: np.ndarray,
        features: np.ndarray,
    ) -> np.ndarray:
        """(B, T, H) decoder inputs: token embeddings with the image features merged in."""

    @abstractmethod
    def position_ids(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, images: Sequence[Any]
    ) -> np.ndarray:
        """Position ids of the prefill for a left-padded batch."""

    def decoder_mask(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """The decoder's attention_mask for a left-padded batch: 0 padding, 1 token by
        default; an architecture whose decoder attends differently to some tokens marks
        them with other values (Gemma3: 2 for an image token)."""
        return attention_mask

    @abstractmethod
    def vision_io(self, hidden_size: int) -> tuple[dict[str, list], dict[str, list]]:
        """The vision encoder's inputs and outputs, name -> dims (None: symbolic), as this
        architecture feeds and reads them (`vlmprune manifest validate` checks the graph)."""


def scatter_features(
    embed_tokens: onnxruntime.InferenceSession,
    input_ids: np.ndarray,
    features: np.ndarray,
    image_token_id: int,
) -> np.ndarray:
    """(B, T, H) token embeddings with `features` (N, H) at the N image tokens, row-major:
    as transformers' masked_scatter, for architectures whose vision graph returns the
    features of all images of a call flattened (Qwen2-VL, SmolVLM)."""
    embeds = embed_tokens.run(["inputs_embeds"], {"input_ids": input_ids})[0]  # (B, T, H)
    is_image = input_ids == image_token_id
    if int(is_image.sum()) != features.shape[0]:
        raise ValueError(
            f"{int(is_image.sum())} image tokens for {features.shape[0]} image features"
        )
    embeds = embeds.copy()
    embeds[is_image] = features.astype(embeds.dtype, copy=False)
    return embeds


class ScatteredFeatures:
    """`inputs_embeds` for architectures whose vision graph returns every image token's
    features flattened in token order (Qwen2-VL, SmolVLM, Gemma3); they set image_token_id."""

    image_token_id: int

    def inputs_embeds(
        self,
        embed_tokens: onnxruntime.InferenceSession,
        input_ids: np.ndarray,
        features: np.ndarray,
    ) -> np.ndarray:
        return scatter_features(embed_tokens, input_ids, features, self.image_token_id)


def parse_section(
    pre: Mapping[str, Any], required: Sequence[str], parse: Callable[[Mapping], Any], what: str
) -> Any:
    """`parse(pre)` after checking `required` fields are present; one PreprocessingError
    naming the field (or saying the section is not a valid `what` spec) otherwise."""
    for name in required:
        if name not in pre:
            raise PreprocessingError(f"preprocessing.{name}", "is missing")
    try:
        return parse(pre)
    except (TypeError, ValueError, KeyError) as exc:
        raise PreprocessingError("preprocessing", f"is not a valid {what} spec ({exc})") from None


def check_stats(where: str, mean: Sequence[float], std: Sequence[float]) -> None:
    """An image spec's normalisation: 3 means, 3 non-zero standard deviations."""
    if len(mean) != 3 or len(std) != 3 or 0.0 in std:
        raise PreprocessingError(
            f"{where}.image_mean/image_std", "need 3 values each, std non-zero"
        )


def check_one_image(chat: Any) -> None:
    """A chat prompt (chat.ChatPrompt) for one image per request."""
    if chat.num_images != 1:
        raise PreprocessingError(
            "preprocessing.chat_prompt.slots", "must hold exactly one 'image' slot"
        )


ARCHITECTURES: dict[str, type[Architecture]] = {}


def register_architecture(cls: type[Architecture]) -> type[Architecture]:
    for model_type in cls.model_types:
        ARCHITECTURES[model_type] = cls
    return cls
