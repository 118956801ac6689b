"""Memory with every variant resident against one variant alone, in the shared-weights mode.

Each measurement is a fresh process (memory is per process); the two cases alternate
(one, all, one, all, ...) and the report gives medians and the all / one ratios of the
same run. A process loads the runtime, creates the sessions (one variant: the default
variant only; all: every variant's decoder, `max_resident` = all), answers one request per
resident variant, then reads /proc/self/smaps_rollup: RSS counts a memory-mapped weight
page once per mapping (so once per session that maps it, which hides the sharing), PSS
counts each page once, divided among the processes that map it (the memory this process
really costs), `anonymous` is private heap (onnxruntime's arenas, KV caches, prepacked
copies in fast mode). `--modes shared,fast` adds the prepacking mode (needs memory for a
packed copy of the weights per variant: ~2 GB each at realistic size).

    python benchmarks/profile_memory.py --manifest /tmp/vlmprune-realistic/export/manifest.json

`--provider cuda` adds the GPU memory the process holds (nvidia-smi; onnxruntime's CUDA
arena keeps its peak); there `shared` puts each weight on the GPU once for every session
(runtime/weight_store.py) and `fast` lets each session copy its own (onnxruntime's default):
`--modes shared,fast` measures both. Results on an H200 in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from runtime_modes import smaps  # noqa: E402  (the same /proc reader as runtime_modes.py)

CASES = ("one", "all")


def worker(manifest: str, case: str, mode: str, new_tokens: int, provider: str, arena: str) -> dict:
    import numpy as np
    from PIL import Image

    from vlmprune.runtime import Runtime
    from vlmprune.runtime.profiling.machine import gpu_memory_mib
    from vlmprune.runtime.profiling.profiler import (
        ExecutionProvider,
        ProfileConfig,
        run_once,
        synthetic_request,
    )

    providers = list(ExecutionProvider(provider).ort_providers)
    if ExecutionProvider(provider) is ExecutionProvider.CUDA:
        providers[0] = (providers[0], {"arena_extend_strategy": arena})
        import onnxruntime as ort

        ort.preload_dlls()  # onnxruntime-gpu: CUDA/cuDNN libraries of the pip packages (torch's)
    runtime = Runtime.from_manifest(
        manifest, providers, share_weights=mode == "shared", verify=False, max_resident=1024
    )
    names = [runtime.manifest.default_variant] if case == "one" else runtime.manifest.variant_names
    config = ProfileConfig(prompt_tokens=8, new_tokens=new_tokens)
    request = synthetic_request(runtime.manifest, runtime.tokenizer, config)
    before = smaps()
    s = runtime.sessions
    load_s = []
    for name in names:
        start = time.perf_counter()
        decoder = s.decoder(name)
        load_s.append(time.perf_counter() - start)
        run_once(s.vision, s.embed, decoder, runtime.manifest, request, new_tokens)
    after = smaps()
    after["gpu"] = gpu_memory_mib() or 0.0  # 0 on the CPU provider
    # The same real request per variant in every mode: the modes must agree token for token.
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    tokens = {name: runtime.generate(Image.fromarray(image), "What is in the image?",
                                     task_hint=name, max_new_tokens=8).tokens
              for name in names}  # fmt: skip
    store = (
        {"tensors": len(s.store), "mib": s.store.bytes / 2**20, "hits": s.store.hits}
        if s.store is not None
        else None
    )
    return {"case": case, "mode": mode, "variants": names, "before": before | {"gpu": 0.0},
            "after": after, "providers": s.active_providers, "decoder_load_s": load_s,
            "weight_store": store, "tokens": tokens}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--rounds", type=int, default=2, help="processes per case, alternating")
    parser.add_argument("--modes", default="shared", help="shared and/or fast, comma-separated")
    parser.add_argument("--new-tokens", type=int, default=4)
    parser.add_argument("--provider", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--arena",
        default="kNextPowerOfTwo",
        help="CUDA arena_extend_strategy values, comma-separated (CUDA only)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", nargs=3, metavar=("CASE", "MODE", "ARENA"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.worker:
        case, mode, arena = args.worker
        print(json.dumps(worker(args.manifest, case, mode, args.new_tokens, args.provider, arena)))
        return
    arenas = args.arena.split(",") if args.provider == "cuda" else ["kNextPowerOfTwo"]
    runs: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.rounds):
        for mode in args.modes.split(","):
            for arena in arenas:
                label = mode if len(arenas) == 1 else f"{mode}/{arena}"
                for case in CASES:
                    cmd = [sys.executable, __file__, "--manifest", args.manifest,
                           "--worker", case, mode, arena, "--new-tokens", str(args.new_tokens),
                           "--provider", args.provider]  # fmt: skip
                    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
                    row = json.loads(done.stdout.splitlines()[-1])
                    runs.setdefault((label, case), []).append(row)
    report = summarise(runs)
    print(json.dumps(report, indent=2) if args.json else render(report))


def summarise(runs: dict[tuple[str, str], list[dict]]) -> dict:
    out: dict[str, dict] = {}
    for (mode, case), rows in runs.items():
        row = out.setdefault(mode, {})
        row["providers"] = rows[0]["providers"]
        for kind in ("rss", "pss", "anonymous", "gpu"):
            row[f"{case}_{kind}_mib"] = statistics.median(r["after"][kind] for r in rows)
            row[f"{case}_{kind}_added_mib"] = statistics.median(
                r["after"][kind] - r["before"][kind] for r in rows
            )
        row[f"{case}_variants"] = len(rows[0]["variants"])
        # Loading a decoder: the first pays for its weights; with the GPU weight store, later
        # ones find theirs on the device already.
        loads = [r["decoder_load_s"] for r in rows]
        row[f"{case}_first_load_s"] = statistics.median(x[0] for x in loads)
        if len(loads[0]) > 1:
            row[f"{case}_later_load_s"] = statistics.median(y for x in loads for y in x[1:])
        row[f"{case}_weight_store"] = rows[0]["weight_store"]
        row["rounds"] = len(rows)
    for case in CASES:  # every mode's answers against the first mode's, variant by variant
        answers = [rows[0]["tokens"] for (_, c), rows in runs.items() if c == case]
        for (mode, c), _ in runs.items():
            if c == case:
                out[mode][f"{case}_same_tokens_as_{next(iter(out))}"] = (
                    answers[0] == runs[mode, case][0]["tokens"]
                )
    for row in out.values():
        for kind in ("rss", "pss", "anonymous", "gpu"):
            one = row[f"one_{kind}_mib"]
            row[f"all_over_one_{kind}"] = row[f"all_{kind}_mib"] / one if one else None
    return out


def render(report: dict) -> str:
    lines = []
    for mode, row in report.items():
        lines.append(
            f"{mode} weights: {row['one_variants']} variant vs all {row['all_variants']} resident "
            f"({row['rounds']} processes each, medians, MiB; {row['providers'][0]})"
        )
        lines.append(f"{'':<12} {'one':>10} {'all':>10} {'all / one':>10}")
        for kind in ("rss", "pss", "anonymous", "gpu"):
            one, every = row[f"one_{kind}_mib"], row[f"all_{kind}_mib"]
            if not one:
                continue
            lines.append(f"{kind:<12} {one:>10.1f} {every:>10.1f} {every / one:>10.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
