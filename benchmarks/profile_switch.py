"""Variant switch cost: warm (decoder session cached) against cold (first load).

One process, shared-weights mode, every variant kept resident once loaded. Requests have
the shape of `vlmprune profile` (synthetic, fixed number of new tokens). Measured:

- process start: the runtime, the shared sessions (vision_encoder, embed_tokens) and the
  first decoder, with and without sha256 verification (hashing weights.bin is paid once
  per process, on the first session that reads it);
- cold switch, per variant: creating its decoder session (`load`), and its first request
  minus its steady request time (onnxruntime's first-run allocations);
- warm switch: requests alternating between two resident variants against requests
  repeating one variant; the cost of a warm switch is the difference of the medians.

"Cold" means first load in the process with the weights file already in the OS page cache
(it is after the first session, and in shared mode every decoder maps that same file); a
load from a cold disk is not measured (it needs dropping the page cache, root only).

    python benchmarks/profile_switch.py --manifest /tmp/vlmprune-realistic/export/manifest.json

`--provider cuda` runs it with CUDAExecutionProvider (results on an H100 in
docs/performance.md; a CUDA session that falls back to the CPU shows in the first line of the report).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def start_cost(manifest: str, verify: bool, providers: list[str]) -> float:
    """Seconds from nothing to the default variant ready (runtime, shared graphs, decoder)."""
    from vlmprune.runtime import Runtime

    start = time.perf_counter()
    runtime = Runtime.from_manifest(manifest, providers, verify=verify)
    runtime.preload([runtime.manifest.default_variant])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--requests", type=int, default=4, help="timed requests per case")
    parser.add_argument("--new-tokens", type=int, default=4)
    parser.add_argument("--provider", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from vlmprune.runtime import Runtime
    from vlmprune.runtime.profiling.profiler import (
        ExecutionProvider,
        ProfileConfig,
        run_once,
        synthetic_request,
    )

    providers = list(ExecutionProvider(args.provider).ort_providers)
    report = {
        "start_verify_s": start_cost(args.manifest, True, providers),
        "start_no_verify_s": start_cost(args.manifest, False, providers),
    }
    runtime = Runtime.from_manifest(args.manifest, providers, verify=False, max_resident=1024)
    s, m = runtime.sessions, runtime.manifest
    request = synthetic_request(
        m, runtime.tokenizer, ProfileConfig(prompt_tokens=8, new_tokens=args.new_tokens)
    )

    def request_ms(name: str) -> float:
        return run_once(s.vision, s.embed, s.decoder(name), m, request, args.new_tokens).request_ms

    runtime.preload([m.default_variant])
    request_ms(m.default_variant)  # the shared sessions' first run
    cold = {}
    for name in m.variant_names:
        if name == m.default_variant:
            continue
        start = time.perf_counter()
        s.decoder(name)
        load_ms = (time.perf_counter() - start) * 1e3
        first = request_ms(name)
        steady = statistics.median(request_ms(name) for _ in range(2))
        cold[name] = {"load_ms": load_ms, "first_request_ms": first, "steady_request_ms": steady,
                      "cold_switch_ms": load_ms + first - steady}  # fmt: skip
    a, b = m.variant_names[:2]
    same, switched = [], []
    for _ in range(args.requests):  # a a | b a | a a | b a ...: the last 'a' of each pair timed
        request_ms(a)
        same.append(request_ms(a))
        request_ms(b)
        switched.append(request_ms(a))
    report |= {
        "cold": cold,
        "cold_switch_ms_median": statistics.median(c["cold_switch_ms"] for c in cold.values()),
        "load_ms_median": statistics.median(c["load_ms"] for c in cold.values()),
        "warm": {
            "variants": [a, b],
            "same_variant_request_ms": statistics.median(same),
            "after_switch_request_ms": statistics.median(switched),
        },  # fmt: skip
        "new_tokens": args.new_tokens,
        "prompt_length": request.prompt_length,
        "providers": s.active_providers,
    }
    report["warm_switch_ms"] = (
        report["warm"]["after_switch_request_ms"] - report["warm"]["same_variant_request_ms"]
    )
    print(json.dumps(report, indent=2) if args.json else render(report))


def render(r: dict) -> str:
    lines = [
        f"{r['providers'][0]}; process start to the default variant ready: "
        f"{r['start_verify_s']:.2f} s with sha256 "
        f"verification, {r['start_no_verify_s']:.2f} s without",
        f"{'variant':<16} {'load ms':>9} {'first req':>10} {'steady req':>11} {'cold switch':>12}",
    ]
    for name, c in r["cold"].items():
        lines.append(
            f"{name:<16} {c['load_ms']:>9.1f} {c['first_request_ms']:>10.1f} "
            f"{c['steady_request_ms']:>11.1f} {c['cold_switch_ms']:>12.1f}"
        )
    w = r["warm"]
    lines.append(
        f"warm switch ({w['variants'][1]} -> {w['variants'][0]}, both resident): request "
        f"{w['after_switch_request_ms']:.1f} ms after a switch vs {w['same_variant_request_ms']:.1f} "
        f"ms without: {r['warm_switch_ms']:+.1f} ms"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
