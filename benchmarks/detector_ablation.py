"""Which inputs of the task detector earn their place: fit variants, route the held-out set.

Each variant is fitted and calibrated exactly as the builder does (threshold for a 2%
wrong-route rate on its own validation paraphrases), with one input switched off, then
routes benchmarks/detector_heldout.jsonl. ~1 min per variant on 2 busy cores.

    python benchmarks/detector_ablation.py
    python benchmarks/detector_ablation.py --json docs/benchmarks/detector_ablation.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from vlmprune.export.manifest.detector import DetectorFitConfig, fit_detector, suite_pairs
from vlmprune.export.manifest.detector_calibrate import Outcome, evaluate
from vlmprune.export.manifest.detector_heldout import load_heldout

BASE = DetectorFitConfig()
VARIANTS = {
    "suite prompts only": dataclasses.replace(BASE, rewrites=False, frame_share=0.0),
    "+ rewrites": dataclasses.replace(BASE, frame_share=0.0),
    "+ rewrites + frames (default)": BASE,
    "default without char n-grams": dataclasses.replace(BASE, char_ngrams=(0, 0)),
    "default without word classes": dataclasses.replace(BASE, word_classes=False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    pairs = suite_pairs(BASE.prompts_per_dataset)
    rows = [h.row() for h in load_heldout()]
    out = {}
    header = f"{'variant':<32} {'features':>8} {'thresh':>6} {'val right':>9} {'val wrong':>9}"
    print(f"{header} {'right':>6} {'fallback':>8} {'wrong':>6} {'fit s':>5}")
    for name, config in VARIANTS.items():
        start = time.perf_counter()
        detector = fit_detector(config, pairs)
        seconds = time.perf_counter() - start
        rates = evaluate(detector, rows).rates()
        cal = detector.calibration
        out[name] = {
            "features": len(detector.vocabulary),
            "threshold": detector.threshold,
            "validation": {k: cal[k] for k in ("right_rate", "fallback_rate", "wrong_rate")},
            "heldout": {o.value: rates[o] for o in Outcome},
            "fit_s": seconds,
        }
        print(
            f"{name:<32} {len(detector.vocabulary):>8} {detector.threshold:>6.3f} "
            f"{cal['right_rate']:>9.1%} {cal['wrong_rate']:>9.1%} {rates[Outcome.RIGHT]:>6.1%} "
            f"{rates[Outcome.FALLBACK]:>8.1%} {rates[Outcome.WRONG]:>6.1%} {seconds:>5.0f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"n_heldout": len(rows), "variants": out}, indent=1))


if __name__ == "__main__":
    main()
