"""The runtime's exceptions and warnings: one class per kind of problem, each naming its cause.

Everything the runtime raises on purpose derives from `VlmRuntimeError`, so a caller (or
the CLI, which prints it as one line) can catch them all; the subclasses let code react to
one kind: a broken variant file (`IntegrityError`, `VariantUnavailableError`) concerns that
variant only, a bad request (`InputError`) that request only.
"""

from __future__ import annotations


class VlmRuntimeError(Exception):
    """Base of the runtime's errors; the message is one line meant for the user."""


class ManifestError(VlmRuntimeError):
    """The manifest is unreadable or fails validation (the message names the field)."""


class UnsupportedSchemaError(ManifestError):
    """The manifest's `schema_version` is newer than this runtime knows."""


class UnsafePathError(ManifestError):
    """A manifest path is absolute or resolves outside the manifest's folder."""


class IntegrityError(VlmRuntimeError):
    """A file's sha256 (or size) differs from the manifest: tampered, truncated or stale."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class VariantUnavailableError(VlmRuntimeError):
    """A variant cannot run: unknown name, file missing, or onnxruntime refused its graph."""

    def __init__(self, message: str, variant: str) -> None:
        super().__init__(message)
        self.variant = variant


class ProviderError(VariantUnavailableError):
    """An execution provider cannot serve a variant as asked: CUDA graphs requested where the
    CUDA provider is not in use or the decoder is not fp16 gqa, or an fp16 decoder on a
    provider without kernels for it. The message names the variant and the provider."""


class InputError(VlmRuntimeError, ValueError):
    """A bad request: missing/unreadable image, unsupported image mode, empty or too long prompt."""


class UnknownHintError(InputError):
    """A task hint that names no dataset, task type or variant (raised with `strict=True`)."""


class LatencyBudgetError(VlmRuntimeError):
    """No variant's measured latency meets `max_latency_ms`, or none was measured."""


class UnknownHintWarning(UserWarning):
    """A task hint was not recognised; the generic variant ran instead."""


class DetectionFallbackWarning(UserWarning):
    """Detection was asked for but is not possible (no detector in the manifest)."""


class ProviderWarning(UserWarning):
    """An execution provider was asked for but onnxruntime is not using it."""
