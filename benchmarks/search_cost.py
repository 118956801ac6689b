"""Search cost: naive vs exact vs screened (`--screen nll|kl --verify-top M`), in one run.

Every side searches the same objectives (each dataset + generic, beam search on calib) with a
fresh evaluation cache of its own:

    naive     every candidate from scratch (benchmarks/search_speed.py's NaiveSource)
    exact     today's search: one shared cache, inputs prepared once
    screened  each beam step ranked by a teacher-forced measure; the best M children of each
              beam entry evaluated exactly (export/search/screen.py)

Reported per side: wall time, exact (dataset, set) evaluations, generation forward passes,
teacher-forced passes, and for screened sides, for every (objective, k), whether the chosen
set equals exact's and the test-split score of both (generic: the mean over datasets).

    python benchmarks/search_cost.py --device cuda --workers 12 --batch-size 128 --limit 64 \
        --out docs/benchmarks/search_cost_gpu.json
    python benchmarks/search_cost.py --limit 8 --max-remove 2 --beam-width 2 \
        --datasets shapes_vqa,count_vqa,code_match --skip-naive --out /tmp/search_cost.json

Defaults are the full setting: the whole calib split, every dataset + generic, K = 4, width 4.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time

import numpy as np
from search_speed import NaiveSource

from vlmprune.export.evaluation.cache import EvalCache
from vlmprune.export.evaluation.evaluate import Evaluator
from vlmprune.export.evaluation.pool import EvalPool
from vlmprune.export.evaluation.teacher_forced import Measure
from vlmprune.export.io import atomic_write_json
from vlmprune.export.models.loading import load_vlm
from vlmprune.export.search.run import SearchSettings, search_objectives
from vlmprune.export.search.scoring import ScoreSource
from vlmprune.export.search.screen import ScreenSettings, ScreenSource
from vlmprune.export.tasks.base import Split
from vlmprune.export.tasks.catalog import all_datasets

GENERIC = "generic"


def side_pool(args, datasets, keep_inputs=True):  # noqa: ANN001, ANN201
    """A pool of --workers evaluation processes for one side (None: in-process)."""
    if args.workers <= 1:
        return None
    return EvalPool(
        args.model, datasets, args.device, args.workers, args.batch_size, keep_inputs=keep_inputs
    )


def run_side(vlm, datasets, args, source_cls=ScoreSource, screen=None):  # noqa: ANN001, ANN201
    """(sets per objective, stats) of one side, with its own cache and its own worker pool
    (worker start-up counts towards the side's time)."""
    naive = source_cls is NaiveSource
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        pool = side_pool(args, datasets, keep_inputs=not naive)
        with pool or contextlib.nullcontext():
            evaluator = Evaluator(vlm, args.device, args.batch_size)
            cache = EvalCache(enabled=False) if naive else EvalCache(tmp)
            if naive:
                calib = NaiveSource(evaluator, cache, datasets, Split.CALIB, args.limit, pool=pool)
            else:
                calib = ScoreSource(evaluator, cache, datasets, Split.CALIB, args.limit, pool)
            forced = None
            settings = SearchSettings(args.max_remove, args.beam_width, limit=args.limit)
            if screen is not None:
                measure, verify_top = screen
                settings = SearchSettings(
                    args.max_remove,
                    args.beam_width,
                    limit=args.limit,
                    screen=ScreenSettings(Measure(measure), verify_top),
                )
                forced = ScreenSource(
                    evaluator, datasets, Measure(measure), Split.CALIB, args.limit
                )
            found, _ = search_objectives(calib, settings, forced)
            stats = {
                "seconds": time.perf_counter() - start,
                "evaluations": calib.computed,
                "forward_passes": evaluator.forward_passes + (pool.forward_passes if pool else 0),
                "teacher_forced_passes": forced.passes if forced else 0,
            }
    return {k: [b.removed_blocks for b in v] for k, v in found.items()}, stats


def test_score(test: ScoreSource, names: list[str], objective: str, removed: tuple) -> float:
    which = names if objective == GENERIC else [objective]
    return float(np.mean([test.per_example(d, removed).mean() for d in which]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="demo")
    parser.add_argument("--datasets", default=None, help="comma-separated (default: all)")
    parser.add_argument("--limit", type=int, default=None, help="calib examples (default: all)")
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--max-remove", type=int, default=4)
    parser.add_argument("--beam-width", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--measures", nargs="*", default=["nll", "kl"])
    parser.add_argument("--verify-top", nargs="*", type=int, default=[1, 2, 4])
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument(
        "--workers", type=int, default=1, help="evaluation processes per side (as search_speed.py)"
    )
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    vlm = load_vlm(args.model, args.device)
    datasets = all_datasets()
    if args.datasets:
        wanted = args.datasets.split(",")
        datasets = [d for d in datasets if d.name in wanted]
    names = [d.name for d in datasets]
    results: dict = {"settings": vars(args), "model_hash": vlm.model_hash, "sides": {}}
    exact, results["sides"]["exact"] = run_side(vlm, datasets, args)
    print("exact", json.dumps(results["sides"]["exact"]), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        test = ScoreSource(
            Evaluator(vlm, args.device, args.batch_size),
            EvalCache(tmp),
            datasets,
            Split.TEST,
            args.test_limit,
        )
        for measure in args.measures:
            for m in args.verify_top:
                sets, stats = run_side(vlm, datasets, args, screen=(measure, m))
                rows = []
                for objective, chosen in sets.items():
                    for k, (a, b) in enumerate(zip(exact[objective], chosen, strict=True), 1):
                        ta = test_score(test, names, objective, a)
                        tb = ta if a == b else test_score(test, names, objective, b)
                        rows.append(
                            {
                                "objective": objective,
                                "k": k,
                                "exact": list(a),
                                "screened": list(b),
                                "same": a == b,
                                "exact_test": ta,
                                "screened_test": tb,
                            }  # fmt: skip
                        )
                stats["same_sets"] = sum(r["same"] for r in rows) / len(rows)
                stats["mean_test_loss_points"] = 100 * float(
                    np.mean([r["exact_test"] - r["screened_test"] for r in rows])
                )
                stats["speedup_vs_exact"] = results["sides"]["exact"]["seconds"] / stats["seconds"]
                stats["rows"] = rows
                results["sides"][f"{measure}_M{m}"] = stats
                summary = {k: v for k, v in stats.items() if k != "rows"}
                print(f"{measure} M={m}", json.dumps(summary), flush=True)
                atomic_write_json(args.out, results)  # what finished survives a time limit
    if not args.skip_naive:
        _, results["sides"]["naive"] = run_side(vlm, datasets, args, source_cls=NaiveSource)
        naive = results["sides"]["naive"]["seconds"]
        for side in results["sides"].values():
            side["speedup_vs_naive"] = naive / side["seconds"]
        print("naive", json.dumps(results["sides"]["naive"]), flush=True)
    atomic_write_json(args.out, results)


if __name__ == "__main__":
    main()
