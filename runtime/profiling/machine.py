"""What the profile runs on, and how much memory it holds: /proc, nvidia-smi; no torch.

Peak RSS is the kernel's high-water mark (VmHWM), reset between variants by writing "5" to
/proc/self/clear_refs (Linux >= 4.0), so each variant's peak is its own. Where the reset is
not possible the peak is the process's since it started, and `reset_peak_rss` says so.
RSS counts a memory-mapped page once per mapping, so with shared weights (every session
maps the one weights file) it overstates memory; PSS, read after the runs, does not.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import subprocess
import sys
from pathlib import Path

CUDA = "CUDAExecutionProvider"
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_SMAPS_ROLLUP = Path("/proc/self/smaps_rollup")


def device_name(providers: tuple[str, ...]) -> str:
    """The GPU's name when CUDA is the first provider, else the CPU model and core count."""
    if providers and providers[0] == CUDA:
        names = _nvidia_smi("--query-gpu=name", "--format=csv,noheader")
        if names:
            return names[0]
        return "CUDA device (name unknown: nvidia-smi not found)"
    model = _cpu_model() or platform.processor() or platform.machine() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores"


def reset_peak_rss() -> bool:
    """Start a new high-water mark; False where the kernel does not allow it."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mib() -> float:
    """Peak resident set size in MiB since the last `reset_peak_rss` (or process start)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def pss_mib() -> float | None:
    """Proportional set size now, in MiB (Linux): each resident page counted once, shared
    pages divided among the processes mapping them. Unlike RSS, a weights file that several
    sessions memory-map counts once. None where /proc/self/smaps_rollup is missing."""
    try:
        for line in _SMAPS_ROLLUP.read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None
    return None


def gpu_memory_mib() -> float | None:
    """GPU memory this process holds (nvidia-smi's used_memory), or None if unknown.

    onnxruntime's CUDA arena keeps what it allocated, so read after the runs this is close
    to the peak.
    """
    rows = _nvidia_smi("--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits")
    total = None
    for row in rows:
        pid, _, used = row.partition(",")
        if pid.strip() == str(os.getpid()) and used.strip().isdigit():
            total = (total or 0.0) + float(used)
    return total


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _nvidia_smi(*args: str) -> list[str]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, *args], capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]
