"""Decode (and prefill) speedup against the ideal N/(N-k), variants interleaved step by step.

`vlmprune profile --interleave` alternates whole requests (seconds each at realistic size);
on a shared 2-core machine a burst of other work can still land on one variant's request.
Here the unit is one decoder call: every variant first prefills the same synthetic prompt
(`vlmprune profile`'s request) to get its KV cache, then each round times one decode step
of every variant, in an order rotated every round, at that same cache length; a step is
what `greedy_decode` does per token (embed_tokens, decoder, argmax; a gqa decoder steps on
the runtime's preallocated KV buffer, re-writing the same slot). Bursts then hit all
variants alike, and the report gives, per variant, the median and the minimum step time
(the minimum: the step undisturbed), the speedup against `full` from each, the ideal
N/(N-k), the fraction of the ideal speedup and the fraction of the ideal *gain*,
(s - 1) / (ideal - 1), which is the stricter number for small k (for k = 1 of 24 blocks
the ideal is only 1.043). Prefill calls are interleaved the same way, fewer of them.

    python benchmarks/profile_decode.py --manifest /tmp/vlmprune-realistic/export/manifest.json
    python benchmarks/profile_decode.py --manifest M --threads 1   # steadier on a busy machine

`--provider cuda` runs it with CUDAExecutionProvider (refused if CUDA is not in use);
results on an H100 in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np


def prepare(profiler, name: str) -> dict:
    """The variant's session and the feeds of a prefill and of one decode step after it."""
    from vlmprune.runtime.arch.llava import merge_image_features

    s, m, r = profiler.runtime.sessions, profiler.manifest, profiler.request
    decoder = s.decoder(name)
    features = s.vision.run(["image_features"], {"pixel_values": r.pixels})[0]
    embeds = s.embed.run(["inputs_embeds"], {"input_ids": r.input_ids})[0]
    merged = merge_image_features(embeds, r.input_ids, features, m.image_token_id)
    positions = np.clip(np.cumsum(r.mask, -1) - 1, 0, None)
    if "seqlens_k" in {i.name for i in decoder.get_inputs()}:  # gqa: the runtime's KV buffer
        return _prepare_gqa(decoder, s.embed, merged, r.mask)
    past = {}
    for arg in decoder.get_inputs()[3:]:
        past[arg.name] = np.zeros((r.mask.shape[0], arg.shape[1], 0, arg.shape[3]), np.float32)
    prefill = {"inputs_embeds": merged, "attention_mask": r.mask, "position_ids": positions, **past}
    names = [o.name for o in decoder.get_outputs()]
    out = dict(zip(names, decoder.run(None, prefill), strict=True))
    next_ids = out["logits"][:, -1].argmax(-1)[:, None].astype(np.int64)
    step_past = {k: out[k.replace("past_key_values.", "present.", 1)] for k in past}
    mask = np.concatenate([r.mask, np.ones_like(r.mask[:, :1])], axis=1)
    step = {"attention_mask": mask, "position_ids": positions[:, -1:] + 1, **step_past}
    return {"decoder": decoder, "embed": s.embed, "prefill": prefill, "step": step, "ids": next_ids}


def _prepare_gqa(decoder, embed, merged: np.ndarray, mask: np.ndarray) -> dict:
    """A gqa decoder on one preallocated KV buffer bound as past and present (as the runtime
    decodes, logits to the host): the prefill writes slots 0..n-1, every timed step slot n."""
    from vlmprune.runtime.decoders import cache_layout
    from vlmprune.runtime.kv_buffer import SharedKvBuffer

    if not mask.all():
        raise SystemExit("profile_decode.py: the gqa path times unpadded prompts only")
    cache, (batch, n) = cache_layout(decoder), mask.shape
    buffer = SharedKvBuffer(decoder, cache.num_layers, batch, cache.num_kv_heads, n + 8,
                            cache.head_dim)  # fmt: skip
    prefill = {"inputs_embeds": merged, "seqlens_k": np.full(batch, n - 1, np.int32)}
    logits = buffer.run(**prefill)
    next_ids = logits[:, -1].argmax(-1)[:, None].astype(np.int64)
    step = {"seqlens_k": np.full(batch, n, np.int32)}
    return {"buffer": buffer, "embed": embed, "prefill": prefill, "step": step, "ids": next_ids}


def time_prefill(v: dict) -> float:
    start = time.perf_counter()
    if "buffer" in v:
        v["buffer"].run(**v["prefill"])[:, -1].argmax(-1)
    else:
        v["decoder"].run(["logits"], v["prefill"])[0][:, -1].argmax(-1)
    return (time.perf_counter() - start) * 1e3


def time_step(v: dict) -> float:
    start = time.perf_counter()
    embeds = v["embed"].run(None, {"input_ids": v["ids"]})[0]
    if "buffer" in v:
        v["buffer"].run(embeds, **v["step"])[:, -1].argmax(-1)
    else:
        v["decoder"].run(["logits"], {"inputs_embeds": embeds, **v["step"]})[0][:, -1].argmax(-1)
    return (time.perf_counter() - start) * 1e3


def interleaved(variants: dict[str, dict], rounds: int, fn) -> dict[str, list[float]]:  # noqa: ANN001
    names = list(variants)
    samples: dict[str, list[float]] = {n: [] for n in names}
    for i in range(rounds):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(fn(variants[name]))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--rounds", type=int, default=40, help="decode steps per variant")
    parser.add_argument("--prefill-rounds", type=int, default=3)
    parser.add_argument("--prompt-tokens", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: ORT's)")
    parser.add_argument("--fast", action="store_true", help="prepacked weights (more memory)")
    parser.add_argument("--provider", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from vlmprune.runtime.profiling.config import ProfileConfig, Schedule
    from vlmprune.runtime.profiling.profiler import Profiler
    from vlmprune.runtime.profiling.report import choose_baseline

    config = ProfileConfig(prompt_tokens=args.prompt_tokens, new_tokens=2,
                           schedule=Schedule.INTERLEAVED)  # fmt: skip
    profiler = Profiler.open(args.manifest, config, provider=args.provider,
                             share_weights=not args.fast, verify=False,
                             threads=args.threads)  # fmt: skip
    manifest = profiler.manifest
    variants = {v.name: prepare(profiler, v.name) for v in manifest.variants}
    for v in variants.values():  # warm-up: one of each
        time_step(v), time_prefill(v)
    decode = interleaved(variants, args.rounds, time_step)
    prefill = interleaved(variants, args.prefill_rounds, time_prefill)
    base = choose_baseline(manifest)
    n, k_base = manifest.model.num_blocks, len(base.removed_blocks)
    rows = []
    for v in manifest.variants:
        k = len(v.removed_blocks)
        ideal = (n - k_base) / (n - k)
        row = {"name": v.name, "removed_blocks": list(v.removed_blocks), "ideal_speedup": ideal}
        for label, samples in (("decode", decode), ("prefill", prefill)):
            for stat, fn in (("median", statistics.median), ("min", min)):
                ms = fn(samples[v.name])
                speedup = fn(samples[base.name]) / ms
                row[f"{label}_{stat}_ms"] = ms
                row[f"{label}_{stat}_speedup"] = speedup
                row[f"{label}_{stat}_of_ideal"] = speedup / ideal
                row[f"{label}_{stat}_of_ideal_gain"] = (
                    (speedup - 1) / (ideal - 1) if k > k_base else None
                )
        rows.append(row)
    report = {
        "provider": profiler.provider, "device": profiler.device, "baseline": base.name,
        "num_blocks": n, "prompt_length": profiler.request.prompt_length,
        "rounds": args.rounds, "prefill_rounds": args.prefill_rounds,
        "threads": args.threads, "weights_mode": profiler.runtime.config.mode.value,
        "variants": rows,
    }  # fmt: skip
    print(json.dumps(report, indent=2) if args.json else render(report))


def render(r: dict) -> str:
    lines = [
        f"{r['provider']} on {r['device']}, {r['weights_mode']} weights, threads "
        f"{r['threads'] or 'default'}; prompt {r['prompt_length']} tokens; {r['rounds']} decode "
        f"steps and {r['prefill_rounds']} prefills per variant, interleaved; baseline "
        f"'{r['baseline']}', N = {r['num_blocks']}",
        f"{'variant':<16} {'k':>2} {'ideal':>6} | {'decode med':>10} {'speedup':>7} {'of ideal':>8} "
        f"{'of gain':>7} | {'decode min':>10} {'speedup':>7} {'of ideal':>8} | "
        f"{'prefill med':>11} {'speedup':>7} {'of ideal':>8}",
    ]
    for v in r["variants"]:
        gain = v["decode_median_of_ideal_gain"]
        lines.append(
            f"{v['name']:<16} {len(v['removed_blocks']):>2} {v['ideal_speedup']:>6.3f} | "
            f"{v['decode_median_ms']:>10.2f} {v['decode_median_speedup']:>7.3f} "
            f"{v['decode_median_of_ideal']:>8.3f} {'-' if gain is None else f'{gain:.2f}':>7} | "
            f"{v['decode_min_ms']:>10.2f} {v['decode_min_speedup']:>7.3f} "
            f"{v['decode_min_of_ideal']:>8.3f} | {v['prefill_median_ms']:>11.1f} "
            f"{v['prefill_median_speedup']:>7.3f} {v['prefill_median_of_ideal']:>8.3f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
