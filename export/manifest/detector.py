"""Fit the runtime's task detector on a suite's (prompt, task type) pairs plus paraphrases.

Any suite works: the input is pairs, by default the distinct prompts of every built-in
dataset's TRAIN split labelled with the dataset's task type. The pairs are grouped into
templates (slot values masked); each template, like every word list of the paraphrase
generator, belongs to the fitting half or the validation half (detector_paraphrase.
split_of). Fitting sees its half's templates, their rewrites and request frames;
validation sees the other half's templates, rewrites and frames, all built from
validation-only material. Task types are balanced: each gets `per_type` fitting samples
however few templates it has (captioning and exact match have 6 and 5).

The model is weighted softmax regression with L2, fitted by full-batch Adam on a sparse
matrix; the threshold is then chosen on the validation half for the target wrong-route
rate (detector_calibrate.choose_threshold).

    detector = fit_detector()                      # TaskDetector, threshold calibrated
    manifest["task_detector"] = detector.to_dict() # or fit_task_detector() for the dict
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from ...runtime.detect import TaskDetector
from ...runtime.detect_features import CHAR_NGRAMS, FeatureSpec, features, scripts
from ..tasks.base import Split
from ..tasks.catalog import all_datasets
from . import detector_phrasebank as bank
from .detector_calibrate import choose_threshold
from .detector_paraphrase import Half, framed, paraphrase, split_of

if TYPE_CHECKING:
    import torch

Pair = tuple[str, str]  # (prompt, task type)


@dataclass(frozen=True)
class DetectorFitConfig:
    prompts_per_dataset: int = 1000  # train drafts drawn per suite dataset (duplicates removed)
    per_type: int = 1500  # fitting samples per task type
    frame_share: float = 0.3  # of them: filled request frames (the rest: suite prompts, rewrites)
    validation_per_type: int = 500
    target_wrong_rate: float = 0.02  # the threshold's goal on the validation half
    l2: float = 1e-4  # weight decay on the weights (not the bias)
    steps: int = 300  # full-batch Adam steps
    lr: float = 0.05
    min_count: int = 2  # a feature must occur in this many fitting prompts
    prune: float = 0.02  # drop features whose centred weights all stay below this
    seed: int = 0
    # Inputs that can be switched off to measure what each earns (benchmarks/detector_ablation.py).
    rewrites: bool = True  # False: suite prompts only, no paraphrases of them
    char_ngrams: tuple[int, int] = CHAR_NGRAMS  # (0, 0): word features only
    word_classes: bool = True


def suite_pairs(prompts_per_dataset: int) -> list[Pair]:
    """Distinct (prompt, task type) pairs from every built-in dataset's train split."""
    pairs: dict[Pair, None] = {}
    for dataset in all_datasets():
        for draft in dataset.drafts(Split.TRAIN, prompts_per_dataset):
            pairs[(draft.prompt, dataset.task_type.value)] = None
    return list(pairs)


def word_classes() -> dict[str, str]:
    """The featuriser's word classes: colour and number words (general English and six
    languages' colours), so an unseen colour or count reads like a seen one."""
    classes = {w: "<color>" for w in (*bank.COLORS, *bank.FOREIGN_COLORS, "colored", "coloured")}
    classes.update({w: "<numword>" for w in bank.NUMBER_WORDS})
    return classes


def template_key(prompt: str, rare: frozenset[str]) -> str:
    """The prompt with its slot values masked: numbers, capitals, colours, rare words."""
    out = []
    for tok in re.findall(r"[^\W\d_]+|\d+(?:[.,]\d+)*|[^\w\s]", prompt):
        low = tok.lower()
        if tok[0].isdigit():
            out.append("#")
        elif tok.isupper() and tok.isalpha():
            out.append("L" if len(tok) == 1 else "W")
        elif low in bank.COLORS or low in rare:
            out.append("_")
        else:
            out.append(low)
    return " ".join(out)


def split_templates(pairs: Sequence[Pair]) -> dict[Half, list[Pair]]:
    """Each pair's half, by its template; every task type keeps a fitting template."""
    by_type: dict[str, list[str]] = {}
    for prompt, task_type in pairs:
        by_type.setdefault(task_type, []).append(prompt)
    halves: dict[Half, list[Pair]] = {Half.FIT: [], Half.VALIDATION: []}
    for task_type, prompts in by_type.items():
        counts = Counter(w for p in prompts for w in set(re.findall(r"[a-z]+", p.lower())))
        # Words in under a fifth of the type's prompts are slot values (shapes, items,
        # relations), so a template is the wording around them.
        rare = frozenset(w for w, c in counts.items() if c < 0.2 * len(prompts))
        keyed = [(p, split_of(f"{task_type}|{template_key(p, rare)}")) for p in prompts]
        if all(h is Half.VALIDATION for _, h in keyed):
            keyed = [(p, Half.FIT) for p, _ in keyed]
        for prompt, half in keyed:
            halves[half].append((prompt, task_type))
    return halves


def half_samples(
    pairs: Sequence[Pair], half: Half, per_type: int, config: DetectorFitConfig
) -> list[Pair]:
    """`per_type` samples per task type of `pairs`: the prompts themselves (up to a third),
    their rewrites and request frames, from `half`'s material only."""
    by_type: dict[str, list[Pair]] = {}
    for pair in pairs:
        by_type.setdefault(pair[1], []).append(pair)
    rng = np.random.default_rng([config.seed, list(Half).index(half)])
    out: list[Pair] = []
    for task_type, own in sorted(by_type.items()):
        n_frames = int(per_type * config.frame_share) if task_type in bank.FRAMES else 0
        n_own = min(len(own), (per_type - n_frames) // 3)
        picked = [own[i] for i in rng.permutation(len(own))[:n_own]]
        n_rewrites = per_type - n_frames - n_own
        base = [own[i] for i in rng.integers(0, len(own), n_rewrites)]
        out += picked + (paraphrase(base, half, 1, config.seed) if config.rewrites else base)
        out += framed([task_type], half, n_frames, config.seed)
    return out


def fitting_samples(
    halves: dict[Half, list[Pair]], config: DetectorFitConfig
) -> tuple[list[Pair], list[Pair]]:
    """(fitting, validation) samples from `split_templates`' halves."""
    fit = half_samples(halves[Half.FIT], Half.FIT, config.per_type, config)
    # A task type with no validation template (exact match's 5 may all hash to fitting)
    # is validated on its fitting templates, rewritten with validation material only.
    covered = {t for _, t in halves[Half.VALIDATION]}
    base = halves[Half.VALIDATION] + [p for p in halves[Half.FIT] if p[1] not in covered]
    return fit, half_samples(base, Half.VALIDATION, config.validation_per_type, config)


def fit_detector(
    config: DetectorFitConfig = DetectorFitConfig(),  # noqa: B008  (frozen: safe default)
    samples: Sequence[Pair] | None = None,
) -> TaskDetector:
    """Fit on `samples` (default: the suite's train prompts) plus paraphrases; choose the
    threshold on the validation half."""
    pairs = list(samples) if samples is not None else suite_pairs(config.prompts_per_dataset)
    halves = split_templates(pairs)
    fit, validation = fitting_samples(halves, config)
    labels = tuple(sorted({label for _, label in pairs}))
    spec = FeatureSpec(word_classes() if config.word_classes else {}, config.char_ngrams)
    found = [features(prompt, spec) for prompt, _ in fit]
    untrained = _model(labels, _vocabulary(found, config.min_count), spec, {})
    weights, bias = _fit_weights(untrained, found, [label for _, label in fit], config)
    model = _pruned(untrained, weights, bias, config.prune)
    calibration = choose_threshold(model, validation, config.target_wrong_rate)
    provenance = {
        "split": Split.TRAIN.value,
        "datasets": [d.name for d in all_datasets()] if samples is None else [],
        "n_pairs": len(pairs),
        "n_templates_fit_validation": [len(halves[Half.FIT]), len(halves[Half.VALIDATION])],
        "n_fit": len(fit),
        "n_validation": len(validation),
        "per_type": config.per_type,
        "l2": config.l2,
        "steps": config.steps,
        "seed": config.seed,
    }
    seen = {s for p, _ in fit for s in scripts(p)}
    return TaskDetector(
        labels=model.labels,
        vocabulary=model.vocabulary,
        weights=model.weights,
        bias=model.bias,
        threshold=calibration.threshold,
        spec=spec,
        scripts=frozenset(seen | {"LATIN"}),
        calibration=MappingProxyType(calibration.to_dict()),
        provenance=MappingProxyType(provenance),
    )


def _vocabulary(found: Sequence[list[str]], min_count: int) -> list[str]:
    counts = Counter(f for fs in found for f in fs)
    return sorted(f for f, c in counts.items() if c >= min_count)


def _model(
    labels: tuple[str, ...], vocab: Sequence[str], spec: FeatureSpec, cal: dict
) -> TaskDetector:
    return TaskDetector(
        labels=labels,
        vocabulary={f: i for i, f in enumerate(vocab)},
        weights=np.zeros((len(labels), len(vocab)), np.float32),
        bias=np.zeros(len(labels), np.float32),
        threshold=0.5,
        spec=spec,
        calibration=cal,
    )


def _fit_weights(
    model: TaskDetector, found: Sequence[list[str]], truth: Sequence[str], config: DetectorFitConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced softmax regression with L2 by full-batch Adam. X (N, F) is sparse
    and the gradient explicit: autograd through a sparse product is ~8x slower here."""
    import torch

    encoded = [model.encode(fs)[:2] for fs in found]
    rows = np.repeat(np.arange(len(encoded)), [len(c) for c, _ in encoded])
    cols = np.concatenate([c for c, _ in encoded])
    vals = np.concatenate([v for _, v in encoded])
    n, f, k = len(encoded), len(model.vocabulary), len(model.labels)
    index = torch.from_numpy(np.stack([rows, cols]))
    with torch.sparse.check_sparse_tensor_invariants(False), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "CSR support is in beta": it works here
        coo = torch.sparse_coo_tensor(index, torch.from_numpy(vals), (n, f))
        x, xt = coo.coalesce().to_sparse_csr(), coo.t().coalesce().to_sparse_csr()
    y = torch.tensor([model.labels.index(label) for label in truth])
    onehot = torch.nn.functional.one_hot(y, k).float()
    per_class = torch.bincount(y, minlength=k).float().clamp(min=1)
    sample_weight = (n / (k * per_class))[y][:, None] / n  # class-balanced, mean 1, over n
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # these small sparse products run 2-3x slower on 2 threads
    try:
        return _adam(x, xt, onehot, sample_weight, config)
    finally:
        torch.set_num_threads(threads)


def _adam(
    x: torch.Tensor,  # (N, F) sparse CSR
    xt: torch.Tensor,  # its transpose, CSR too: X.T @ residual is the weights' gradient
    onehot: torch.Tensor,  # (N, K)
    sample_weight: torch.Tensor,  # (N, 1), divided by N
    config: DetectorFitConfig,
) -> tuple[np.ndarray, np.ndarray]:
    import torch

    k = onehot.shape[1]
    params = [torch.zeros(x.shape[1], k), torch.zeros(k)]  # W.T (F, K) and the bias (K,)
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    for step in range(1, config.steps + 1):
        probs = torch.softmax(x @ params[0] + params[1], dim=1)  # (N, K)
        residual = (probs - onehot) * sample_weight
        grads = (xt @ residual + config.l2 * params[0], residual.sum(0))
        for p, g, (m, v) in zip(params, grads, moments, strict=True):
            m.mul_(0.9).add_(g, alpha=0.1)
            v.mul_(0.999).addcmul_(g, g, value=0.001)
            p -= config.lr * (m / (1 - 0.9**step)) / ((v / (1 - 0.999**step)).sqrt() + 1e-8)
    return params[0].T.numpy().astype(np.float32), params[1].numpy().astype(np.float32)


def _pruned(model: TaskDetector, weights: np.ndarray, bias: np.ndarray, eps: float) -> TaskDetector:
    """Drop features that barely move any probability. Softmax ignores a shift shared by
    all labels, so each feature's weights are centred first and judged by what remains."""
    centred = weights - weights.mean(axis=0, keepdims=True)
    keep = np.flatnonzero(np.abs(centred).max(axis=0) >= eps)
    order = sorted(model.vocabulary, key=model.vocabulary.__getitem__)
    vocab = [order[i] for i in keep]
    return TaskDetector(
        labels=model.labels,
        vocabulary={f: i for i, f in enumerate(vocab)},
        weights=np.ascontiguousarray(centred[:, keep], dtype=np.float32),
        bias=bias - bias.mean(),
        threshold=model.threshold,
        spec=model.spec,
    )


def fit_task_detector(config: DetectorFitConfig = DetectorFitConfig()) -> dict:  # noqa: B008
    """The manifest's `task_detector` section, fitted on the suite's train prompts."""
    return fit_detector(config).to_dict()
