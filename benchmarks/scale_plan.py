"""Search cost at scale: evaluations and GPU-hours of exact vs screened beam search.

The candidate sets come from running the real beam search (export/search/beam.py) over a
synthetic loss per objective (seeded random per-block drops plus pair interactions), so the
de-duplication between beam entries and the sharing between objectives are the search's own,
not a formula's. Costs per example are arguments: the GPU-measured ones are filled in later.

    python benchmarks/scale_plan.py --blocks 36 --datasets 8 --max-remove 8 --beam-width 4 \
        --examples 1000 --gen-s 0.05 --tf-s 0.01 --verify-top 2 --gpus 1 8 64

Exact: every (dataset, candidate set) that any objective asks for is one greedy evaluation of
`--examples` examples (the shared cache evaluates each pair once). Screened: every candidate
costs one teacher-forced forward pass per example; only the best `--verify-top` candidates
per beam entry are then evaluated exactly. GPU-hours are total work; wall hours on G GPUs
assume one beam step's jobs spread evenly (a step is a barrier, so a step with fewer jobs
than GPUs leaves some idle: counted, per step).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Callable

from vlmprune.export.search.beam import beam_search

Removed = tuple[int, ...]


def synthetic_loss(num_blocks: int, seed: int) -> Callable[[Removed], float]:
    rng = random.Random(seed)
    drop = [rng.random() for _ in range(num_blocks)]
    pair = {(a, b): 0.3 * rng.random() for a in range(num_blocks) for b in range(a + 1, num_blocks)}

    def loss(removed: Removed) -> float:
        s = sorted(removed)
        return sum(drop[b] for b in s) + sum(
            pair[(a, b)] for i, a in enumerate(s) for b in s[i + 1 :]
        )

    return loss


def search_steps(
    num_blocks: int, datasets: int, max_remove: int, width: int, seed: int
) -> list[dict]:
    """Per beam step k: the (dataset, set) pairs exact search evaluates, and per objective the
    candidate sets and beam entries (for screening)."""
    losses = [synthetic_loss(num_blocks, seed + d) for d in range(datasets)]

    def generic(removed: Removed) -> float:
        return sum(loss(removed) for loss in losses) / datasets

    objectives = [*losses, generic]
    steps: list[dict] = [{"pairs": set(), "verify_top": []} for _ in range(max_remove)]
    for index, objective in enumerate(objectives):
        seen: list[set[Removed]] = [set() for _ in range(max_remove)]

        def recording(
            removed: Removed, seen: list[set[Removed]] = seen, f: Callable = objective
        ) -> float:
            seen[len(removed) - 1].add(removed)
            return f(removed)

        beam_search(recording, num_blocks, max_remove, width)
        # the generic objective pools every dataset: its candidates are evaluated on all of them
        targets = range(datasets) if index == datasets else [index]
        for k in range(max_remove):
            steps[k]["pairs"] |= {(d, c) for d in targets for c in seen[k]}
            entries = 1 if k == 0 else width
            steps[k]["verify_top"].append((len(targets), len(seen[k]), entries))
    return steps


def plan(args: argparse.Namespace) -> dict:
    steps = search_steps(args.blocks, args.datasets, args.max_remove, args.beam_width, args.seed)
    # Exact: each (dataset, set) pair once, whichever objectives ask for it (shared cache).
    # Screened: the same pairs get one teacher-forced pass per example (cached the same way);
    # then per objective at most M sets per beam entry are evaluated exactly on its datasets
    # (an upper bound: objectives that verify the same pair share it through the cache).
    exact_jobs = [len(s["pairs"]) for s in steps]
    screen_jobs = exact_jobs
    verify_jobs = [
        min(len(s["pairs"]), sum(t * min(c, e * args.verify_top) for t, c, e in s["verify_top"]))
        for s in steps
    ]
    gen = args.examples * args.gen_s / 3600
    tf = args.examples * args.tf_s / 3600
    return {
        "settings": vars(args),
        "exact": {
            "evaluations": sum(exact_jobs),
            "gpu_hours": sum(exact_jobs) * gen,
            "wall_hours": {
                str(g): sum(math.ceil(j / g) * gen for j in exact_jobs) for g in args.gpus
            },
        },
        "screened": {
            "teacher_forced_jobs": sum(screen_jobs),
            "evaluations": sum(verify_jobs),
            "gpu_hours": sum(screen_jobs) * tf + sum(verify_jobs) * gen,
            "wall_hours": {
                str(g): sum(
                    math.ceil(s / g) * tf + math.ceil(v / g) * gen
                    for s, v in zip(screen_jobs, verify_jobs, strict=True)
                )
                for g in args.gpus
            },
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--blocks", type=int, required=True)
    p.add_argument("--datasets", type=int, default=8)
    p.add_argument("--max-remove", type=int, default=8)
    p.add_argument("--beam-width", type=int, default=4)
    p.add_argument("--examples", type=int, default=1000, help="calib examples per dataset")
    p.add_argument("--gen-s", type=float, required=True, help="GPU seconds per greedy example")
    p.add_argument(
        "--tf-s", type=float, required=True, help="GPU seconds per teacher-forced example"
    )
    p.add_argument("--verify-top", type=int, default=2)
    p.add_argument("--gpus", type=int, nargs="+", default=[1, 8, 64])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.verify_top < 1 or min(args.gpus) < 1:
        print("scale_plan: --verify-top and --gpus must be at least 1", file=sys.stderr)
        return 2
    print(json.dumps(plan(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
