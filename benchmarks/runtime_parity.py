"""Runtime answers vs the PyTorch pruned model's greedy answers, per variant of a manifest.

The runtime runs each dataset's test examples as left-padded batches (generate_batch); the
reference is the builder's evaluator (export/evaluation/evaluate.py) with the variant's blocks removed,
with the same max_new_tokens. Needs the builder extra (torch) for the reference.

    python benchmarks/runtime_parity.py --manifest variants/demo/manifest.json --model demo
    python benchmarks/runtime_parity.py --manifest M --random tiny --per-dataset 25
"""

from __future__ import annotations

import argparse
import json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--model", default="demo", help="model spec the manifest was exported from")
    parser.add_argument(
        "--random", choices=["tiny", "demo"], help="a random model of this size (seed 0)"
    )
    parser.add_argument("--per-dataset", type=int, default=25, help="test examples per dataset")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import numpy as np

    from vlmprune.export.evaluation.evaluate import Evaluator
    from vlmprune.export.models.llava_build import tiny_vlm
    from vlmprune.export.models.loading import load_vlm
    from vlmprune.export.tasks.catalog import all_datasets
    from vlmprune.export.tasks.metrics import score_examples
    from vlmprune.runtime import Request, Runtime

    vlm = tiny_vlm(seed=0, size=args.random) if args.random else load_vlm(args.model)
    runtime = Runtime.from_manifest(args.manifest, max_resident=1)
    evaluator = Evaluator(vlm, batch_size=16)
    names = [v.name for v in runtime.manifest.variants]
    same = dict.fromkeys(names, 0)
    # Per variant and dataset: (runtime score, PyTorch score) on the same examples.
    scores: dict[str, dict[str, tuple[float, float]]] = {n: {} for n in names}
    total = 0
    for dataset in all_datasets():
        examples = list(dataset.examples("test", args.per_dataset))
        prepared = evaluator.prepare(dataset, "test", args.per_dataset)
        references = [e.answers for e in examples]
        total += len(examples)
        for variant in runtime.manifest.variants:
            reference = evaluator.predictions(prepared, variant.removed_blocks)
            requests = [Request(e.image, e.prompt, task_hint=variant.name) for e in examples]
            results = runtime.generate_batch(requests, max_new_tokens=prepared.max_new_tokens)
            texts = [r.text for r in results]
            same[variant.name] += sum(t == a for t, a in zip(texts, reference, strict=True))
            scores[variant.name][dataset.name] = tuple(
                float(np.mean(score_examples(dataset.metric, answers, references)))
                for answers in (texts, reference)
            )
    # "Points": 100 x the metric (accuracies in %, CIDEr-D as usually reported).
    worst = {n: max(abs(a - b) * 100 for a, b in scores[n].values()) for n in names}
    if args.json:
        print(
            json.dumps(
                {
                    "examples": total,
                    "identical": same,
                    "max_score_diff_points": worst,
                    "scores_runtime_vs_torch": scores,
                },
                indent=2,
            )
        )
        return
    for name in names:
        n = same[name]
        print(
            f"{name:<16} {n}/{total} identical ({n / total:.1%}); "
            f"largest per-dataset score difference {worst[name]:.2f} points"
        )


if __name__ == "__main__":
    main()
