"""Measured latency in the manifest: written by `vlmprune profile --write-manifest`, read by
`select(..., max_latency_ms=X)`.

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

import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ManifestError
from .manifest import Variant, load_manifest, parse_manifest

if TYPE_CHECKING:
    from .profiling.report import ProfileReport, VariantProfile

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


def latency_entry(report: ProfileReport, profile: VariantProfile) -> dict:
    """What `--write-manifest` stores for one variant (see the module docstring)."""
    c = report.config
    out = report.to_json()
    return {
        "provider": report.provider,
        "device": report.device,
        "measured": report.created,
        "onnxruntime": out["onnxruntime"],
        "weights_mode": out["weights_mode"],
        "schedule": out["schedule"],
        "batch": c.batch,
        "prompt_tokens": c.prompt_tokens,
        "prompt_length": report.prompt_length,
        "new_tokens": c.new_tokens,
        "runs": c.runs,
        "warmup": c.warmup,
        **{key: stats.to_json() for key, stats in profile.timings.items()},
        "peak_rss_mib": profile.peak_rss_mib,
        "pss_mib": profile.pss_mib,
        "gpu_memory_mib": profile.gpu_memory_mib,
    }


def write_latency(report: ProfileReport) -> Path:
    """Store every profiled variant's latency in the report's manifest, atomically.

    Only the `latency` fields of the profiled variants change (other providers' entries
    stay); the result is validated by the runtime's reader before it replaces the file.
    """
    path = Path(report.manifest)
    load_manifest(path)  # still the manifest that was profiled, and valid
    raw = json.loads(path.read_text(encoding="utf-8"))
    profiled = {p.name: p for p in report.variants}
    for entry in raw["variants"]:
        profile = profiled.get(entry.get("name"))
        if profile is None:
            continue
        old = entry.get("latency")
        latency = dict(old) if isinstance(old, dict) and _is_keyed_by_provider(old) else {}
        latency[report.provider] = latency_entry(report, profile)
        entry["latency"] = latency
    parse_manifest(raw, path.absolute())  # refuse to write what the runtime would refuse
    return _atomic_write_json(path, raw)


def _is_keyed_by_provider(latency: dict) -> bool:
    return all(k.endswith("ExecutionProvider") and isinstance(v, dict) for k, v in latency.items())


def _atomic_write_json(path: Path, payload: object) -> Path:
    """Temp file in the same folder, fsync, rename; the file keeps its permissions."""
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(payload, indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
