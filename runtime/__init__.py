"""vlmprune's on-device runtime. Imports only onnxruntime, numpy, pillow and tokenizers.

    from vlmprune.runtime import Runtime
    runtime = Runtime.from_manifest("variants/demo/manifest.json")
    result = runtime.generate("photo.png", "What color is the circle?", task_hint="vqa")
    print(result.text, result.variant, result.why)

Names are imported on first use, so `vlmprune.runtime.arch.llava` (which the builder
imports) does not pull in onnxruntime.
"""

from __future__ import annotations

import importlib

from .errors import (
    DetectionFallbackWarning,
    InputError,
    IntegrityError,
    LatencyBudgetError,
    ManifestError,
    ProviderError,
    ProviderWarning,
    UnknownHintError,
    UnknownHintWarning,
    UnsafePathError,
    UnsupportedSchemaError,
    VariantUnavailableError,
    VlmRuntimeError,
)

_LAZY = {
    "Runtime": "api",
    "Request": "api",
    "Result": "api",
    "Timings": "api",
    "Selection": "select",
    "Reason": "select",
    "Manifest": "manifest",
    "Variant": "manifest",
    "load_manifest": "manifest",
    "SCHEMA_VERSION": "manifest",
    "TaskDetector": "detect",
    "Detection": "detect",
    "WeightsMode": "sessions",
    "SessionConfig": "sessions",
}

__all__ = [
    "DetectionFallbackWarning",
    "InputError",
    "IntegrityError",
    "LatencyBudgetError",
    "ManifestError",
    "ProviderError",
    "ProviderWarning",
    "UnknownHintError",
    "UnknownHintWarning",
    "UnsafePathError",
    "UnsupportedSchemaError",
    "VariantUnavailableError",
    "VlmRuntimeError",
    *_LAZY,
]


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
