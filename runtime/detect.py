"""Task detection from the prompt alone: multinomial logistic regression over word and
character n-grams (features: runtime/detect_features.py).

The parameters live in the manifest (`task_detector`, format 2), fitted by the builder on
a suite's (prompt, task type) pairs plus generated paraphrases (`vlmprune.export.
manifest.detector`); inference is a sparse dot product in numpy, well under a millisecond. The
detector answers with a task type and its probability, or abstains with a note (empty
prompt, a script it was never fitted on, no feature it knows); the caller runs the
detected type's variant only when the probability reaches the manifest's threshold, which
the builder chose on held-out paraphrases for a target wrong-route rate (`calibration`).

Weights are stored as int8 with one scale per task type (base64): 1/254 of a row's
largest weight is far below what moves a probability across the threshold, and the
section stays a few hundred KB.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from .detect_features import FeatureSpec, features, scripts

KIND = "ngram_logreg"
FORMAT_VERSION = 2  # 1: word n-grams only, float weights as JSON lists (no longer read)
# A prompt whose letters are mostly of scripts the detector never saw is not guessed at.
_MAX_UNSEEN_SCRIPT_SHARE = 0.5


class OutdatedDetectorError(ValueError):
    """The manifest's detector has a format this runtime no longer reads (re-export it)."""


@dataclass(frozen=True)
class Detection:
    task_type: str | None  # the most probable label; None when the detector abstained
    confidence: float  # its probability, 0..1 (0 when abstaining)
    threshold: float  # the manifest's threshold
    probabilities: Mapping[str, float]
    note: str | None = None  # why the detector abstained, for people

    @property
    def accepted(self) -> bool:
        """Confident enough to pick the task type's variant (else: generic)."""
        return self.note is None and self.confidence >= self.threshold


@dataclass(frozen=True, eq=False)
class TaskDetector:
    labels: tuple[str, ...]  # task types, one row of `weights` each
    vocabulary: Mapping[str, int]  # feature -> column
    weights: np.ndarray  # (n_labels, n_features) float32
    bias: np.ndarray  # (n_labels,) float32
    threshold: float  # minimum confidence to trust a detection
    spec: FeatureSpec = FeatureSpec()
    scripts: frozenset[str] = frozenset({"LATIN"})  # Unicode scripts seen in fitting
    calibration: Mapping[str, object] = field(default_factory=dict)  # how threshold was chosen
    provenance: Mapping[str, object] = field(default_factory=dict)

    def columns(self, prompt: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns, values) of the prompt's known features (see `_sparse`)."""
        cols, vals, _ = self._sparse(prompt)
        return cols, vals

    def _sparse(self, prompt: str) -> tuple[np.ndarray, np.ndarray, int]:
        return self.encode(features(prompt, self.spec))

    def encode(self, found: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
        """(columns, values, known word or character features) of a prompt's features.
        Each group is scaled by the count of ALL its features, known or not, so a prompt
        of mostly unknown words gets a weak vector and a modest confidence instead of an
        overconfident guess."""
        n_char = sum(f[0] == "c" for f in found)
        n_layout = sum(f[0] == "s" for f in found)
        scale = {"c": n_char, "s": n_layout, "w": len(found) - n_char - n_layout}
        scale = {g: 1.0 / math.sqrt(n) if n else 0.0 for g, n in scale.items()}
        cols, vals, text = [], [], 0
        vocabulary = self.vocabulary
        for f in found:
            if (col := vocabulary.get(f)) is not None:
                g = "w" if f[0] == "b" else f[0]  # detect_features.group
                cols.append(col)
                vals.append(scale[g])
                text += g != "s"
        return np.asarray(cols, dtype=np.int64), np.asarray(vals, dtype=np.float32), text

    def probabilities(self, prompts: list[str]) -> np.ndarray:
        """(N, n_labels) softmax probabilities (no abstention; see `detect`)."""
        rows = [self._probs(*self.columns(p)) for p in prompts]
        return np.stack(rows) if rows else np.zeros((0, len(self.labels)), np.float32)

    def _probs(self, cols: np.ndarray, vals: np.ndarray) -> np.ndarray:
        return softmax(self.weights[:, cols] @ vals + self.bias)

    def detect(self, prompt: str) -> Detection:
        note = self._abstain(prompt)
        if note is None:
            cols, vals, text = self._sparse(prompt)
            if not text:
                note = "no word of the prompt is known to the detector"
        if note is not None:
            zero = MappingProxyType({label: 0.0 for label in self.labels})
            return Detection(None, 0.0, self.threshold, zero, note)
        probs = self._probs(cols, vals)
        best = int(probs.argmax())
        return Detection(
            task_type=self.labels[best],
            confidence=float(probs[best]),
            threshold=self.threshold,
            probabilities=MappingProxyType(dict(zip(self.labels, map(float, probs), strict=True))),
        )

    def _abstain(self, prompt: str) -> str | None:
        if not isinstance(prompt, str):
            return f"the prompt is not text but {type(prompt).__name__}"
        if not prompt.strip():
            return "the prompt is empty"
        counts = scripts(prompt)
        unseen = {s: n for s, n in counts.items() if s not in self.scripts}
        if counts and sum(unseen.values()) > _MAX_UNSEEN_SCRIPT_SHARE * sum(counts.values()):
            names = ", ".join(sorted(unseen, key=unseen.__getitem__, reverse=True))
            return f"the prompt is mostly in a script the detector was not fitted on ({names})"
        return None

    def to_dict(self) -> dict:
        """The manifest's `task_detector` section (plain JSON)."""
        scale = np.abs(self.weights).max(axis=1) / 127.0
        scale[scale == 0] = 1.0
        q = np.clip(np.rint(self.weights / scale[:, None]), -127, 127).astype(np.int8)
        return {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "threshold": self.threshold,
            "calibration": dict(self.calibration),
            "labels": list(self.labels),
            "scripts": sorted(self.scripts),
            "featurizer": self.spec.to_dict(),
            "features": sorted(self.vocabulary, key=self.vocabulary.__getitem__),
            "weights_int8": base64.b64encode(q.tobytes()).decode("ascii"),
            "weight_scale": [float(s) for s in scale],
            "bias": [round(float(b), 5) for b in self.bias],
            "provenance": dict(self.provenance),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> TaskDetector:
        """Parse the manifest section; ValueError/KeyError/TypeError name what is wrong."""
        if d.get("kind") != KIND:
            raise ValueError(f"kind must be '{KIND}', not {d.get('kind')!r}")
        version = d.get("format_version", 1)
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError(f"format_version must be an integer, not {version!r}")
        if version > FORMAT_VERSION:
            raise ValueError(f"format_version {version} is newer than {FORMAT_VERSION}")
        if version < FORMAT_VERSION:
            raise OutdatedDetectorError(
                f"format_version {version} is older than this runtime reads ({FORMAT_VERSION}); "
                "re-export the manifest to get the current detector"
            )
        labels = tuple(str(x) for x in d["labels"])
        vocab = [str(x) for x in d["features"]]
        scale = np.asarray(d["weight_scale"], dtype=np.float32)
        raw = base64.b64decode(d["weights_int8"], validate=True)
        if len(raw) != len(labels) * len(vocab) or scale.shape != (len(labels),):
            raise ValueError(
                f"weights_int8 holds {len(raw)} values and weight_scale {scale.size}; "
                f"(labels, features) = {(len(labels), len(vocab))}"
            )
        weights = np.frombuffer(raw, np.int8).reshape(len(labels), len(vocab)) * scale[:, None]
        bias = np.asarray(d["bias"], dtype=np.float32)
        threshold = float(d["threshold"])
        if bias.shape != (len(labels),):
            raise ValueError(f"bias shape {bias.shape} != ({len(labels)},)")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold {threshold} is not in [0, 1]")
        if len(set(vocab)) != len(vocab) or len(set(labels)) != len(labels) or len(labels) < 2:
            raise ValueError("features and labels must be unique, with at least 2 labels")
        if not np.isfinite(weights).all() or not np.isfinite(bias).all():
            raise ValueError("weights and bias must be finite")
        return cls(
            labels=labels,
            vocabulary={f: i for i, f in enumerate(vocab)},  # a dict: the fastest look-up
            weights=weights.astype(np.float32),
            bias=bias,
            threshold=threshold,
            spec=FeatureSpec.from_dict(d.get("featurizer", {})),
            scripts=frozenset(str(s) for s in d.get("scripts", ["LATIN"])),
            calibration=MappingProxyType(dict(d.get("calibration", {}))),
            provenance=MappingProxyType(dict(d.get("provenance", {}))),
        )


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
