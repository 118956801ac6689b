"""Write measured latency into the manifest (`vlmprune profile --write-manifest`).

The field's layout and how a latency budget reads it: vlmprune.runtime.latency.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..manifest import load_manifest, parse_manifest
from .report import ProfileReport, VariantProfile


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
