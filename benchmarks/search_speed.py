"""Search speed: our shared, cached search vs the naive approach, side by side in one run.

Naive: every objective searched on its own, every candidate evaluated from scratch (vision
tower and embeddings recomputed, nothing cached or shared). Ours: one evaluation cache shared
by all objectives, inputs prepared once per dataset. Both must choose identical sets.

    python benchmarks/search_speed.py --model demo --limit 100 --max-remove 4 --beam-width 4

`--workers N` gives each side its own pool of N evaluation processes (see docs/search.md), so
the speed-up measures sharing alone, not parallelism: naive evaluates the candidates of one
search step in parallel, still from scratch, and keeps nothing once that step is ranked.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from collections import Counter

import numpy as np

from vlmprune.export.errors import VlmpruneError
from vlmprune.export.evaluation.cache import EvalCache
from vlmprune.export.evaluation.evaluate import Evaluator
from vlmprune.export.evaluation.pool import EvalPool
from vlmprune.export.models.loading import load_vlm
from vlmprune.export.search.beam import GenericObjective, beam_search, dataset_loss, generic_loss
from vlmprune.export.search.scoring import ScoreSource
from vlmprune.export.tasks.base import Split
from vlmprune.export.tasks.catalog import all_datasets
from vlmprune.export.tasks.metrics import score_examples


class NaiveSource(ScoreSource):
    """Recomputes everything for every request: inputs prepared again, no memo, no cache.

    With a pool, `prefetch` evaluates exactly the pairs of one search step in parallel, from
    scratch (a pool with keep_inputs=False), into a memo that only the losses of that step
    read: the next prefetch clears it, so nothing is shared across steps or objectives.
    """

    def __init__(self, *args, pool: EvalPool | None = None, strict: bool = True, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)  # no pool here: requests not prefetched stay serial
        self.step_pool = pool
        self.strict = strict
        self._step: dict = {}  # (dataset, removed) -> per-example scores of this step only
        if pool is not None and pool.model_hash != self.model_hash:
            raise VlmpruneError("the naive evaluation workers loaded a different model")

    def per_example(self, dataset, removed=()):  # noqa: ANN001, ANN201
        pair = (dataset, tuple(sorted(removed)))
        if pair in self._step:
            return self._step[pair]
        self.evaluator.forget_inputs()
        self._memory.clear()
        return super().per_example(dataset, removed)

    def prefetch(self, pairs):  # noqa: ANN001, ANN201
        """Serial: nothing is evaluated ahead, every request computes its own.

        With a pool: exactly these pairs, in parallel, replacing the previous step's memo.
        """
        self._step.clear()
        if self.step_pool is None:
            return
        requested = list(dict.fromkeys((d, tuple(sorted(r))) for d, r in pairs))
        if not self.strict:
            self._run_step(requested)
            return
        # Serial naive scores the unpruned baseline again inside every candidate's loss, and
        # evaluates the candidate only when that baseline is above zero (relative_drop):
        # the same work here, the baselines first.
        candidates = [(d, r) for d, r in requested if r]
        self._run_step(dict.fromkeys((d, ()) for d, _ in candidates))
        per_dataset = Counter(d for d, _ in candidates)
        repeats = [(d, ()) for d, count in per_dataset.items() for _ in range(count - 1)]
        scored = [(d, r) for d, r in candidates if self._step[(d, ())].mean() > 0]
        self._run_step([*scored, *repeats])

    def _run_step(self, pairs) -> None:  # noqa: ANN001
        """Evaluate `pairs` (duplicates included: each one counts) into this step's memo."""
        jobs = [(d, self.split.value, self.limit, r) for d, r in pairs]
        for (dataset, _, _, removed), predictions in self.step_pool.run(jobs):
            ds = self.datasets[dataset]
            # Answers only (drafts are not painted): the parent prepares no inputs.
            references = [tuple(d.answers) for d in ds.drafts(self.split, self.limit)]
            scores = score_examples(ds.metric, predictions, references)
            self._step[(dataset, removed)] = np.asarray([float(x) for x in scores], np.float64)
            self.computed += 1


def search_all(source, names, args):  # noqa: ANN001, ANN201
    found = {
        n: beam_search(dataset_loss(source, n), source.num_blocks, args.max_remove, args.beam_width)
        for n in names
    }
    found["generic"] = beam_search(
        generic_loss(source, names, GenericObjective(args.objective)),
        source.num_blocks,
        args.max_remove,
        args.beam_width,
    )
    return {k: [b.removed_blocks for b in v] for k, v in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="demo")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--max-remove", type=int, default=4)
    parser.add_argument("--beam-width", type=int, default=4)
    parser.add_argument("--objective", default="mean")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Evaluation processes for each side, a pool each (1: in-process, serial).",
    )
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument(
        "--naive-baseline",
        choices=["per-candidate", "per-step"],
        default="per-candidate",
        help="With a pool: naive scores the unpruned baseline for every candidate (as serial "
        "naive does) or once per search step.",
    )
    args = parser.parse_args()
    vlm = load_vlm(args.model, args.device)
    datasets = all_datasets()
    names = [d.name for d in datasets]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()  # worker start-up counts towards ours
        pool = (
            EvalPool(args.model, datasets, args.device, args.workers, args.batch_size)
            if args.workers > 1
            else None
        )
        with pool or contextlib.nullcontext():
            ours = ScoreSource(
                Evaluator(vlm, args.device, args.batch_size),
                EvalCache(tmp),
                datasets,
                Split.CALIB,
                args.limit,
                pool,
            )
            ours_sets = search_all(ours, names, args)
        results["ours"] = {
            "seconds": time.perf_counter() - t0,
            "evaluations": ours.computed,
            "forward_passes": ours.evaluator.forward_passes + (pool.forward_passes if pool else 0),
        }
    if not args.skip_naive:
        t0 = time.perf_counter()  # worker start-up counts towards naive too
        pool = (  # like ours, except that its workers prepare every job's inputs from scratch
            EvalPool(
                args.model, datasets, args.device, args.workers, args.batch_size, keep_inputs=False
            )
            if args.workers > 1
            else None
        )
        with pool or contextlib.nullcontext():
            naive = NaiveSource(
                Evaluator(vlm, args.device, args.batch_size),
                EvalCache(enabled=False),
                datasets,
                Split.CALIB,
                args.limit,
                pool=pool,
                strict=args.naive_baseline == "per-candidate",
            )
            naive_sets = search_all(naive, names, args)
        results["naive"] = {
            "seconds": time.perf_counter() - t0,
            "evaluations": naive.computed,
            "forward_passes": naive.evaluator.forward_passes + (pool.forward_passes if pool else 0),
        }
        results["speedup"] = results["naive"]["seconds"] / results["ours"]["seconds"]
        results["identical_sets"] = naive_sets == ours_sets
    results["settings"] = vars(args) | {
        "workers": {"ours": args.workers, "naive": None if args.skip_naive else args.workers}
    }
    results["sets"] = {k: [list(s) for s in v] for k, v in ours_sets.items()}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
