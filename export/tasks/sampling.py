"""Calib and test drawn from a benchmark's records: seeded, disjoint, stratified.

Records are grouped by stratum (a question type, "" when the suite draws at random) and
each group is shuffled with a generator seeded by (seed, dataset name), so adding a
dataset to a suite never changes another's draw. The calib + test total is apportioned
over the groups in proportion to their sizes (largest remainder, integer arithmetic),
then calib's share of each group the same way; calib takes the head of each shuffled
group and test the records after it. Disjoint by construction; test also skips records
that repeat a calib record's content (same image and prompt fields under another id).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from ..errors import VlmpruneError
from .formats.base import Record


@dataclass(frozen=True)
class Draw:
    calib: list[Record]
    test: list[Record]


def apportion(total: int, sizes: dict[str, int]) -> dict[str, int]:
    """`total` split over the groups in proportion to `sizes`; never above a group's size."""
    whole = sum(sizes.values())
    if total > whole:
        raise ValueError(f"cannot take {total} from {whole}")
    if whole == 0:
        return dict.fromkeys(sizes, 0)
    out = {s: total * n // whole for s, n in sizes.items()}
    # Largest remainders first; names break ties so the result is deterministic.
    by_remainder = sorted(sizes, key=lambda s: (-(total * sizes[s] % whole), s))
    for s in by_remainder[: total - sum(out.values())]:
        out[s] += 1
    return out


def draw(
    records: Sequence[Record],
    calib: int,
    test: int,
    seed: int,
    name: str,
    stratify: str | None,
    content: Callable[[Record], Hashable],
) -> Draw:
    """The calib and test records (each in a seeded random order)."""
    if calib + test > len(records):
        raise VlmpruneError(
            f"calib {calib} + test {test} = {calib + test} examples requested, "
            f"but the files hold {len(records)}"
        )
    rng = random.Random(f"{seed}:{name}")
    groups: dict[str, list[Record]] = {}
    for record in records:
        stratum = record.strata.get(stratify, "") if stratify else ""
        groups.setdefault(stratum, []).append(record)
    groups = dict(sorted(groups.items()))
    for group in groups.values():
        rng.shuffle(group)
    take = apportion(calib + test, {s: len(g) for s, g in groups.items()})
    calib_take = apportion(calib, take)
    calib_set = [r for s, g in groups.items() for r in g[: calib_take[s]]]
    seen = {content(r) for r in calib_set}
    test_set = []
    for s, group in groups.items():
        need = take[s] - calib_take[s]
        picked = [r for r in group[calib_take[s] :] if content(r) not in seen][:need]
        if len(picked) < need:
            raise VlmpruneError(
                f"calib and test would overlap: stratum {s or '(all)'!r} has "
                f"{need - len(picked)} too few test records that do not repeat a calib "
                "record's image and prompt; lower test or remove the duplicates"
            )
        test_set.extend(picked)
    rng.shuffle(calib_set)
    rng.shuffle(test_set)
    return Draw(calib_set, test_set)
