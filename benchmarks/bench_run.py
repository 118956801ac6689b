"""Stages of a long benchmark run under one time budget, its JSON rewritten after each.

For runs that get one shot on a remote machine (benchmarks/gpu_decode.py): a stage that
raises is recorded (error type and message, traceback tail) and the next one runs; a stage
whose minimum time no longer fits the budget is skipped and says so; the JSON is written
atomically (temporary file + rename) after every stage, so a run killed from outside still
leaves every finished stage's results (vlmprune.export.io.atomic_write_json).
"""

from __future__ import annotations

import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from vlmprune.export.io import atomic_write_json  # temporary file + rename


class Status(str, Enum):
    OK = "ok"
    ERROR = "error"
    SKIPPED = "skipped"


def log(message: str) -> None:
    """A progress line on stderr, with the time since the run started."""
    print(f"[{time.perf_counter() - _START:7.1f} s] {message}", file=sys.stderr, flush=True)


_START = time.perf_counter()


@dataclass
class Clock:
    """The run's deadline, and the current stage's (the earlier of its cap and the run's)."""

    budget_s: float
    started: float = field(default_factory=time.perf_counter)
    stage_deadline: float | None = None

    def left(self) -> float:
        """Seconds left to the current stage (to the run outside a stage)."""
        end = self.started + self.budget_s
        if self.stage_deadline is not None:
            end = min(end, self.stage_deadline)
        return end - time.perf_counter()

    def run_left(self) -> float:
        return self.started + self.budget_s - time.perf_counter()


class StageRunner:
    """Runs named stages in order into `report`, writing `out` after each one.

    A stage is a function of the clock returning a dict merged into the report (its own
    keys: several per stage allowed); `report["stages"][name]` holds its status and time.
    """

    def __init__(self, report: dict, out: Path, clock: Clock) -> None:
        self.report, self.out, self.clock = report, out, clock
        report.setdefault("stages", {})
        atomic_write_json(out, report)

    def run(
        self, name: str, fn: Callable[[Clock], dict], min_s: float, cap_s: float | None
    ) -> bool:
        """Run `fn` if `min_s` seconds are left (cap: the stage's own limit); True if it
        finished without error."""
        entry: dict = {"min_s": min_s, "cap_s": cap_s}
        left = self.clock.run_left()
        if left < min_s:
            entry |= {
                "status": Status.SKIPPED.value,
                "why": f"{left:.0f} s left, needs {min_s:.0f} s",
            }
            log(f"{name}: skipped ({entry['why']})")
            return self._record(name, entry)
        log(f"{name}: start ({left:.0f} s left in the run)")
        start = time.perf_counter()
        self.clock.stage_deadline = start + cap_s if cap_s is not None else None
        try:
            self.report.update(fn(self.clock))
            entry["status"] = Status.OK.value
        except Exception as exc:  # recorded; the next stage still runs
            entry |= {
                "status": Status.ERROR.value,
                "error": f"{type(exc).__name__}: {exc}"[:2000],
                "traceback": traceback.format_exc().splitlines()[-12:],
            }
        finally:
            self.clock.stage_deadline = None
        entry["seconds"] = time.perf_counter() - start
        log(f"{name}: {entry['status']} in {entry['seconds']:.1f} s" + (
            f" ({entry['error']})" if "error" in entry else ""
        ))  # fmt: skip
        return self._record(name, entry)

    def _record(self, name: str, entry: dict) -> bool:
        self.report["stages"][name] = entry
        atomic_write_json(self.out, self.report)
        return entry["status"] == Status.OK.value


def versions() -> dict:
    """Python, platform and the versions of the packages a run may use (None: not importable)."""
    out: dict = {"python": sys.version.split()[0], "platform": platform.platform()}
    for module in ("numpy", "onnxruntime", "onnx", "torch", "transformers", "tokenizers"):
        try:
            out[module] = __import__(module).__version__
        except Exception:  # absent or broken: recorded as such
            out[module] = None
    try:
        import torch

        out["torch_cuda"] = torch.version.cuda
    except Exception:
        out["torch_cuda"] = None
    return out
