"""Search speed: our shared, cached search vs the naive approach, side by side in one run.

Naive: every objective searched on its own, every candidate evaluated from scratch (vision
tower and embeddings recomputed, nothing cached or shared). Ours: one evaluation cache shared
by all objectives, inputs prepared once per dataset. Both must choose identical sets.

    python benchmarks/search_speed.py --model demo --limit 100 --max-remove 4 --beam-width 4
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from vlmprune.export.cache import EvalCache
from vlmprune.export.evaluate import Evaluator
from vlmprune.export.models.loading import load_vlm
from vlmprune.export.scoring import ScoreSource
from vlmprune.export.search import GenericObjective, beam_search, dataset_loss, generic_loss
from vlmprune.export.tasks.base import Split, all_datasets


class NaiveSource(ScoreSource):
    """Recomputes everything for every request: a fresh Evaluator, no memo, no cache."""

    def per_example(self, dataset, removed=()):  # noqa: ANN001, ANN201
        self.evaluator = Evaluator(
            self.evaluator.vlm, self.evaluator.device, self.evaluator.batch_size
        )
        self._memory.clear()
        values = super().per_example(dataset, removed)
        self.passes = getattr(self, "passes", 0) + self.evaluator.forward_passes
        return values


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
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    vlm = load_vlm(args.model, args.device)
    datasets = all_datasets()
    names = [d.name for d in datasets]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ours = ScoreSource(
            Evaluator(vlm, args.device, args.batch_size),
            EvalCache(tmp),
            datasets,
            Split.CALIB,
            args.limit,
        )
        ours_sets = search_all(ours, names, args)
        results["ours"] = {
            "seconds": time.perf_counter() - t0,
            "evaluations": ours.computed,
            "forward_passes": ours.evaluator.forward_passes,
        }
    if not args.skip_naive:
        t0 = time.perf_counter()
        naive = NaiveSource(
            Evaluator(vlm, args.device, args.batch_size),
            EvalCache(enabled=False),
            datasets,
            Split.CALIB,
            args.limit,
        )
        naive_sets = search_all(naive, names, args)
        results["naive"] = {
            "seconds": time.perf_counter() - t0,
            "evaluations": naive.computed,
            "forward_passes": naive.passes,
        }
        results["speedup"] = results["naive"]["seconds"] / results["ours"]["seconds"]
        results["identical_sets"] = naive_sets == ours_sets
    results["settings"] = vars(args)
    results["sets"] = {k: [list(s) for s in v] for k, v in ours_sets.items()}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
