"""Task detection from the prompt alone: multinomial logistic regression over word n-grams.

The parameters live in the manifest (`task_detector`), fitted by the builder on the suite's
training prompts (`vlmprune.export.manifest.detector`); inference is a sparse dot product in
numpy. The detector answers with a task type and its probability; the caller compares the
probability with the manifest's threshold and falls back to the generic variant below it.

Features (shared with the fitting code, so both sides featurise identically): lowercased
words with a crude plural strip, numbers as `<num>`, single capital letters (option and
bar labels) as `<letter>`, all-caps words (receipt items, codes) as `<caps>`; unigrams and
bigrams with sentence boundaries; each prompt's vector is binary, scaled to unit length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

KIND = "ngram_logreg"
FORMAT_VERSION = 1
_TOKEN = re.compile(r"[A-Za-z]+|\d+(?:[.,]\d+)*|[^\w\s]")


def tokens(prompt: str) -> list[str]:
    """The prompt's normalised tokens (see the module docstring)."""
    if prompt.isupper():  # a prompt typed in capitals: its words are words, not labels
        prompt = prompt.lower()
    out = []
    for tok in _TOKEN.findall(prompt):
        if tok[0].isdigit():
            out.append("<num>")
        elif tok.isupper():
            out.append("<letter>" if len(tok) == 1 else "<caps>")
        else:
            out.append(_stem(tok.lower()))
    return out


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def features(prompt: str) -> list[str]:
    """Distinct unigram and bigram features of `prompt`, in first-seen order."""
    toks = tokens(prompt)
    grams = [f"w:{t}" for t in toks]
    padded = ["<s>", *toks, "</s>"]
    grams += [f"b:{a} {b}" for a, b in zip(padded, padded[1:], strict=False)]
    return list(dict.fromkeys(grams))


@dataclass(frozen=True)
class Detection:
    task_type: str  # the most probable label
    confidence: float  # its probability, 0..1
    threshold: float  # the manifest's threshold
    probabilities: Mapping[str, float]

    @property
    def accepted(self) -> bool:
        """Confident enough to pick the task type's variant (else: generic)."""
        return self.confidence >= self.threshold


@dataclass(frozen=True, eq=False)
class TaskDetector:
    labels: tuple[str, ...]  # task types, one row of `weights` each
    vocabulary: Mapping[str, int]  # feature -> column
    weights: np.ndarray  # (n_labels, n_features) float32
    bias: np.ndarray  # (n_labels,) float32
    threshold: float  # minimum confidence to trust a detection
    provenance: Mapping[str, object]

    def vectorize(self, prompts: list[str]) -> np.ndarray:
        """(N, n_features) float32: binary n-gram presence, each row scaled to unit length."""
        x = np.zeros((len(prompts), len(self.vocabulary)), dtype=np.float32)
        for row, prompt in enumerate(prompts):
            cols = [self.vocabulary[f] for f in features(prompt) if f in self.vocabulary]
            if cols:
                x[row, cols] = 1.0 / np.sqrt(len(cols))
        return x

    def probabilities(self, prompts: list[str]) -> np.ndarray:
        """(N, n_labels) softmax probabilities."""
        logits = self.vectorize(prompts) @ self.weights.T + self.bias
        return softmax(logits)

    def detect(self, prompt: str) -> Detection:
        probs = self.probabilities([prompt])[0]
        best = int(probs.argmax())
        return Detection(
            task_type=self.labels[best],
            confidence=float(probs[best]),
            threshold=self.threshold,
            probabilities=MappingProxyType(dict(zip(self.labels, map(float, probs), strict=True))),
        )

    def to_dict(self, decimals: int = 5) -> dict:
        """The manifest's `task_detector` section (plain JSON)."""
        return {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "threshold": self.threshold,
            "labels": list(self.labels),
            "features": sorted(self.vocabulary, key=self.vocabulary.__getitem__),
            "weights": np.round(self.weights.astype(np.float64), decimals).tolist(),
            "bias": np.round(self.bias.astype(np.float64), decimals).tolist(),
            "provenance": dict(self.provenance),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> TaskDetector:
        """Parse the manifest section; ValueError/KeyError/TypeError name what is wrong."""
        if d.get("kind") != KIND:
            raise ValueError(f"kind must be '{KIND}', not {d.get('kind')!r}")
        if int(d.get("format_version", 1)) > FORMAT_VERSION:
            raise ValueError(f"format_version {d['format_version']} is newer than {FORMAT_VERSION}")
        labels = tuple(str(x) for x in d["labels"])
        vocab = [str(x) for x in d["features"]]
        weights = np.asarray(d["weights"], dtype=np.float32)
        bias = np.asarray(d["bias"], dtype=np.float32)
        threshold = float(d["threshold"])
        if weights.shape != (len(labels), len(vocab)):
            raise ValueError(
                f"weights shape {weights.shape} != (labels, features) = {(len(labels), len(vocab))}"
            )
        if bias.shape != (len(labels),):
            raise ValueError(f"bias shape {bias.shape} != ({len(labels)},)")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold {threshold} is not in [0, 1]")
        if len(set(vocab)) != len(vocab) or len(set(labels)) != len(labels) or len(labels) < 2:
            raise ValueError("features and labels must be unique, with at least 2 labels")
        return cls(
            labels=labels,
            vocabulary=MappingProxyType({f: i for i, f in enumerate(vocab)}),
            weights=weights,
            bias=bias,
            threshold=threshold,
            provenance=MappingProxyType(dict(d.get("provenance", {}))),
        )


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
