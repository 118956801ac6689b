"""What the runtime does differently per VLM architecture: image preprocessing, the prompt,
where the image features go, the prefill's position ids. One module per architecture,
named like the builder's adapter (`vlmprune.export.models.<arch>`); the interface is
`base.Architecture`.
"""

from __future__ import annotations

from . import (
    gemma3,  # noqa: F401  (registers Gemma3)
    llava,  # noqa: F401  (registers Llava)
    qwen2_vl,  # noqa: F401  (registers Qwen2VL for qwen2_vl and qwen2_5_vl)
    smolvlm,  # noqa: F401  (registers SmolVLM for smolvlm and idefics3)
)
from .base import ARCHITECTURES, Architecture


def architecture_class(model_type: str) -> type[Architecture] | None:
    """The architecture registered for `model_type`, None if this runtime has none."""
    return ARCHITECTURES.get(model_type)


def supported() -> list[str]:
    return sorted(ARCHITECTURES)
