"""Fit the runtime's task detector on the suite's TRAIN prompts; evaluate it on held-out ones.

The detector (vlmprune.runtime.detect) is multinomial logistic regression over word n-grams.
Training data: the distinct prompts of each suite dataset's train split, labelled with the
dataset's task type, class-balanced so that task types with one dataset and few templates
(captioning, exact match) weigh as much as those with two. The held-out phrasings
(export/manifest/detector_heldout.py) were written by hand and are used only for measurement.

    detector = fit_detector()                      # TaskDetector
    manifest["task_detector"] = detector.to_dict() # or fit_task_detector() for the dict
    evaluate_detector(detector)                    # DetectorEval on the held-out phrasings
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from ...runtime.detect import TaskDetector, features, softmax
from ..tasks.base import Split
from ..tasks.catalog import all_datasets
from .detector_heldout import HELDOUT


@dataclass(frozen=True)
class DetectorFitConfig:
    prompts_per_dataset: int = 1000  # train drafts drawn per dataset (duplicates removed)
    threshold: float = 0.6  # chosen before measuring; not tuned on the held-out set
    l2: float = 1e-3  # weight decay on the weights (not the bias)
    steps: int = 400  # full-batch Adam steps
    lr: float = 0.1
    min_count: int = 2  # a feature must occur in this many training prompts


def training_prompts(prompts_per_dataset: int) -> list[tuple[str, str]]:
    """Distinct (prompt, task type) pairs from every suite dataset's train split."""
    pairs: dict[tuple[str, str], None] = {}
    for dataset in all_datasets():
        for draft in dataset.drafts(Split.TRAIN, prompts_per_dataset):
            pairs[(draft.prompt, dataset.task_type.value)] = None
    return list(pairs)


def fit_detector(
    config: DetectorFitConfig = DetectorFitConfig(),  # noqa: B008  (frozen: safe default)
    samples: Sequence[tuple[str, str]] | None = None,
) -> TaskDetector:
    """Fit on `samples` (default: the suite's train prompts); deterministic."""
    samples = list(samples) if samples is not None else training_prompts(config.prompts_per_dataset)
    labels = tuple(sorted({label for _, label in samples}))
    counts = Counter(f for prompt, _ in samples for f in features(prompt))
    vocab = sorted(f for f, c in counts.items() if c >= config.min_count)
    untrained = TaskDetector(
        labels=labels,
        vocabulary=MappingProxyType({f: i for i, f in enumerate(vocab)}),
        weights=np.zeros((len(labels), len(vocab)), np.float32),
        bias=np.zeros(len(labels), np.float32),
        threshold=config.threshold,
        provenance={},
    )
    x = untrained.vectorize([p for p, _ in samples])  # (N, F) float32
    y = np.array([labels.index(label) for _, label in samples])  # (N,)
    per_class = np.bincount(y, minlength=len(labels))
    sample_weight = (len(y) / (len(labels) * per_class))[y]  # class-balanced, mean 1
    weights, bias = _adam_logreg(x, y, sample_weight, len(labels), config)
    provenance = {
        "split": Split.TRAIN.value,
        "datasets": [d.name for d in all_datasets()],
        "n_prompts": len(samples),
        "per_task_type": {label: int(n) for label, n in zip(labels, per_class, strict=True)},
        "prompts_per_dataset": config.prompts_per_dataset,
        "l2": config.l2,
        "steps": config.steps,
    }
    return TaskDetector(
        labels=labels,
        vocabulary=untrained.vocabulary,
        weights=weights.astype(np.float32),
        bias=bias.astype(np.float32),
        threshold=config.threshold,
        provenance=MappingProxyType(provenance),
    )


def _adam_logreg(
    x: np.ndarray, y: np.ndarray, w_sample: np.ndarray, n_labels: int, config: DetectorFitConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted softmax regression with L2, full-batch Adam. x (N, F), y (N,) -> W (C, F), b (C,)."""
    n, f = x.shape
    params = np.zeros((n_labels, f + 1), np.float32)  # last column is the bias
    xb = np.hstack([x, np.ones((n, 1), np.float32)])
    onehot = np.eye(n_labels, dtype=np.float32)[y]
    w_sample = w_sample.astype(np.float32)
    m = np.zeros_like(params)
    v = np.zeros_like(params)
    decay = np.ones_like(params)
    decay[:, -1] = 0.0
    for step in range(1, config.steps + 1):
        probs = softmax(xb @ params.T)  # (N, C)
        grad = ((probs - onehot) * w_sample[:, None]).T @ xb / n + config.l2 * decay * params
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        m_hat, v_hat = m / (1 - 0.9**step), v / (1 - 0.999**step)
        params -= config.lr * m_hat / (np.sqrt(v_hat) + 1e-8)
    return params[:, :-1], params[:, -1]


def fit_task_detector(config: DetectorFitConfig = DetectorFitConfig()) -> dict:  # noqa: B008
    """The manifest's `task_detector` section, fitted on the suite's train prompts."""
    return fit_detector(config).to_dict()


@dataclass(frozen=True)
class DetectorEval:
    n: int
    threshold: float
    accuracy: float  # right variant chosen by detection: accepted and correct, over all
    fallback_rate: float  # below threshold: the generic variant runs
    accepted_accuracy: float  # correct among accepted (nan if none accepted)
    top1_accuracy: float  # argmax correct, ignoring the threshold
    wrong_accepted_rate: float  # accepted but wrong: the wrong task-specific variant runs
    per_type: Mapping[str, Mapping[str, float]]  # type -> {accuracy, fallback_rate, n}
    mistakes: tuple[tuple[str, str, str, float], ...]  # (prompt, truth, predicted, confidence)


def evaluate_detector(
    detector: TaskDetector,
    heldout: Mapping[str, Sequence[str]] = HELDOUT,
    threshold: float | None = None,
) -> DetectorEval:
    """Accuracy and fallback rate on `heldout` (task type -> prompts) at `threshold`."""
    threshold = detector.threshold if threshold is None else threshold
    rows = [(p, t) for t, prompts in heldout.items() for p in prompts]
    probs = detector.probabilities([p for p, _ in rows])
    best = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    predicted = [detector.labels[i] for i in best]
    truth = [t for _, t in rows]
    correct = np.array([p == t for p, t in zip(predicted, truth, strict=True)])
    accepted = conf >= threshold
    per_type = {}
    for t in heldout:
        sel = np.array([x == t for x in truth])
        per_type[t] = MappingProxyType(
            {
                "n": int(sel.sum()),
                "accuracy": float((correct & accepted)[sel].mean()),
                "fallback_rate": float((~accepted)[sel].mean()),
            }
        )
    mistakes = tuple(
        (p, t, predicted[i], float(conf[i]))
        for i, (p, t) in enumerate(rows)
        if not (correct[i] and accepted[i])
    )
    return DetectorEval(
        n=len(rows),
        threshold=threshold,
        accuracy=float((correct & accepted).mean()),
        fallback_rate=float((~accepted).mean()),
        accepted_accuracy=float(correct[accepted].mean()) if accepted.any() else float("nan"),
        top1_accuracy=float(correct.mean()),
        wrong_accepted_rate=float((~correct & accepted).mean()),
        per_type=MappingProxyType(per_type),
        mistakes=mistakes,
    )
