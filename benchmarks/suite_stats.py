"""Per-dataset statistics of the synthetic suite: generation speed, key uniqueness, baseline.

    .venv/bin/python benchmarks/suite_stats.py [--n 500] [--datasets a,b]

- sample ms: mean time of `sample` (draft + paint) over n draws, one process.
- draft us: the content-only part that decides the split (calib/test reject 19 of 20).
- unique: share of distinct keys among the calib and test splits' 1000 examples.
- majority: the most frequent first answer on calib, scored by exact match on test
  (answer in the references); for multiple choice, chance is 0.25 whatever the letter.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter

from vlmprune.export.tasks.base import Split
from vlmprune.export.tasks.catalog import all_datasets


def keys_of(dataset, split: Split) -> list:
    return [(e.key, e.answers) for e in dataset.examples(split)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--datasets", default=None)
    args = parser.parse_args()
    print(
        f"{'dataset':16} {'sample ms':>9} {'draft us':>8} {'uniq calib':>10} {'uniq test':>9} {'majority':>8}  answer"
    )
    for dataset in all_datasets():
        if args.datasets and dataset.name not in args.datasets.split(","):
            continue
        rng = random.Random(0)
        dataset.sample(rng)  # warm caches (fonts)
        start = time.perf_counter()
        for _ in range(args.n):
            dataset.sample(rng)
        sample_ms = (time.perf_counter() - start) / args.n * 1e3
        start = time.perf_counter()
        for _ in range(args.n * 4):
            dataset.draft(rng)
        draft_us = (time.perf_counter() - start) / (args.n * 4) * 1e6
        calib, test = keys_of(dataset, Split.CALIB), keys_of(dataset, Split.TEST)
        uniq_c = len({k for k, _ in calib}) / len(calib)
        uniq_t = len({k for k, _ in test}) / len(test)
        majority = Counter(a[0] for _, a in calib).most_common(1)[0][0]
        score = sum(majority in a for _, a in test) / len(test)
        print(
            f"{dataset.name:16} {sample_ms:9.2f} {draft_us:8.1f} {uniq_c:10.3f} {uniq_t:9.3f} {score:8.3f}  {majority!r}"
        )


if __name__ == "__main__":
    main()
