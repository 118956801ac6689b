"""onnxruntime's per-operator profile of one request per variant, kept apart from the timings.

Profiling slows every node down, so it never runs during the timed requests: each variant
gets fresh sessions with `enable_profiling` (same options and providers otherwise), one
untimed request of the profiled shape, and onnxruntime's Chrome-trace JSON per graph in
the output folder. The summary adds up the kernel time per operator type.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from ..manifest import FileRef
from ..sessions import session_options
from .profiler import Profiler, run_once


@dataclass(frozen=True)
class OperatorTime:
    op_type: str
    ms: float  # summed kernel time over the request
    calls: int
    share: float  # of the graph's summed kernel time


@dataclass(frozen=True)
class GraphProfile:
    graph: str  # vision_encoder, embed_tokens, decoder_<variant>
    trace: Path  # onnxruntime's JSON trace
    operators: tuple[OperatorTime, ...]  # slowest first

    def to_json(self, top: int | None = None) -> dict:
        return {
            "graph": self.graph,
            "trace": str(self.trace),
            "operators": [
                {"op_type": o.op_type, "ms": o.ms, "calls": o.calls, "share": o.share}
                for o in self.operators[:top]
            ],
        }


def operator_profiles(profiler: Profiler, variant: str, out_dir: str | Path) -> list[GraphProfile]:
    """One profiled request on `variant`; traces written under `out_dir`."""
    out_dir = Path(out_dir).absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = profiler.manifest
    graphs = {
        "vision_encoder": manifest.shared.vision_encoder,
        "embed_tokens": manifest.shared.embed_tokens,
        f"decoder_{variant}": manifest.variant(variant).decoder,
    }
    sessions = {
        name: _profiling_session(profiler, ref, out_dir / f"{variant}.{name}")
        for name, ref in graphs.items()
    }
    vision, embed, decoder = sessions.values()
    run_once(vision, embed, decoder, manifest, profiler.request, profiler.config.new_tokens)
    return [_finish(name, session) for name, session in sessions.items()]


def _profiling_session(profiler: Profiler, ref: FileRef, prefix: Path) -> ort.InferenceSession:
    options = session_options(profiler.runtime.config)
    options.enable_profiling = True
    options.profile_file_prefix = str(prefix)
    return ort.InferenceSession(
        str(ref.path), sess_options=options, providers=list(profiler.runtime.config.providers)
    )


def _finish(name: str, session: ort.InferenceSession) -> GraphProfile:
    trace = Path(session.end_profiling()).absolute()
    return GraphProfile(name, trace, summarise_trace(trace))


def summarise_trace(trace: Path) -> tuple[OperatorTime, ...]:
    """Kernel time per operator type from an onnxruntime profile (Chrome trace events)."""
    events = json.loads(Path(trace).read_text())
    total_us: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    for event in events:
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
            continue
        op = event.get("args", {}).get("op_name", "?")
        total_us[op] += float(event.get("dur", 0))
        calls[op] += 1
    whole = sum(total_us.values()) or 1.0
    ranked = sorted(total_us, key=total_us.get, reverse=True)
    return tuple(
        OperatorTime(op, total_us[op] / 1e3, calls[op], total_us[op] / whole) for op in ranked
    )
