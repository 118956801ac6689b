"""Route outcomes of the task detector, and the threshold chosen for a wrong-route rate.

A request is routed RIGHT (its task type's variant), to FALLBACK (generic: the detector
abstained or was not confident enough) or WRONG (another task type's variant, which can
cost more than generic). `choose_threshold` picks the lowest threshold whose wrong-route
rate on the validation samples stays within the target with 95% confidence (Wilson upper
bound), so more validation samples buy a threshold closer to the target, never past it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from ...runtime.detect import Detection, TaskDetector

_Z95 = 1.959964  # two-sided 95% normal quantile


class Outcome(str, Enum):
    RIGHT = "right"
    FALLBACK = "fallback"
    WRONG = "wrong"


def outcome(found: Detection, truth: str, threshold: float) -> Outcome:
    if found.note is not None or found.confidence < threshold:
        return Outcome.FALLBACK
    return Outcome.RIGHT if found.task_type == truth else Outcome.WRONG


def wilson_upper(k: int, n: int, z: float = _Z95) -> float:
    """Upper end of the Wilson score interval for k successes in n trials."""
    if n == 0:
        return 1.0
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


@dataclass(frozen=True)
class Calibration:
    threshold: float
    target_wrong_rate: float
    n: int  # validation samples
    right_rate: float
    fallback_rate: float
    wrong_rate: float
    wrong_rate_upper95: float

    def to_dict(self) -> dict:
        return {
            "rule": "lowest threshold whose validation wrong-route rate has a 95% Wilson "
            "upper bound <= target_wrong_rate",
            "split": "validation paraphrases (held out from fitting)",
            **{k: getattr(self, k) for k in self.__dataclass_fields__},
        }


def choose_threshold(
    detector: TaskDetector, samples: Sequence[tuple[str, str]], target: float
) -> Calibration:
    """The lowest threshold meeting `target` on `samples` ((prompt, task type) pairs)."""
    found = [(detector.detect(p), t) for p, t in samples]
    scored = sorted(
        ((d.confidence, d.task_type == t) for d, t in found if d.note is None), reverse=True
    )
    n = len(samples)
    best_t, wrong = 1.0 + 1e-9, 0  # above every confidence: nothing routed
    for i, (conf, correct) in enumerate(scored):
        wrong += not correct
        # Ties: a threshold equal to conf routes every sample of that confidence.
        if i + 1 < len(scored) and scored[i + 1][0] == conf:
            continue
        if wilson_upper(wrong, n) > target:
            break
        best_t = conf
    threshold = min(1.0, math.ceil(best_t * 1e4) / 1e4)
    counts = {o: 0 for o in Outcome}
    for d, t in found:
        counts[outcome(d, t, threshold)] += 1
    return Calibration(
        threshold=threshold,
        target_wrong_rate=target,
        n=n,
        right_rate=counts[Outcome.RIGHT] / max(n, 1),
        fallback_rate=counts[Outcome.FALLBACK] / max(n, 1),
        wrong_rate=counts[Outcome.WRONG] / max(n, 1),
        wrong_rate_upper95=wilson_upper(counts[Outcome.WRONG], n),
    )


@dataclass(frozen=True)
class Routed:
    prompt: str
    truth: str
    detected: str | None
    confidence: float
    outcome: Outcome
    style: str = ""


@dataclass(frozen=True)
class DetectorEval:
    threshold: float
    rows: tuple[Routed, ...]

    @property
    def n(self) -> int:
        return len(self.rows)

    def rates(self, key: str | None = None, value: str | None = None) -> Mapping[Outcome, float]:
        """Share of each outcome, over all rows or those whose `key` ('truth', 'style') is `value`."""
        rows = [r for r in self.rows if key is None or getattr(r, key) == value]
        return {o: sum(r.outcome is o for r in rows) / max(len(rows), 1) for o in Outcome}

    def values(self, key: str) -> list[str]:
        return sorted({getattr(r, key) for r in self.rows})

    @property
    def mistakes(self) -> tuple[Routed, ...]:
        return tuple(r for r in self.rows if r.outcome is not Outcome.RIGHT)


def evaluate(
    detector: TaskDetector,
    rows: Sequence[tuple[str, str, str]],
    threshold: float | None = None,
) -> DetectorEval:
    """Route (prompt, task type, style) rows at `threshold` (default: the detector's)."""
    t = detector.threshold if threshold is None else threshold
    out = []
    for prompt, truth, style in rows:
        found = detector.detect(prompt)
        out.append(
            Routed(
                prompt, truth, found.task_type, found.confidence, outcome(found, truth, t), style
            )
        )
    return DetectorEval(t, tuple(out))
