"""Leave-one-out block importance: the score drop when exactly one block is removed."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..evaluation.stats import paired_bootstrap_ci
from .scoring import ScoreSource

STABILITY_SEED = 0


@dataclass(frozen=True)
class BlockDrop:
    block: int
    score: float
    drop: float  # base − score, in metric points
    relative_drop: float  # drop / base (the seed's "%", as a fraction)
    drop_ci95: tuple[float, float]  # paired bootstrap over the same examples

    def to_json(self) -> dict:
        d = asdict(self)
        d["drop_ci95"] = list(self.drop_ci95)
        return d


def leave_one_out_pairs(dataset: str, num_blocks: int) -> list[tuple[str, tuple[int, ...]]]:
    """The evaluations that leave-one-out and split-half stability read."""
    return [(dataset, ()), *((dataset, (b,)) for b in range(num_blocks))]


def leave_one_out(source: ScoreSource, dataset: str) -> tuple[float, list[BlockDrop]]:
    source.prefetch(leave_one_out_pairs(dataset, source.num_blocks))
    base_examples = source.per_example(dataset, ())
    base = float(base_examples.mean())
    rows = []
    for block in range(source.num_blocks):
        pruned = source.per_example(dataset, (block,))
        score = float(pruned.mean())
        rows.append(
            BlockDrop(
                block=block,
                score=score,
                drop=base - score,
                relative_drop=(base - score) / base if base > 0 else 0.0,
                drop_ci95=paired_bootstrap_ci(base_examples, pruned),
            )
        )
    return base, rows


def split_half_stability(source: ScoreSource, dataset: str, seed: int = STABILITY_SEED) -> float:
    """Kendall τ-b between the leave-one-out drops measured on two random halves of the split."""
    source.prefetch(leave_one_out_pairs(dataset, source.num_blocks))
    n = source.n(dataset)
    order = np.random.default_rng(seed).permutation(n)
    halves = (order[: n // 2], order[n // 2 :])
    base = source.per_example(dataset, ())
    drops = []
    for half in halves:
        drops.append(
            [
                base[half].mean() - source.per_example(dataset, (b,))[half].mean()
                for b in range(source.num_blocks)
            ]
        )
    return kendall_tau_b(drops[0], drops[1])


def kendall_tau_b(x: list[float], y: list[float]) -> float:
    """τ-b, which corrects for ties (many blocks can tie at a zero drop)."""
    n = len(x)
    concordant = discordant = ties_x = ties_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif dx == dy:
                concordant += 1
            else:
                discordant += 1
    denom = np.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return float((concordant - discordant) / denom) if denom > 0 else 0.0
