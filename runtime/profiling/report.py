"""What `vlmprune profile` reports: timing summaries, the baseline, speedups against the ideal.

`Stats` summarises one timing over the timed requests (p50/p90/p95/p99/mean); a
`VariantProfile` holds a variant's timings, memory and speedups; a `ProfileReport` is the
whole run, and its `to_json()` is the command's JSON. The speedup of a variant is the
baseline's decode ms/token p50 over the variant's (the decoder part, where pruning acts);
the ideal is (N - k_base) / (N - k): N / (N - k) against the unpruned model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..manifest import Manifest
from ..sessions import WeightsMode
from .config import ProfileConfig

STATISTICS = ("p50", "p90", "p95", "p99", "mean")
TIMINGS = (
    "vision_ms",
    "prefill_ms",
    "ttft_ms",
    "decode_ms_per_token",
    "tokens_per_s",
    "request_ms",
)
FULL = "full"


@dataclass(frozen=True)
class Stats:
    p50: float
    p90: float
    p95: float
    p99: float
    mean: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        """Percentiles with linear interpolation between the closest ranks (numpy's default)."""
        if len(values) == 0:
            raise ValueError("no values to summarise")
        data = np.asarray(values, dtype=np.float64)
        p50, p90, p95, p99 = (float(x) for x in np.percentile(data, [50, 90, 95, 99]))
        return cls(p50, p90, p95, p99, float(data.mean()))

    def to_json(self) -> dict[str, float]:
        return {name: round(getattr(self, name), 4) for name in STATISTICS}  # 0.1 µs


@dataclass(frozen=True)
class Baseline:
    name: str
    removed_blocks: tuple[int, ...]
    why: str  # one sentence: which variant speedups are measured against


@dataclass
class VariantProfile:
    name: str
    removed_blocks: tuple[int, ...]
    timings: dict[str, Stats]  # TIMINGS -> summary over the timed requests
    load_ms: float  # creating the decoder session (first load; weights file in the page cache)
    peak_rss_mib: float
    pss_mib: float | None  # after the runs: shared weight pages counted once (Linux)
    gpu_memory_mib: float | None
    ideal_speedup: float = 1.0
    speedup_vs_full: float | None = None  # baseline decode ms/token p50 / this variant's

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "removed_blocks": list(self.removed_blocks),
            **{key: stats.to_json() for key, stats in self.timings.items()},
            "speedup_vs_full": self.speedup_vs_full,
            "ideal_speedup": self.ideal_speedup,
            "fraction_of_ideal": (
                self.speedup_vs_full / self.ideal_speedup if self.speedup_vs_full else None
            ),
            "load_ms": self.load_ms,
            "peak_rss_mib": self.peak_rss_mib,
            "pss_mib": self.pss_mib,
            "gpu_memory_mib": self.gpu_memory_mib,
        }


@dataclass
class ProfileReport:
    manifest: Path
    provider: str
    device: str
    config: ProfileConfig
    num_blocks: int
    prompt_length: int
    weights_mode: WeightsMode
    baseline: Baseline
    variants: list[VariantProfile]
    peak_rss_scope: str  # what each variant's peak RSS covers
    created: str = field(
        default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    )

    def variant(self, name: str) -> VariantProfile:
        return next(v for v in self.variants if v.name == name)

    def to_json(self) -> dict:
        c = self.config
        return {
            "provider": self.provider,
            "device": self.device,
            "variants": [v.to_json() for v in self.variants],
            "baseline": {
                "name": self.baseline.name,
                "removed_blocks": list(self.baseline.removed_blocks),
                "why": self.baseline.why,
            },
            "manifest": str(self.manifest),
            "num_blocks": self.num_blocks,
            "runs": c.runs,
            "warmup": c.warmup,
            "batch": c.batch,
            "prompt_tokens": c.prompt_tokens,
            "prompt_length": self.prompt_length,
            "new_tokens": c.new_tokens,
            "schedule": c.schedule.value,
            "weights_mode": self.weights_mode.value,
            "peak_rss_scope": self.peak_rss_scope,
            "onnxruntime": ort.__version__,
            "created": self.created,
        }


def choose_baseline(manifest: Manifest) -> Baseline:
    """`full` if the manifest has it, else an unpruned variant, else the least pruned one."""
    by_name = {v.name: v for v in manifest.variants}
    if FULL in by_name and not by_name[FULL].removed_blocks:
        return Baseline(FULL, (), f"'{FULL}' (nothing removed)")
    unpruned = next((v for v in manifest.variants if not v.removed_blocks), None)
    if unpruned is not None:
        return Baseline(
            unpruned.name, (), f"'{unpruned.name}', the unpruned variant (none is named '{FULL}')"
        )
    least = min(manifest.variants, key=lambda v: len(v.removed_blocks))
    k = len(least.removed_blocks)
    return Baseline(
        least.name,
        least.removed_blocks,
        f"'{least.name}', the least pruned variant ({k} block(s) removed): the manifest has "
        "no unpruned variant",
    )


def ideal_speedup(num_blocks: int, removed: int, baseline_removed: int = 0) -> float:
    """Decoder-part speedup if time were proportional to the blocks kept: (N - k_b) / (N - k)."""
    return (num_blocks - baseline_removed) / (num_blocks - removed)


def fill_speedups(profiles: list[VariantProfile], baseline: Baseline, num_blocks: int) -> None:
    base = next(p for p in profiles if p.name == baseline.name)
    base_decode = base.timings["decode_ms_per_token"].p50
    for p in profiles:
        p.ideal_speedup = ideal_speedup(
            num_blocks, len(p.removed_blocks), len(baseline.removed_blocks)
        )
        p.speedup_vs_full = base_decode / p.timings["decode_ms_per_token"].p50
