"""Training-step throughput of the demo, side by side in one process: the transformers
forward (eager) against `llava_loss` eager and compiled, at a few batch sizes.

The batches are drawn once from the train stream and reused, so the numbers are the GPU
step alone (forward, backward, clip, fused AdamW), not data loading. Also times the data
stream with N worker processes, to see whether the loader can keep up.

    python benchmarks/train_speed.py --device cuda --batch-sizes 256,1024 --json out.json
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from tokenizers import Tokenizer

from vlmprune.export.models.llava_build import SIZES, build_llava, preprocess_spec
from vlmprune.export.train.data import normalize_pixels, train_loader
from vlmprune.export.train.forward import LlavaLoss, image_offset


def _batches(tok_file: str, batch: int, spec) -> dict:  # noqa: ANN001
    return next(iter(train_loader(tok_file, spec, {}, "bench", batch, workers=0)))


def _time_steps(step, steps: int, device: str) -> float:  # noqa: ANN001
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def bench_mode(mode: str, batch: dict, tok_file: str, device: str, steps: int) -> dict:
    tokenizer = Tokenizer.from_file(tok_file)
    spec = preprocess_spec(SIZES["demo"])
    model = build_llava(SIZES["demo"], tokenizer).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device == "cuda")
    image_id = tokenizer.token_to_id(spec.image_token)
    offset = image_offset(batch["input_ids"], image_id, spec.num_image_tokens)
    on = {k: v.to(device) for k, v in batch.items()}
    pixels = normalize_pixels(on["pixels"], spec)
    loss_module = LlavaLoss(model)
    if mode == "compiled":
        loss_module = torch.compile(loss_module)

    def step() -> None:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            if mode == "transformers":
                loss = model(
                    input_ids=on["input_ids"], pixel_values=pixels, labels=on["labels"]
                ).loss
            else:
                loss = loss_module(on["input_ids"], pixels, on["labels"], offset)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0  # includes compilation for "compiled"
    _time_steps(step, 3, device)
    seconds = _time_steps(step, steps, device)
    rows = len(batch["input_ids"])
    return {
        "mode": mode,
        "batch": rows,
        "first_step_s": round(first, 2),
        "step_ms": round(seconds * 1000, 2),
        "examples_per_s": round(rows / seconds),
    }


def bench_loader(tok_file: str, workers: int, batch: int, batches: int) -> dict:
    spec = preprocess_spec(SIZES["demo"])
    it = iter(train_loader(tok_file, spec, {}, "bench-loader", batch, workers))
    next(it)  # worker start-up
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    seconds = time.perf_counter() - t0
    return {"workers": workers, "batch": batch, "examples_per_s": round(batches * batch / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer", default="export/models/demo/tokenizer.json")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-sizes", default="256,1024")
    parser.add_argument("--modes", default="transformers,eager,compiled")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--loader-workers", type=int, default=0, help="0: skip the loader")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    spec = preprocess_spec(SIZES["demo"])
    rows = []
    for size in (int(b) for b in args.batch_sizes.split(",")):
        batch = _batches(args.tokenizer, size, spec)
        for mode in args.modes.split(","):
            row = bench_mode(mode, batch, args.tokenizer, args.device, args.steps)
            print(json.dumps(row), flush=True)
            rows.append(row)
    result = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "steps": rows,
    }
    if args.loader_workers:
        result["loader"] = bench_loader(args.tokenizer, args.loader_workers, 1024, 20)
        print(json.dumps(result["loader"]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
