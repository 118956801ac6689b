"""Per-example GPU costs of the block search for 3B- and 7B-class VLM decoders.

The two numbers `benchmarks/scale_plan.py` needs (`--gen-s`, `--tf-s`), measured on
random-weight text decoders of the real shapes (Qwen2.5-VL-3B: 36 blocks x 2048; 7B: 28 x
3584), bf16, with transformers:

- gen: greedy generation of `--new-tokens` tokens after a `--prompt`-token prompt (image
  tokens included), batched; seconds per example = wall / batch.
- tf: one teacher-forced forward pass over prompt + answer; seconds per example likewise.

The vision tower is left out on purpose: the search prepares each dataset's inputs once
(image features included) and reuses them for every candidate set, so a candidate costs
decoder passes only. Random weights never emit EOS, so every generation runs its full budget.

    python benchmarks/scale_costs.py --device cuda --out docs/benchmarks/scale_costs_gpu.json
    python benchmarks/scale_costs.py --tiny            # a smoke test on CPU
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

SHAPES = {  # the text decoders of Qwen2.5-VL-3B / -7B (config.json of the released folders)
    "3b": dict(
        hidden_size=2048,
        num_hidden_layers=36,
        num_attention_heads=16,
        num_key_value_heads=2,
        intermediate_size=11008,
        vocab_size=151936,
    ),
    "7b": dict(
        hidden_size=3584,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        intermediate_size=18944,
        vocab_size=152064,
    ),
    "tiny": dict(
        hidden_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        vocab_size=512,
    ),
}


def build(shape: str, device: str, dtype: torch.dtype) -> Qwen2ForCausalLM:
    config = Qwen2Config(**SHAPES[shape], max_position_embeddings=4096, tie_word_embeddings=False)
    with torch.device(device):
        model = Qwen2ForCausalLM(config)
    return model.to(dtype).eval()


def timed(fn: object, device: str, repeats: int) -> float:
    fn()  # warm-up: kernels chosen, caches allocated
    best = float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


@torch.no_grad()
def measure(model: Qwen2ForCausalLM, args: argparse.Namespace, batch: int) -> dict:
    vocab = model.config.vocab_size
    gen = torch.randint(3, vocab, (batch, args.prompt), device=args.device)
    tf = torch.randint(3, vocab, (batch, args.prompt + args.new_tokens), device=args.device)
    mask = torch.ones_like(gen)

    def generate() -> None:
        model.generate(
            input_ids=gen,
            attention_mask=mask,
            max_new_tokens=args.new_tokens,
            min_new_tokens=args.new_tokens,
            do_sample=False,
            pad_token_id=0,
        )

    def forward() -> None:
        model(input_ids=tf, use_cache=False, logits_to_keep=args.new_tokens)

    gen_s, tf_s = (
        timed(generate, args.device, args.repeats),
        timed(forward, args.device, args.repeats),
    )
    return {"batch": batch, "gen_s_per_example": gen_s / batch, "tf_s_per_example": tf_s / batch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", nargs="+", default=["3b", "7b"], choices=list(SHAPES))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--prompt", type=int, default=330, help="prompt tokens, image included")
    parser.add_argument("--new-tokens", type=int, default=8, help="a short VQA answer + EOS")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="smoke test: tiny shape on CPU")
    parser.add_argument("--out", help="write the JSON here too")
    args = parser.parse_args()
    if args.tiny:
        args.shapes, args.device, args.batches, args.prompt = ["tiny"], "cpu", [2], 16
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    result = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "dtype": str(dtype).removeprefix("torch."),
        "torch": torch.__version__,
        "prompt_tokens": args.prompt,
        "new_tokens": args.new_tokens,
        "shapes": {},
    }
    for shape in args.shapes:
        model = build(shape, args.device, dtype)
        rows = [measure(model, args, b) for b in args.batches]
        best = {
            "gen_s": min(r["gen_s_per_example"] for r in rows),
            "tf_s": min(r["tf_s_per_example"] for r in rows),
        }
        result["shapes"][shape] = {"per_batch": rows, "best": best}
        print(shape, json.dumps(best), flush=True)
        del model
        if args.device == "cuda":
            torch.cuda.empty_cache()
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
