"""Measured latency in the manifest, as `select(..., max_latency_ms=X)` reads it (written by
`vlmprune profile --write-manifest`: vlmprune.runtime.profiling.latency).

Each variant's `latency` field maps an execution provider to its latest measurement:

    "latency": {
      "CPUExecutionProvider": {
        "provider": "CPUExecutionProvider", "device": "Intel(R) Xeon(R) ..., 2 cores",
        "measured": "2026-11-28T10:00:00Z", "onnxruntime": "1.32.0", "weights_mode": "shared",
        "batch": 1, "prompt_tokens": 32, "prompt_length": 104, "new_tokens": 32,
        "runs": 10, "warmup": 2,
        "ttft_ms": {"p50", "p90", "p95", "p99", "mean"}, "decode_ms_per_token": {...},
        "request_ms": {...}, "tokens_per_s": {...}, "vision_ms": {...}, "prefill_ms": {...},
        "peak_rss_mib": 310.5
      }
    }

A new measurement replaces the one of the same provider and keeps the others. A latency
budget is compared with `request_ms` at BUDGET_STATISTIC (p90): a whole request of the
profiled shape (vision + prefill + `new_tokens` decoded), met 9 times out of 10.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ManifestError
from .manifest import Variant

BUDGET_TIMING = "request_ms"
BUDGET_STATISTIC = "p90"


@dataclass(frozen=True)
class Measured:
    """One variant's latency on one provider, as far as a budget needs it."""

    variant: str
    request_ms: float  # BUDGET_TIMING at BUDGET_STATISTIC
    provider: str
    device: str


def measured(variant: Variant, provider: str, where: str) -> Measured | None:
    """The variant's measurement on `provider`, None if it has none; ManifestError if the
    entry is there but malformed (`where` names the field, e.g. "variants[2].latency")."""
    if variant.latency is None or provider not in variant.latency:
        return None
    entry = variant.latency[provider]
    field = f"{where}.{provider}.{BUDGET_TIMING}.{BUDGET_STATISTIC}"
    value = entry.get(BUDGET_TIMING, {}) if isinstance(entry, Mapping) else None
    value = value.get(BUDGET_STATISTIC) if isinstance(value, Mapping) else None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ManifestError(f"field '{field}' must be a number (milliseconds), not {value!r}")
    return Measured(variant.name, float(value), provider, str(entry.get("device", "unknown")))
