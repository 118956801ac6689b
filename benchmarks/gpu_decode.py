"""One run, everything side by side: the runtime on CUDA against transformers, k = 0..4.

On the realistic LLaVA preset (export/models/llava_build.py, random weights: 24 blocks x 896,
CLIP ViT-B/16) or the embedded demo (`--size demo`, for a CPU smoke test), batch 1, a
`--prompt-length` token prompt (219: 196 image tokens + template + text), `--new-tokens`
greedy tokens with EOS ignored. Stages (`--stages`, run in the order given):

    export        variants full and k = 1..4 blocks removed, gqa layout, through
                  profile_export.py's build + `run_export` (parity and scores on 1 example)
    runtime       `Profiler`, all variants interleaved: TTFT (vision + prefill) and decode
                  ms/token (each request's mean step; p50 over requests), speedup vs full
                  against the ideal N/(N-k); then `decode_steps`: as many requests again,
                  every step timed (median over steps and requests, and its speedup)
    throughput    `Runtime.generate_batch` at batch 1, 4, 16 on full: tokens/s
    transformers  transformers' generate on the same weights and prompt embeddings: eager,
                  and static cache + torch.compile (`transformers_compiled`), fp32 and bf16
                  (benchmarks/transformers_decode.py says how prefill and decode are split)
    memory        GPU memory with every variant resident vs one (profile_memory.py: fresh
                  processes, nvidia-smi)
    load          8 threads x 50 requests, random hints and images, max_resident below the
                  variant count: errors, identical answers, throughput (runtime/profiling/load.py)

`--dtypes fp32,fp16` adds fp16 exports to export/runtime/throughput/memory when the export
supports a `dtype` setting (recorded as not available otherwise; exported only if 1.2 x the
fp32 export's time plus `--fp16-reserve-s` is left). Every stage records its
error and the run goes on; the JSON (`--out`) is rewritten after each stage; a stage whose
minimum time is not left in `--budget-s` is skipped.

    python benchmarks/gpu_decode.py --provider cuda --size realistic --work /tmp/gpubench \
        --out docs/benchmarks/gpu_decode_h200.json --budget-s 520
    python benchmarks/gpu_decode.py --provider cpu --size demo --new-tokens 4 \
        --stages export,runtime,throughput,transformers,memory,load --out /tmp/x.json
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_run import Clock, StageRunner, log, versions  # noqa: E402
from gpu_stages import STAGES, Context, error_text, fp16_support, summary  # noqa: E402

from vlmprune.export.io import atomic_write_json as write_json  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--provider", choices=["cpu", "cuda"], default="cuda")
    p.add_argument("--size", choices=["realistic", "demo"], default="realistic")
    p.add_argument("--work", type=Path, default=Path("/tmp/vlmprune-gpubench"),
                   help="model folder and exports (reused when present)")  # fmt: skip
    p.add_argument("--out", type=Path, required=True, help="the JSON report")
    p.add_argument("--stages", default=",".join(STAGES), help="comma list, run in this order")
    p.add_argument("--stage-cap", action="append", default=[], metavar="STAGE=S",
                   help="a stage's own time limit (repeatable)")  # fmt: skip
    p.add_argument("--budget-s", type=float, default=520.0, help="the whole run")
    p.add_argument("--dtypes", default="fp32,fp16", help="fp16: when the export supports it")
    p.add_argument("--fp16-reserve-s", type=float, default=240.0,
                   help="export fp16 only if this is left after it (1.2 x fp32's time)")  # fmt: skip
    p.add_argument("--prompt-length", type=int, default=219, help="tokens, image included")
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--runs", type=int, default=10, help="timed requests per variant")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batches", default="1,4,16", help="throughput batch sizes")
    p.add_argument("--torch-dtypes", default="fp32,bf16")
    p.add_argument("--torch-compiled-k", default="0", help="k values for the compiled mode")
    p.add_argument("--torch-repeats", type=int, default=5)
    p.add_argument("--load-threads", type=int, default=8)
    p.add_argument("--load-requests", type=int, default=50, help="per thread")
    p.add_argument("--load-max-resident", type=int, default=0, help="0: variants - 1")
    p.add_argument("--load-new-tokens", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.stage_list = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in args.stage_list if s not in STAGES]
    if unknown:
        p.error(f"unknown stage {unknown[0]!r} (known: {', '.join(STAGES)})")
    args.caps = {}
    for item in args.stage_cap:
        name, _, value = item.partition("=")
        if name not in STAGES or not value.replace(".", "", 1).isdigit():
            p.error(f"--stage-cap {item!r}: expected STAGE=SECONDS with a known stage")
        args.caps[name] = float(value)
    args.dtype_list = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    if any(d not in ("fp32", "fp16") for d in args.dtype_list):
        p.error(f"--dtypes {args.dtypes!r}: fp32 and/or fp16")
    return args


def settings(args: argparse.Namespace) -> dict:
    keys = ("provider", "size", "stages", "budget_s", "dtypes", "fp16_reserve_s",
            "prompt_length", "new_tokens", "runs", "warmup", "batches", "torch_dtypes",
            "torch_compiled_k", "torch_repeats", "load_threads", "load_requests",
            "load_max_resident", "load_new_tokens", "seed")  # fmt: skip
    return {k: getattr(args, k) for k in keys} | {"work": str(args.work), "caps": args.caps}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from vlmprune.export.io import provenance

    ctx = Context(args)
    report = {
        "benchmark": "benchmarks/gpu_decode.py",
        "argv": sys.argv[1:] if argv is None else argv,
        "settings": settings(args),
        "provenance": provenance(versions=versions()),
    }
    for key, fn in (("device", ctx.device_info), ("fp16", fp16_support)):
        try:
            report[key] = fn()
        except Exception as exc:  # the stages still run and say what works
            report[key] = {"error": error_text(exc)}
    clock = Clock(args.budget_s)
    runner = StageRunner(report, args.out, clock)
    for name in args.stage_list:
        stage = STAGES[name]
        runner.run(
            name, lambda c, s=stage: s.fn(ctx, c), stage.min_s, args.caps.get(name, stage.cap_s)
        )
        gc.collect()  # sessions and models of the stage go before the next one
    try:
        report["summary"] = summary(report)
    except Exception as exc:  # the stages' own results are written already
        report["summary"] = {"error": error_text(exc)}
    write_json(args.out, report)
    done = {k: v["status"] for k, v in report["stages"].items()}
    log(f"done: {done} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
