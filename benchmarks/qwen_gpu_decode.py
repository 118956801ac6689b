"""Decode ms/token of the Qwen2.5-VL-shaped decoder through the runtime's own decoding path,
k = 0..4 blocks removed, on CUDA (or the CPU): fp32, fp16, fp16 with CUDA graphs.

The model is qwen_decode_speed.py's (24 blocks x 896, M-RoPE sections [8, 12, 12], random
weights, vocabulary cut to 32,000); each variant is the gqa graph the export writes
(GroupQueryAttention, MRotaryEmbedding, `next_tokens`), converted to fp16 by the export's own
converter for the fp16 runs. Every request goes through `greedy_decode` (runtime/generation.py),
the path `Runtime.generate` takes: the prefill, then decode steps on the preallocated KV buffer
with the embedding written on the device and only the next ids read back. Requests rotate over
the variants each round (noise hits all alike); the first round warms up (and captures the CUDA
graphs). Reported: the median decode step over every step of every timed request, its speedup
against k = 0 and the ideal N/(N-k), prefill ms, whether every request of a variant gave the same
tokens, and the providers the sessions run on.

    python benchmarks/qwen_gpu_decode.py --provider cuda --out q.json   # fp32, fp16, fp16 graphs
    python benchmarks/qwen_gpu_decode.py --provider cpu --runs fp32 --rounds 2 --new-tokens 4 \
        --out q.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_run import versions  # noqa: E402
from qwen_decode_speed import REMOVED, build, request  # noqa: E402

from vlmprune.export.io import atomic_write_json, provenance  # noqa: E402

BLOCKS = 24


def export_variants(vlm, folder: Path, dtype: str) -> dict[int, Path]:
    """The gqa decoder of every k as the export writes it (next_tokens; fp16 if asked)."""
    import onnx

    from vlmprune.export.onnx import graphs
    from vlmprune.export.onnx.fused_decoder import add_next_tokens
    from vlmprune.export.onnx.half import to_fp16
    from vlmprune.runtime.decoders import DecoderLayout

    paths = {}
    for k, removed in REMOVED.items():
        with vlm.adapter.removed(vlm.model, removed):
            proto = add_next_tokens(graphs.export_decoder(vlm, DecoderLayout.GQA))
        if dtype == "fp16":
            proto = to_fp16(proto, f"decoder k={k}")
        folder.mkdir(parents=True, exist_ok=True)
        paths[k] = folder / f"decoder_k{k}.onnx"
        onnx.save(proto, str(paths[k]), save_as_external_data=True, location=f"k{k}.bin")
    path = folder / "embed_tokens.onnx"
    onnx.save(graphs.export_embed_tokens(vlm), str(path), save_as_external_data=True,
              location="embed.bin")  # fmt: skip
    paths[-1] = path
    return paths


def sessions(paths: dict[int, Path], provider: str, cuda_graph: bool) -> dict:
    import onnxruntime as ort

    if provider == "cuda":
        ort.preload_dlls()  # onnxruntime-gpu finds the CUDA/cuDNN libraries of torch's wheels
    options = ort.SessionOptions()
    options.log_severity_level = 3
    cuda = ("CUDAExecutionProvider", {"enable_cuda_graph": "1"} if cuda_graph else {})
    chosen = [cuda, "CPUExecutionProvider"] if provider == "cuda" else ["CPUExecutionProvider"]
    plain = ["CUDAExecutionProvider", "CPUExecutionProvider"] if provider == "cuda" else chosen
    embed = ort.InferenceSession(str(paths[-1]), options, providers=plain)  # shapes vary: no graph
    decoders = {
        k: ort.InferenceSession(str(p), options, providers=chosen)
        for k, p in paths.items()
        if k >= 0
    }
    return {"embed": embed, "decoders": decoders}


def measure(s: dict, embeds, mask, positions, rounds: int, new_tokens: int) -> dict:
    from vlmprune.runtime.generation import greedy_decode

    names = sorted(s["decoders"])
    steps: dict[int, list[float]] = {k: [] for k in names}
    prefill: dict[int, list[float]] = {k: [] for k in names}
    tokens: dict[int, set] = {k: set() for k in names}
    for r in range(rounds + 1):
        for k in names[r % len(names) :] + names[: r % len(names)]:
            out = greedy_decode(s["decoders"][k], s["embed"], embeds, mask, positions, -1,
                                new_tokens)  # fmt: skip
            tokens[k].add(tuple(int(t) for t in out.tokens[0]))
            if r:  # round 0 warms up and captures the graphs
                steps[k] += out.step_s
                prefill[k].append(out.prefill_s)
    base = statistics.median(steps[0])
    rows = []
    for k in names:
        med = statistics.median(steps[k])
        ideal = BLOCKS / (BLOCKS - k)
        rows.append({
            "k": k, "removed": list(REMOVED[k]), "decode_ms_per_step_median": med * 1e3,
            "decode_ms_per_step_min": min(steps[k]) * 1e3, "speedup": base / med, "ideal": ideal,
            "of_ideal": base / med / ideal, "prefill_ms_median": statistics.median(prefill[k]) * 1e3,
            "same_tokens_every_request": len(tokens[k]) == 1,
            "providers": s["decoders"][k].get_providers(),
        })  # fmt: skip
    return {"rows": rows}


RUNS = {"fp32": ("fp32", False), "fp16": ("fp16", False), "fp16_cuda_graph": ("fp16", True)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--provider", choices=["cpu", "cuda"], default="cuda")
    p.add_argument("--runs", default="fp32,fp16,fp16_cuda_graph",
                   help=f"comma-separated, of {', '.join(RUNS)} (CUDA graphs: cuda only)")  # fmt: skip
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--prompt-tokens", type=int, default=32, help="text tokens beside the image")
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    if not runs or set(runs) - set(RUNS):
        p.error(f"--runs {args.runs!r}: of {', '.join(RUNS)}")
    if args.provider != "cuda" and any(RUNS[r][1] for r in runs):
        p.error("CUDA graphs need --provider cuda")
    report = {
        "benchmark": "benchmarks/qwen_gpu_decode.py",
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "provenance": provenance(versions=versions(), seed=0),
        "runs": {},
    }
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vlmprune-qwen-gpu-") as scratch:
        vlm = build(Path(scratch), args.vocab)
        embeds, mask, positions = request(vlm, args.prompt_tokens)
        report["prompt_length"] = int(mask.shape[1])
        exports = {}
        for dtype in dict.fromkeys(RUNS[r][0] for r in runs):
            exports[dtype] = export_variants(vlm, Path(scratch) / dtype, dtype)
        del vlm
        report["build_and_export_s"] = time.perf_counter() - start
        for name in runs:
            dtype, graph = RUNS[name]
            try:
                s = sessions(exports[dtype], args.provider, graph)
                report["runs"][name] = measure(s, embeds, mask, positions, args.rounds,
                                               args.new_tokens)  # fmt: skip
            except Exception as exc:  # recorded; the other runs still go
                report["runs"][name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            atomic_write_json(args.out, report)
            for row in report["runs"][name].get("rows", []):
                print(f"{name} k={row['k']} {row['decode_ms_per_step_median']:.3f} ms/step, "
                      f"speedup {row['speedup']:.3f}, of ideal {row['of_ideal']:.3f}, prefill "
                      f"{row['prefill_ms_median']:.1f} ms, same tokens "
                      f"{row['same_tokens_every_request']}, {row['providers'][0]}")  # fmt: skip
            print(name, report["runs"][name].get("error", "ok"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
