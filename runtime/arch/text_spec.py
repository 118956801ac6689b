"""The text side of an architecture whose prompt comes from the model's chat template
(Qwen2-VL, SmolVLM, Gemma3): the template's pieces, the image token's id, the stop and pad
tokens and the tokenizer file, as the manifest's `preprocessing` section holds them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .chat import ChatPrompt


@dataclass(frozen=True, kw_only=True)
class TextSpec:
    chat_prompt: ChatPrompt
    image_token_id: int
    eos_token: str
    pad_token: str
    stop_tokens: tuple[str, ...]  # generation ends at any of these (eos_token first)
    tokenizer_file: str = "tokenizer.json"

    def text_dict(self) -> dict:
        return {
            "chat_prompt": self.chat_prompt.to_dict(),
            "image_token_id": self.image_token_id,
            "eos_token": self.eos_token,
            "pad_token": self.pad_token,
            "stop_tokens": list(self.stop_tokens),
            "tokenizer_file": self.tokenizer_file,
        }

    @staticmethod
    def text_fields(d: Mapping[str, Any]) -> dict:
        """`text_dict`'s inverse, as keyword arguments (KeyError/ValueError if malformed)."""
        return {
            "chat_prompt": ChatPrompt.from_dict(d["chat_prompt"]),
            "image_token_id": int(d["image_token_id"]),
            "eos_token": str(d["eos_token"]),
            "pad_token": str(d["pad_token"]),
            "stop_tokens": tuple(str(t) for t in d.get("stop_tokens", [d["eos_token"]])),
            "tokenizer_file": str(d.get("tokenizer_file", "tokenizer.json")),
        }
