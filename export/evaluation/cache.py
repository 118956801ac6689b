"""On-disk evaluation cache shared by every command and objective.

Key: (model hash, dataset, split, example count, removed set, metric), where a suite file's
dataset is named with its fingerprint (`dataset_key`). An entry holds the
per-example scores and the predictions, plus a checksum of its own content: a truncated or
edited entry is detected, reported once and recomputed, never trusted and never a crash.
Entries are written atomically, so a search killed half-way keeps every finished entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..io import atomic_write_text

if TYPE_CHECKING:
    from ..tasks.base import TaskDataset

CACHE_FORMAT = 1  # bump when the meaning of an entry changes
DEFAULT_CACHE_DIR = Path(os.environ.get("VLMPRUNE_CACHE", Path.home() / ".cache" / "vlmprune"))


def dataset_key(dataset: TaskDataset) -> str:
    """The cache's name for a dataset.

    A built-in dataset's name fixes its examples, so its entries key on the name (as they
    always have: existing caches stay valid). A suite file's table can change under the same
    name (files re-downloaded, counts or prompt edited), so its entries key on the table's
    fingerprint too, and a changed table never reuses stale results.
    """
    fingerprint = getattr(dataset, "fingerprint", None)
    return dataset.name if fingerprint is None else f"{dataset.name}@{fingerprint}"


@dataclass(frozen=True)
class EvalKey:
    model_hash: str
    dataset: str
    split: str
    n: int
    removed: tuple[int, ...]
    metric: str

    def digest(self) -> str:
        text = json.dumps([CACHE_FORMAT, *self._fields()], separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def _fields(self) -> list:
        return [self.model_hash, self.dataset, self.split, self.n, list(self.removed), self.metric]


@dataclass(frozen=True)
class EvalEntry:
    per_example: list[float]
    predictions: list[str]


class EvalCache:
    def __init__(self, root: str | Path | None = None, enabled: bool = True) -> None:
        self.root = Path(root) if root is not None else DEFAULT_CACHE_DIR
        self.enabled = enabled
        self.hits = 0
        self.misses = 0
        self.corrupt = 0

    def _path(self, key: EvalKey) -> Path:
        digest = key.digest()
        return self.root / "evals" / key.model_hash[:16] / digest[:2] / f"{digest}.json"

    def get(self, key: EvalKey) -> EvalEntry | None:
        if not self.enabled:
            return None
        path = self._path(key)
        if not path.is_file():
            self.misses += 1
            return None
        entry = self._read(path, key)
        if entry is None:
            self.corrupt += 1
            self.misses += 1
            warnings.warn(f"evaluation cache entry {path} is corrupt; recomputing it", stacklevel=2)
            return None
        self.hits += 1
        return entry

    def put(self, key: EvalKey, entry: EvalEntry) -> None:
        if not self.enabled:
            return
        body = {
            "key": key._fields(),
            "per_example": entry.per_example,
            "predictions": entry.predictions,
        }
        text = json.dumps(body, separators=(",", ":"))
        checksum = hashlib.sha256(text.encode()).hexdigest()
        atomic_write_text(self._path(key), json.dumps({"sha256": checksum, "body": body}))

    @staticmethod
    def _read(path: Path, key: EvalKey) -> EvalEntry | None:
        try:
            raw = json.loads(path.read_text())
            body = raw["body"]
            text = json.dumps(body, separators=(",", ":"))
            if hashlib.sha256(text.encode()).hexdigest() != raw["sha256"]:
                return None
            if body["key"] != key._fields() or len(body["per_example"]) != key.n:
                return None
            return EvalEntry([float(x) for x in body["per_example"]], list(body["predictions"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
