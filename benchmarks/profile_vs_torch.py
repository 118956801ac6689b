"""The runtime (onnxruntime, CPU) against PyTorch eager on the same variant and inputs.

Both sides get the same synthetic request as `vlmprune profile` (random image, random text
tokens, exactly --new-tokens greedy tokens, EOS ignored) and time the same stages: vision
tower + projector, prefill (embeddings, merge, first decoder call, argmax) and decode
steps. PyTorch runs the model folder the export came from with the variant's blocks
removed (`adapter.removed`), in fp32 under `torch.inference_mode()`, with the same number
of threads as onnxruntime. Requests alternate between the two sides (torch, ort, ort,
torch, ...) so that the machine's drift hits both alike; the report gives medians and the
torch / runtime ratios, and whether both produced the same tokens.

One difference in work, by design of the graphs: the exported decoder returns logits for
every prompt position at prefill (B, T, V), PyTorch eager computes the LM head on the last
position only (as `vlmprune.export.evaluation.generation` does).

    python benchmarks/profile_vs_torch.py --model /tmp/vlmprune-realistic/model \
        --manifest /tmp/vlmprune-realistic/export/manifest.json --variant blocks_3_4

`--provider cuda` puts both sides on the GPU (torch on "cuda", onnxruntime with
CUDAExecutionProvider; timings synchronise the device); results on an H100 in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def torch_side(model_path: str, removed: tuple[int, ...], threads: int, device: str):  # noqa: ANN201
    """A function request -> (vision_ms, prefill_ms, decode_ms, tokens) running PyTorch eager."""
    import torch
    from transformers import DynamicCache

    from vlmprune.export.models.llava import VisionEncoder
    from vlmprune.export.models.loading import load_vlm

    if threads:
        torch.set_num_threads(threads)
    vlm = load_vlm(model_path, device=device)
    vlm.adapter.remove_blocks(vlm.model, removed)
    model, adapter = vlm.model, vlm.adapter
    vision, decoder, head = (
        VisionEncoder(model).eval(),
        adapter.decoder(model),
        adapter.lm_head(model),
    )
    embed = model.get_input_embeddings()
    image_token = model.config.image_token_id
    sync = torch.cuda.synchronize if device == "cuda" else lambda: None

    @torch.inference_mode()
    def run(request, new_tokens: int) -> tuple[float, float, float, list[list[int]]]:
        pixels = torch.from_numpy(request.pixels).to(device)
        ids = torch.from_numpy(request.input_ids).to(device)
        mask = torch.from_numpy(request.mask).to(device)
        sync()
        t0 = time.perf_counter()
        features = vision(pixels)  # (B, n_img, H)
        sync()
        t1 = time.perf_counter()
        embeds = embed(ids)
        embeds[ids == image_token] = features.reshape(-1, features.shape[-1])
        cache = DynamicCache(config=adapter.text_config(model))
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        tokens, step_embeds, decode_s = [], embeds, 0.0
        for step in range(new_tokens):
            start = time.perf_counter()
            out = decoder(
                inputs_embeds=step_embeds, attention_mask=mask, position_ids=positions,
                past_key_values=cache, use_cache=True,
            )  # fmt: skip
            next_ids = head(out.last_hidden_state[:, -1]).argmax(-1)  # (B,)
            tokens.append(next_ids.cpu())  # the next step needs it anyway: syncs a GPU
            step_embeds = embed(next_ids)[:, None, :]
            positions = positions[:, -1:] + 1
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
            if step == 0:
                t2 = time.perf_counter()
            else:
                decode_s += time.perf_counter() - start
        rows = torch.stack(tokens, dim=1).tolist()
        return (t1 - t0) * 1e3, (t2 - t1) * 1e3, decode_s * 1e3, rows

    return run


def ort_side(manifest: str, variant: str, config, threads: int, provider: str, fast: bool):  # noqa: ANN201
    from vlmprune.runtime.arch.llava import merge_image_features
    from vlmprune.runtime.generation import greedy_decode, positions_from_mask
    from vlmprune.runtime.profiling.profiler import Profiler

    # Profiler.open refuses a CUDA run that would silently fall back to the CPU.
    profiler = Profiler.open(
        manifest, config, provider=provider, share_weights=not fast, verify=False, threads=threads
    )
    s = profiler.runtime.sessions
    vision, embed, decoder = s.vision, s.embed, s.decoder(variant)
    image_token = profiler.manifest.image_token_id

    def run(request, new_tokens: int) -> tuple[float, float, float, list[list[int]]]:
        t0 = time.perf_counter()
        features = vision.run(["image_features"], {"pixel_values": request.pixels})[0]
        t1 = time.perf_counter()
        embeds = embed.run(["inputs_embeds"], {"input_ids": request.input_ids})[0]
        merged = merge_image_features(embeds, request.input_ids, features, image_token)
        t2 = time.perf_counter()
        out = greedy_decode(
            decoder, embed, merged, request.mask, positions_from_mask(request.mask), -1, new_tokens
        )
        prefill = (t2 - t1 + out.prefill_s) * 1e3
        return (t1 - t0) * 1e3, prefill, out.decode_s * 1e3, out.tokens

    return profiler, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the model folder the export came from")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--variant", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--prompt-tokens", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0, help="0: onnxruntime's default")
    parser.add_argument(
        "--provider", choices=["cpu", "cuda"], default="cpu", help="cuda: both sides on the GPU"
    )
    parser.add_argument(
        "--fast", action="store_true", help="runtime in fast mode (prepacked weights)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import os

    from vlmprune.runtime.profiling.config import ProfileConfig

    config = ProfileConfig(prompt_tokens=args.prompt_tokens, new_tokens=args.new_tokens)
    profiler, ort_run = ort_side(
        args.manifest, args.variant, config, args.threads, args.provider, args.fast
    )
    runtime, request = profiler.runtime, profiler.request
    removed = runtime.manifest.variant(args.variant).removed_blocks
    threads = args.threads or os.cpu_count()  # onnxruntime's default: one per core
    torch_run = torch_side(args.model, removed, threads, args.provider)
    sides = {"torch": torch_run, "onnxruntime": ort_run}
    for _ in range(args.warmup):
        for run in sides.values():
            run(request, args.new_tokens)
    times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in sides}
    tokens = {}
    for i in range(args.runs):
        for name in sides if i % 2 == 0 else list(sides)[::-1]:
            vision, prefill, decode, rows = sides[name](request, args.new_tokens)
            times[name].append((vision, prefill, decode))
            tokens[name] = rows
    report = summarise(times, args, removed, request.prompt_length, threads)
    report["provider"], report["device"] = profiler.provider, profiler.device
    report["weights_mode"] = profiler.runtime.config.mode.value
    report["identical_tokens"] = tokens["torch"] == [list(r) for r in tokens["onnxruntime"]]
    print(json.dumps(report, indent=2) if args.json else render(report))


def summarise(
    times: dict, args: argparse.Namespace, removed, prompt_length: int, threads: int
) -> dict:
    steps = args.new_tokens - 1
    out = {}
    for name, rows in times.items():
        vision = statistics.median(r[0] for r in rows)
        prefill = statistics.median(r[1] for r in rows)
        decode = statistics.median(r[2] / steps for r in rows)
        ttft = statistics.median(r[0] + r[1] for r in rows)
        out[name] = {"vision_ms": vision, "prefill_ms": prefill, "ttft_ms": ttft,
                     "decode_ms_per_token": decode}  # fmt: skip
    ratio = {k: out["torch"][k] / out["onnxruntime"][k] for k in out["torch"]}
    return {
        "variant": args.variant, "removed_blocks": list(removed), "runs": args.runs,
        "warmup": args.warmup, "prompt_length": prompt_length, "new_tokens": args.new_tokens,
        "threads": threads, "medians": out, "torch_over_onnxruntime": ratio,
    }  # fmt: skip


def render(report: dict) -> str:
    m, r = report["medians"], report["torch_over_onnxruntime"]
    lines = [
        f"variant {report['variant']} (removed {report['removed_blocks']}), prompt "
        f"{report['prompt_length']} tokens, {report['new_tokens']} new tokens, {report['runs']} "
        f"runs per side (medians), {report['threads']} threads; identical tokens: "
        f"{report['identical_tokens']}; {report['provider']} on {report['device']}, runtime in "
        f"{report['weights_mode']} weights mode",
        f"{'':<22} {'torch eager':>12} {'onnxruntime':>12} {'torch / ort':>12}",
    ]
    for key in m["torch"]:
        lines.append(
            f"{key:<22} {m['torch'][key]:>12.2f} {m['onnxruntime'][key]:>12.2f} {r[key]:>12.2f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
