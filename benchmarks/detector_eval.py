"""Task-detector accuracy and fallback rate on the hand-written held-out phrasings.

Fits the detector on the suite's train prompts exactly as the builder does (or reads the
one stored in a manifest), then scores it on export/manifest/detector_heldout.py.

    python benchmarks/detector_eval.py                       # fit, evaluate, threshold sweep
    python benchmarks/detector_eval.py --manifest variants/demo/manifest.json
    python benchmarks/detector_eval.py --json
"""

from __future__ import annotations

import argparse
import json
import time

from vlmprune.export.manifest.detector import DetectorFitConfig, evaluate_detector, fit_detector

SWEEP = (0.0, 0.4, 0.5, 0.6, 0.7, 0.8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", help="evaluate the detector stored in this manifest")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--mistakes", action="store_true", help="list every prompt not routed right"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    if args.manifest:
        from vlmprune.runtime.manifest import load_manifest

        detector = load_manifest(args.manifest).task_detector
        if detector is None:
            raise SystemExit(f"{args.manifest} has no task_detector")
        source = args.manifest
    else:
        detector = fit_detector(DetectorFitConfig())
        source = "fitted now on the suite's train prompts"
    fit_s = time.perf_counter() - start
    result = evaluate_detector(detector)
    sweep = {t: evaluate_detector(detector, threshold=t) for t in SWEEP}
    if args.json:
        out = {
            "source": source,
            "n": result.n,
            "threshold": result.threshold,
            "accuracy": result.accuracy,
            "fallback_rate": result.fallback_rate,
            "accepted_accuracy": result.accepted_accuracy,
            "wrong_variant_rate": result.wrong_accepted_rate,
            "top1_accuracy": result.top1_accuracy,
            "per_type": {k: dict(v) for k, v in result.per_type.items()},
            "sweep": {
                str(t): {
                    "accuracy": r.accuracy,
                    "fallback_rate": r.fallback_rate,
                    "wrong_variant_rate": r.wrong_accepted_rate,
                }
                for t, r in sweep.items()
            },
        }
        print(json.dumps(out, indent=2))
        return
    print(f"detector: {source} ({len(detector.vocabulary)} features, {fit_s:.1f} s)")
    print(f"held-out phrasings: {result.n} ({result.n // len(result.per_type)} per task type)")
    print(f"threshold {result.threshold:.2f} (from the manifest / fit config, not tuned on these)")
    print(f"  accuracy (right task-specific variant chosen): {result.accuracy:.1%}")
    print(f"  fallback rate (generic variant runs):          {result.fallback_rate:.1%}")
    print(f"  wrong variant rate (confident and wrong):      {result.wrong_accepted_rate:.1%}")
    print(f"  accuracy among accepted detections:           {result.accepted_accuracy:.1%}")
    print(f"  top-1 accuracy ignoring the threshold:         {result.top1_accuracy:.1%}")
    print(f"\n{'task type':<16} {'accuracy':>8} {'fallback':>8}")
    for task_type, row in result.per_type.items():
        print(f"{task_type:<16} {row['accuracy']:>8.1%} {row['fallback_rate']:>8.1%}")
    print(f"\n{'threshold':>9} {'accuracy':>8} {'fallback':>8} {'wrong':>6}")
    for t, r in sweep.items():
        print(f"{t:>9.2f} {r.accuracy:>8.1%} {r.fallback_rate:>8.1%} {r.wrong_accepted_rate:>6.1%}")
    if args.mistakes:
        print("\nnot routed to their own variant (prompt, truth, detected, confidence):")
        for prompt, truth, predicted, conf in result.mistakes:
            print(f"  {conf:.2f} {truth:>15} -> {predicted:<15} {prompt}")


if __name__ == "__main__":
    main()
