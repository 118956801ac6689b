"""The export folder, all or nothing.

Everything is written to a staging folder beside the target (`.<name>.partial-<pid>`) and
renamed into place at the end, so an error, a full disk or Ctrl-C leaves the previous
export (or nothing) behind, never half of one. A marker file records which model an
export folder belongs to; an export never replaces another model's folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..models.loading import LoadedVlm
from .settings import MANIFEST_FILE, MARKER_FILE, ExportError


def check_destination(out: Path, manifest: Path, vlm: LoadedVlm) -> None:
    """Refuse an output folder that is not ours to replace, or a manifest that cannot reach it."""
    if not out.resolve().is_relative_to(manifest.parent.resolve()):
        raise ExportError(
            f"--out {out} is not inside the manifest's folder '{manifest.parent}': manifest paths "
            f"must stay inside its folder; use e.g. --manifest {out / MANIFEST_FILE}"
        )
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        try:
            owner = json.loads((out / MARKER_FILE).read_text())
        except (OSError, ValueError):
            raise ExportError(
                f"--out {out} holds files that are not a vlmprune export (no readable "
                f"{MARKER_FILE}); choose a new or empty folder"
            ) from None
        if owner.get("model_hash") != vlm.model_hash:
            raise ExportError(
                f"--out {out} holds the export of another model ('{owner.get('model')}', hash "
                f"{str(owner.get('model_hash'))[:12]}…), not of '{vlm.name}' "
                f"({vlm.model_hash[:12]}…); choose another --out or delete that folder"
            )


def staging_folder(out: Path) -> Path:
    """A fresh `.<name>.partial-<pid>` beside `out`; leftovers of dead processes are removed.

    A process killed between the two renames of `publish` leaves the previous export as
    `.<name>.old-<pid>` and no `out`: it is put back.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    for leftover in sorted(out.parent.glob(f".{out.name}.*-*")):
        kind, _, pid = leftover.name[len(out.name) + 2 :].rpartition("-")
        if kind not in ("partial", "old") or not pid.isdigit() or _alive(int(pid)):
            continue
        if kind == "old" and not out.exists():
            os.rename(leftover, out)
        else:
            shutil.rmtree(leftover, ignore_errors=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def publish(staging: Path, out: Path) -> None:
    """Swap `staging` into `out` with renames; the old folder goes only once the new is in place."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(out, old)
    os.rename(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def folder_bytes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()}


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """`kill` (SIGTERM) during the build cleans up like Ctrl-C instead of leaving staging files."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def make_readable(path: Path) -> None:
    """Atomic writes create 0600 temp files; an export is meant to be read by others too."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
