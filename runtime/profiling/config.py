"""What a profile run is asked to do: provider, schedule, request shape, repeats."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..errors import InputError, VlmRuntimeError
from ..sessions import CPU, CUDA


class ProviderUnavailableError(VlmRuntimeError):
    """The requested execution provider cannot run here (e.g. CUDA without onnxruntime-gpu)."""


class ExecutionProvider(str, Enum):
    CPU = "cpu"
    CUDA = "cuda"

    @property
    def ort_providers(self) -> tuple[str, ...]:
        # CUDA keeps CPU as onnxruntime's fallback for the few nodes CUDA has no kernel for.
        return (CUDA, CPU) if self is ExecutionProvider.CUDA else (CPU,)


class Schedule(str, Enum):
    SEQUENTIAL = "sequential"  # one variant at a time, its decoder alone resident
    INTERLEAVED = "interleaved"  # all resident; timed requests round-robin over the variants


@dataclass(frozen=True)
class ProfileConfig:
    runs: int = 10
    warmup: int = 2
    prompt_tokens: int = 32  # text tokens of the question (image tokens and template extra)
    new_tokens: int = 32  # decoded per request, EOS ignored
    batch: int = 1
    schedule: Schedule = Schedule.SEQUENTIAL
    seed: int = 0  # the synthetic image and prompt

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedule", Schedule(self.schedule))
        for name, minimum, why in (
            ("runs", 1, ""),
            ("warmup", 0, ""),
            ("prompt_tokens", 1, ""),
            ("new_tokens", 2, " (the first token comes from the prefill; decode is timed on the rest)"),
            ("batch", 1, ""),
        ):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise InputError(f"{name} must be an integer >= {minimum}, not {value!r}{why}")
