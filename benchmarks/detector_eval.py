"""Task-detector routing on the hand-written held-out phrasings, its cost, and its latency.

Fits the detector as the builder does (or reads the one stored in a manifest), routes
every phrasing of benchmarks/detector_heldout.jsonl (right variant / generic fallback /
wrong variant), then prices the routing with a manifest's measured test-split scores
(`variants[].scores`): on each dataset, the score of what would run for its task type's
phrasings (the detected variant, generic on fallback), against always-generic and the
oracle (the task type's own variant). `--latency` times detection per prompt against
whole requests of the runtime on the manifest's export, interleaved.

    python benchmarks/detector_eval.py                                   # fit, route
    python benchmarks/detector_eval.py --costs /tmp/exp/manifest.json    # + the cost table
    python benchmarks/detector_eval.py --manifest /tmp/exp/manifest.json --latency
    python benchmarks/detector_eval.py --mistakes --json out.json
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

from vlmprune.export.manifest.detector import (
    DetectorFitConfig,
    fit_detector,
    fitting_samples,
    split_templates,
    suite_pairs,
)
from vlmprune.export.manifest.detector_calibrate import DetectorEval, Outcome, evaluate
from vlmprune.export.manifest.detector_heldout import load_heldout

DEFAULT_MANIFEST = Path("variants/demo/manifest.json")
SWEEP = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def routing_table(result: DetectorEval, key: str) -> list[dict]:
    rows = []
    for value in result.values(key):
        n = sum(getattr(r, key) == value for r in result.rows)
        rates = result.rates(key, value)
        rows.append({key: value, "n": n, **{o.value: rates[o] for o in Outcome}})
    overall = result.rates()
    rows.append({key: "all", "n": result.n, **{o.value: overall[o] for o in Outcome}})
    return rows


def print_routing(rows: list[dict], key: str) -> None:
    print(f"\n{key:<16} {'n':>4} {'right':>7} {'fallback':>8} {'wrong':>7}")
    for r in rows:
        print(
            f"{r[key]:<16} {r['n']:>4} {_pct(r['right'])} {_pct(r['fallback']):>8} {_pct(r['wrong'])}"
        )


def cost_table(result: DetectorEval, manifest: dict) -> list[dict]:
    """Per dataset: the test score of what runs for its type's phrasings (see module doc)."""
    variants = {v["name"]: v["scores"] for v in manifest["variants"]}
    by_type = manifest["task_type_to_variant"]
    generic = manifest["default_variant"]
    rows = []
    for v in manifest["variants"]:
        if v["objective"] not in manifest["dataset_to_variant"] or v["task_type"] is None:
            continue
        dataset, task_type = v["objective"], v["task_type"]
        ran = [_ran(r, by_type, generic) for r in result.rows if r.truth == task_type]
        oracle = by_type.get(task_type, generic)
        rows.append(
            {
                "dataset": dataset,
                "task_type": task_type,
                "oracle_variant": oracle,
                "oracle": variants[oracle][dataset],
                "generic": variants[generic][dataset],
                "detected": sum(variants[n][dataset] for n in ran) / max(len(ran), 1),
                "full": variants["full"][dataset] if "full" in variants else None,
            }
        )
    return rows


def _ran(row, by_type: dict, generic: str) -> str:
    """The variant a routed phrasing runs: its type's, generic, or the wrong type's."""
    if row.outcome is Outcome.FALLBACK:
        return generic
    return by_type.get(row.truth if row.outcome is Outcome.RIGHT else row.detected, generic)


def print_costs(rows: list[dict]) -> None:
    print("\ntest-split score of what runs (manifest variants[].scores; per phrasing routed)")
    print(
        f"{'dataset':<15} {'type':<16} {'oracle variant':<15} {'oracle':>7} {'generic':>7} {'detected':>8} {'full':>6}"
    )
    for r in rows:
        full = f"{r['full']:.3f}" if r["full"] is not None else "-"
        print(
            f"{r['dataset']:<15} {r['task_type']:<16} {r['oracle_variant']:<15} "
            f"{r['oracle']:>7.3f} {r['generic']:>7.3f} {r['detected']:>8.3f} {full:>6}"
        )
    if rows and all(r["full"] for r in rows):
        for col in ("oracle", "generic", "detected"):
            rel = statistics.mean(r[col] / r["full"] for r in rows)
            print(f"  mean over datasets of {col} / full: {rel:.3f}")


def seen_in_fitting(heldout) -> set[str]:
    """Held-out phrasings equal (case and punctuation aside) to a fitting or validation
    sample of the default configuration: suite prompts that coincide with a natural
    wording, or a rewrite that happens to produce one."""
    norm = lambda s: re.sub(r"[^\w ]", "", s.lower()).strip()  # noqa: E731
    config = DetectorFitConfig()
    fit, validation = fitting_samples(
        split_templates(suite_pairs(config.prompts_per_dataset)), config
    )
    samples = {norm(p) for p, _ in fit + validation}
    return {h.prompt for h in heldout if norm(h.prompt) in samples}


def latency(detector, prompts: list[str], manifest_path: Path | None, rounds: int) -> dict:
    """Per-prompt detection time, and whole requests on the export, interleaved."""
    detect_ms, request_ms = [], []
    runtime = examples = None
    if manifest_path is not None:
        from vlmprune.export.tasks.base import Split
        from vlmprune.export.tasks.catalog import all_datasets
        from vlmprune.runtime import Runtime

        runtime = Runtime.from_manifest(manifest_path)
        examples = [ex for d in all_datasets() for ex in d.examples(Split.TEST, 2)]
        runtime.generate(examples[0].image, examples[0].prompt, task_hint="generic")  # warm-up
    for round_ in range(rounds):
        for prompt in prompts:
            start = time.perf_counter()
            detector.detect(prompt)
            detect_ms.append(1e3 * (time.perf_counter() - start))
        if runtime is not None:
            for ex in examples[round_ % 2 :: 2]:
                start = time.perf_counter()
                runtime.generate(ex.image, ex.prompt, task_hint=ex.task_type.value)
                request_ms.append(1e3 * (time.perf_counter() - start))
    out = {"detect_ms": _stats(detect_ms), "n_detect": len(detect_ms)}
    if request_ms:
        out |= {"request_ms": _stats(request_ms), "n_request": len(request_ms)}
        out["detect_over_request_p50"] = out["detect_ms"]["p50"] / out["request_ms"]["p50"]
    return out


def _stats(xs: list[float]) -> dict:
    q = statistics.quantiles(xs, n=100)
    return {"p50": statistics.median(xs), "p90": q[89], "p99": q[98], "mean": statistics.mean(xs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--manifest", type=Path, help="evaluate the detector stored in this manifest"
    )
    parser.add_argument(
        "--costs",
        type=Path,
        help=f"manifest with variant scores [default: --manifest or {DEFAULT_MANIFEST}]",
    )
    parser.add_argument(
        "--latency", action="store_true", help="time detection (and requests, with --manifest)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--mistakes", action="store_true", help="list every phrasing not routed right"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    detector, source = None, "fitted now on the suite's train prompts and paraphrases"
    if args.manifest:
        from vlmprune.runtime.manifest import load_manifest

        stored = load_manifest(args.manifest)
        detector = stored.task_detector
        if detector is None:
            print(
                f"{args.manifest}: {stored.task_detector_note or 'no task detector'}; fitting one"
            )
        else:
            source = str(args.manifest)
    detector = detector or fit_detector(DetectorFitConfig())
    fit_s = time.perf_counter() - start
    heldout = load_heldout()
    result = evaluate(detector, [h.row() for h in heldout])
    cal = dict(detector.calibration)
    print(f"detector: {source} ({len(detector.vocabulary)} features, {fit_s:.0f} s)")
    print(
        f"threshold {detector.threshold:.4f}, chosen on {cal.get('n')} validation paraphrases for "
        f"wrong-route rate <= {cal.get('target_wrong_rate')} (there: right {cal.get('right_rate')}, "
        f"wrong {cal.get('wrong_rate')}, upper95 {cal.get('wrong_rate_upper95', 0):.4f})"
    )
    print(f"held-out phrasings: {result.n} (benchmarks/detector_heldout.jsonl)")
    out = {"source": source, "threshold": detector.threshold, "calibration": cal}
    for key in ("truth", "style"):
        out[key] = routing_table(result, key)
        print_routing(out[key], key)
    seen = seen_in_fitting(heldout)
    unseen = DetectorEval(result.threshold, tuple(r for r in result.rows if r.prompt not in seen))
    rates = unseen.rates()
    print(
        f"  without the {len(seen)} phrasings that occur verbatim in the fitting or validation "
        f"samples: n={unseen.n} " + " ".join(f"{o.value} {_pct(rates[o])}" for o in Outcome)
    )
    out["seen_in_fitting"] = sorted(seen)
    out["unseen"] = {o.value: rates[o] for o in Outcome}
    sources = {h.prompt: h.source for h in heldout}
    for name in sorted(set(sources.values())):
        part = DetectorEval(
            result.threshold, tuple(r for r in result.rows if sources[r.prompt] == name)
        )
        rates = part.rates()
        print(f"  {name}: n={part.n} " + " ".join(f"{o.value} {_pct(rates[o])}" for o in Outcome))
    print(f"\n{'threshold':>9} {'right':>7} {'fallback':>8} {'wrong':>7}")
    out["sweep"] = {}
    for t in sorted({*SWEEP, detector.threshold}):
        rates = evaluate(detector, [h.row() for h in heldout], threshold=t).rates()
        out["sweep"][str(t)] = {o.value: rates[o] for o in Outcome}
        print(
            f"{t:>9.4f} {_pct(rates[Outcome.RIGHT])} {_pct(rates[Outcome.FALLBACK]):>8} {_pct(rates[Outcome.WRONG])}"
        )
    costs_path = args.costs or args.manifest or DEFAULT_MANIFEST
    if costs_path.is_file():
        out["costs"] = cost_table(result, json.loads(costs_path.read_text()))
        print_costs(out["costs"])
    else:
        print(
            f"\nno cost table: {costs_path} is missing (vlmprune export --all-tasks --include-full)"
        )
    if args.latency:
        out["latency"] = latency(detector, [h.prompt for h in heldout], args.manifest, args.rounds)
        print("\nlatency:", json.dumps(out["latency"], indent=1))
    if args.mistakes:
        print("\nnot routed right (confidence, truth -> detected, prompt):")
        for r in result.mistakes:
            print(
                f"  {r.confidence:.2f} {r.outcome.value:<8} {r.truth:>15} -> {r.detected!s:<15} {r.prompt!r}"
            )
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
