"""Beam search: width >= C(N, k) equals exhaustive search; deterministic tie-breaking."""

from itertools import combinations
from math import comb

import pytest

from vlmprune.export.errors import VlmpruneError
from vlmprune.export.search.beam import beam_search, exhaustive_search


def _interacting_loss(num_blocks, seed=0):
    """A loss with pairwise interactions, so greedy is not optimal."""
    import random

    rng = random.Random(seed)
    single = [rng.random() for _ in range(num_blocks)]
    pair = {p: rng.uniform(-0.5, 0.5) for p in combinations(range(num_blocks), 2)}
    return lambda s: sum(single[b] for b in s) + sum(pair[p] for p in combinations(s, 2))


@pytest.mark.parametrize("seed", range(5))
def test_wide_beam_equals_exhaustive(seed):
    n, k_max = 7, 3
    loss = _interacting_loss(n, seed)
    width = max(comb(n, k) for k in range(1, k_max + 1))
    assert beam_search(loss, n, k_max, width) == exhaustive_search(loss, n, k_max)


def test_greedy_can_differ_from_exhaustive():
    n = 7
    differs = False
    for seed in range(20):
        loss = _interacting_loss(n, seed)
        differs |= beam_search(loss, n, 3, 1) != exhaustive_search(loss, n, 3)
    assert differs  # otherwise the equality test above would prove nothing


def test_returns_every_k_with_nested_greedy_sets():
    loss = _interacting_loss(6, 3)
    best = beam_search(loss, 6, 4, 1)
    assert [b.k for b in best] == [1, 2, 3, 4]
    for smaller, larger in zip(best, best[1:], strict=False):
        assert set(smaller.removed_blocks) < set(larger.removed_blocks)


def test_ties_broken_by_block_tuple():
    best = exhaustive_search(lambda s: 0.0, 5, 2)
    assert [b.removed_blocks for b in best] == [(0,), (0, 1)]


@pytest.mark.parametrize(
    ("k", "width", "message"),
    [(5, 1, "between 1 and 4"), (0, 1, "between 1 and 4"), (2, 0, "at least 1")],
)
def test_bad_arguments(k, width, message):
    with pytest.raises(VlmpruneError, match=message):
        beam_search(lambda s: 0.0, 5, k, width)
