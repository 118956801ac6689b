"""Imports every built-in format so that each registers itself (see base.get_format)."""

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
