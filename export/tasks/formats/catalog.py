"""Every built-in format, registered on import: `get_format(name)` and `format_names()`."""

from __future__ import annotations

from . import (  # noqa: F401
    ai2d,
    chartqa,
    coco_captions,
    docvqa,
    hf,
    scienceqa,
    stvqa,
    tallyqa,
    textvqa,
    vqav2,
)
from .base import FORMATS, Format


def get_format(name: str) -> Format:
    return FORMATS.get(name)


def format_names() -> list[str]:
    return FORMATS.names()
