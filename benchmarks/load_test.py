"""Concurrent load on one Runtime: throughput, latency, errors, answers equal to run alone.

The load test of tests/runtime/test_end_to_end.py (runtime/profiling/load.py) on any
export: `--threads` workers x `--requests` requests each, every request a random image
(RGB noise, `--pool` of them, each with one of a few prompts), a random hint (None, a
dataset, a task type or a variant name of the manifest) and, where the manifest has a task
detector, detection on for `--detect-share` of them. Every distinct request is answered
alone first; then all threads share one Runtime with `--max-resident` decoders at most
(default: one fewer than the variants, so decoders are evicted under load).

    python benchmarks/load_test.py --manifest /tmp/vlmprune-realistic/export/manifest.json
    python benchmarks/load_test.py --manifest M --provider cuda --threads 8 --requests 50 \
        --max-resident 2 --out load-cuda.json

Prints one summary; exit status 1 if any request raised or answered differently than alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", required=True)
    p.add_argument("--provider", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--requests", type=int, default=50, help="per thread")
    p.add_argument("--max-resident", type=int, default=0, help="0: variants - 1")
    p.add_argument("--new-tokens", type=int, default=4)
    p.add_argument("--pool", type=int, default=6, help="random images")
    p.add_argument("--detect-share", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit-s", type=float, default=0, help="stop starting requests after")
    p.add_argument("--out", type=Path, help="write the JSON report here")
    args = p.parse_args(argv)
    for name in ("threads", "requests", "new_tokens", "pool"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if not 0 <= args.detect_share <= 1:
        p.error("--detect-share must be within 0..1")
    return args


def run(args: argparse.Namespace) -> dict:
    from vlmprune.runtime import Runtime
    from vlmprune.runtime.profiling.config import ExecutionProvider, ProviderUnavailableError
    from vlmprune.runtime.profiling.load import LoadConfig, load_test, random_pool
    from vlmprune.runtime.profiling.machine import device_name
    from vlmprune.runtime.select import valid_hints

    provider = ExecutionProvider(args.provider)
    providers = list(provider.ort_providers)
    if provider is ExecutionProvider.CUDA:
        import onnxruntime as ort

        ort.preload_dlls()
        available = ort.get_available_providers()
        if providers[0] not in available:
            raise ProviderUnavailableError(
                f"CUDA is not available to onnxruntime here (providers: {', '.join(available)})"
            )

    def open_runtime(bound: int) -> Runtime:
        return Runtime.from_manifest(args.manifest, providers, verify=False, max_resident=bound)

    probe = open_runtime(1)
    variants = len(probe.manifest.variants)
    bound = args.max_resident or max(1, variants - 1)
    detect = args.detect_share if probe.manifest.task_detector is not None else 0.0
    config = LoadConfig(args.threads, args.requests, args.new_tokens, detect, args.seed)
    deadline = time.perf_counter() + args.time_limit_s if args.time_limit_s else None
    report = load_test(
        open_runtime,
        random_pool(args.pool, 256, seed=args.seed),
        [None, *valid_hints(probe.manifest)],
        config,
        max_resident=bound,
        deadline=deadline,
    )
    return {
        "manifest": str(args.manifest),
        "provider": providers[0],
        "device": device_name(tuple(providers)),
        "variants": variants,
        "detect_share": detect,
        "pool": args.pool,
        "seed": args.seed,
        **report.to_json(),
    }


def render(r: dict) -> str:
    lat = r["latency_ms"]
    rate = r["requests_per_s"] or 0.0
    return "\n".join([
        f"{r['threads']} threads x {r['planned_requests'] // r['threads']} requests "
        f"({r['requests']} run, {r['distinct_requests']} distinct) on {r['device']} "
        f"({r['provider']} asked, sessions on {', '.join(r['active_providers']) or '?'}), "
        f"{r['variants']} variants, max_resident {r['max_resident']} "
        f"(peak {r['max_resident_seen']}), {r['max_new_tokens']} new tokens",
        f"throughput {rate:.2f} requests/s, {r['tokens_per_s'] or 0:.1f} tokens/s over "
        f"{r['wall_s']:.1f} s; latency p50 {lat['p50']:.1f} ms, p90 {lat['p90']:.1f} ms, "
        f"max {lat['max']:.1f} ms",
        f"errors {r['error_count']}, answers differing from alone {r['mismatches']}: "
        + ("identical" if r["identical_answers"] else "NOT identical"),
        *(f"  {e}" for e in r["errors"]),
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from vlmprune.runtime.errors import VlmRuntimeError

    try:
        report = run(args)
    except VlmRuntimeError as exc:  # bad manifest, no CUDA...: one line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        from vlmprune.export.io import atomic_write_json

        atomic_write_json(args.out, report)
    print(render(report))
    if not args.out:
        print(json.dumps(report))
    return 0 if report["identical_answers"] else 1


if __name__ == "__main__":
    sys.exit(main())
