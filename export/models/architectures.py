"""The supported architectures: importing this module registers every adapter.

A new architecture is one module beside `llava.py` (its adapter, `@register_adapter`)
and one line here; the runtime's side is `vlmprune.runtime.arch.<same name>`.
"""

from __future__ import annotations

from transformers import PreTrainedModel

from . import (
    gemma3,  # noqa: F401  (registers Gemma3Adapter)
    llava,  # noqa: F401  (registers LlavaAdapter)
    qwen2_vl,  # noqa: F401  (registers QwenVLAdapter: qwen2_vl, qwen2_5_vl)
    smolvlm,  # noqa: F401  (registers SmolVLMAdapter: smolvlm, idefics3)
)
from .adapter import ADAPTERS, ModelAdapter


def adapter_for(model: PreTrainedModel) -> ModelAdapter:
    return ADAPTERS.get(model.config.model_type)


def supported_model_types() -> list[str]:
    return ADAPTERS.names()
