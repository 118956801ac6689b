"""Decode and prefill of the fused decoder graph vs the traced one, same weights, one process.

The traced graph (export/onnx/graphs.py: TorchScript export, KV grown by Concat, numpy KV)
is what `vlmprune export` writes today; the fused graph (export/onnx/fused_decoder.py:
GroupQueryAttention, packed QKV, SkipSimplifiedLayerNorm) runs with the preallocated KV
buffer of runtime/kv_buffer.py. With `--genai-builder`, onnxruntime-genai's model builder
graph of the same (pruned) weights runs too (`-p fp32 -e cpu`, `exclude_embeds=true`; its KV
grows inside GroupQueryAttention, as onnxruntime-genai runs it without a shared buffer). All
decode the same greedy tokens from the same prompt embeddings; runs are interleaved so that
machine noise hits all alike.

    python benchmarks/fused_decode_speed.py --model demo --threads 1 2 --remove "" "5,11" --genai-builder
    python benchmarks/fused_decode_speed.py --model realistic --threads 2 --remove "" "2,5,9,11" \
        --genai-builder --quantized int8 int4 --repeats 3
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from vlmprune.export.models.loading import load_vlm
from vlmprune.export.onnx.fused_decoder import build_fused_decoder
from vlmprune.export.onnx.graphs import decoder_dims, export_decoder
from vlmprune.export.onnx.quantize import Precision, quantize
from vlmprune.runtime.kv_buffer import SharedKvBuffer


def session(proto: object, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def numpy_kv_run(
    sess: ort.InferenceSession,
    embed: np.ndarray,
    prompt: np.ndarray,
    steps: int,
    dims: object,
    positions: bool,
) -> tuple[list[int], float, float]:
    """Greedy with a graph whose KV comes back grown (traced: Concat; builder: inside GQA) and
    goes through numpy; `positions`: the graph takes position_ids (traced) or derives them
    from attention_mask (builder)."""
    past = {
        i.name: np.zeros((1, dims.num_kv_heads, 0, dims.head_dim), np.float32)
        for i in sess.get_inputs()
        if i.name.startswith("past_key_values.")
    }
    names = [o.name for o in sess.get_outputs()]
    ids, tokens, times, total = prompt, [], [], 0
    for _ in range(steps + 1):
        n = ids.shape[0]
        feeds = {
            "inputs_embeds": embed[ids][None],
            "attention_mask": np.ones((1, total + n), np.int64),
            **past,
        }
        if positions:
            feeds["position_ids"] = np.arange(total, total + n, dtype=np.int64)[None]
        start = time.perf_counter()
        out = dict(zip(names, sess.run(None, feeds), strict=True))
        times.append(time.perf_counter() - start)
        total += n
        past = {
            f"past_key_values.{k[len('present.') :]}": v
            for k, v in out.items()
            if k.startswith("present.")
        }
        token = int(out["logits"][0, -1].argmax())
        tokens.append(token)
        ids = np.array([token])
    return tokens, times[0], statistics.median(times[1:])


def builder_graph(vlm: object, folder: Path) -> Path:
    """The model builder's graph of the decoder as it is now (blocks already removed)."""
    from transformers import LlamaForCausalLM

    config = copy.deepcopy(vlm.adapter.text_config(vlm.model))
    config.num_hidden_layers = len(vlm.adapter.decoder(vlm.model).layers)
    config.layer_types = None
    model = LlamaForCausalLM(config)
    model.model.load_state_dict(vlm.adapter.decoder(vlm.model).state_dict())
    model.lm_head.load_state_dict(vlm.adapter.lm_head(vlm.model).state_dict())
    model.save_pretrained(folder / "hf")
    vlm.tokenizer.save(str(folder / "hf" / "tokenizer.json"))
    (folder / "hf" / "tokenizer_config.json").write_text(
        '{"tokenizer_class": "PreTrainedTokenizerFast"}'
    )
    command = [
        sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(folder / "hf"),
        "-o", str(folder / "out"), "-p", "fp32", "-e", "cpu", "--extra_options", "exclude_embeds=true",
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    return folder / "out" / "model.onnx"


def fused_run(
    buffer: SharedKvBuffer, embed: np.ndarray, prompt: np.ndarray, steps: int
) -> tuple[list[int], float, float]:
    ids, tokens, times, total = prompt, [], [], 0
    for _ in range(steps + 1):
        total += ids.shape[0]
        start = time.perf_counter()
        logits = buffer.run(embed[ids][None], np.array([total - 1]))
        times.append(time.perf_counter() - start)
        token = int(logits[0, -1].argmax())
        tokens.append(token)
        ids = np.array([token])
    return tokens, times[0], statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo", help="demo, a model folder, or 'realistic'")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--remove", nargs="+", default=["", "5,11"], help="block sets, '' = full")
    parser.add_argument("--prompt", type=int, default=84)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--genai-builder", action="store_true", help="also the builder's graph")
    parser.add_argument(
        "--quantized", nargs="*", default=[], choices=["int8", "int4"], help="also these fused"
    )
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.model == "realistic":  # random weights of the realistic preset (llava_build.py)
        from vlmprune.export.models.llava_build import tiny_vlm

        vlm = tiny_vlm(size="realistic")
    else:
        vlm = load_vlm(args.model)
    embed = vlm.adapter.decoder(vlm.model).embed_tokens.weight.detach().numpy()
    prompt = np.random.default_rng(0).integers(3, embed.shape[0], args.prompt)
    rows, scratch = [], tempfile.TemporaryDirectory()
    for spec in args.remove:
        blocks = [int(b) for b in spec.split(",") if b]
        with vlm.adapter.removed(vlm.model, blocks):
            dims = decoder_dims(vlm)
            traced = export_decoder(vlm)
            fused, layout = build_fused_decoder(
                vlm.adapter.decoder(vlm.model),
                vlm.adapter.lm_head(vlm.model),
                vlm.adapter.text_config(vlm.model),
                args.prompt + args.steps + 8,
            )
            built = None
            if args.genai_builder:
                built = builder_graph(vlm, Path(scratch.name) / (spec.replace(",", "_") or "full"))
        for threads in args.threads:
            a, b = session(traced, threads), session(fused, threads)
            buffer = SharedKvBuffer(
                b, layout.num_layers, 1, layout.num_kv_heads, layout.max_positions, layout.head_dim
            )
            c = None
            if built is not None:
                options = ort.SessionOptions()
                options.intra_op_num_threads = threads
                c = ort.InferenceSession(str(built), options, providers=["CPUExecutionProvider"])
            low = {
                name: SharedKvBuffer(
                    session(quantize(fused, Precision(name)), threads),
                    layout.num_layers, 1, layout.num_kv_heads, layout.max_positions, layout.head_dim,
                )
                for name in args.quantized
            }  # fmt: skip
            low_dec: dict[str, list[float]] = {name: [] for name in low}
            low_tokens: dict[str, list[int]] = {}
            t_pre, t_dec, f_pre, f_dec, g_pre, g_dec, same = [], [], [], [], [], [], True
            for _ in range(args.repeats):  # interleaved
                tt, p, d = numpy_kv_run(a, embed, prompt, args.steps, dims, positions=True)
                t_pre.append(p), t_dec.append(d)
                ft, p, d = fused_run(buffer, embed, prompt, args.steps)
                f_pre.append(p), f_dec.append(d)
                for name, low_buffer in low.items():
                    low_tokens[name], _, d = fused_run(low_buffer, embed, prompt, args.steps)
                    low_dec[name].append(d)
                if c is not None:
                    gt, p, d = numpy_kv_run(c, embed, prompt, args.steps, dims, positions=False)
                    g_pre.append(p), g_dec.append(d)
                    same = same and gt == ft
            row = {
                "removed": blocks,
                "blocks": dims.num_layers,
                "threads": threads,
                "traced_decode_ms": 1e3 * statistics.median(t_dec),
                "fused_decode_ms": 1e3 * statistics.median(f_dec),
                "traced_prefill_ms": 1e3 * statistics.median(t_pre),
                "fused_prefill_ms": 1e3 * statistics.median(f_pre),
                "same_greedy_tokens": tt == ft,
            }
            row["decode_speedup"] = row["traced_decode_ms"] / row["fused_decode_ms"]
            row["prefill_speedup"] = row["traced_prefill_ms"] / row["fused_prefill_ms"]
            if c is not None:
                row["builder_decode_ms"] = 1e3 * statistics.median(g_dec)
                row["builder_prefill_ms"] = 1e3 * statistics.median(g_pre)
                row["fused_over_builder_decode"] = row["fused_decode_ms"] / row["builder_decode_ms"]
                row["fused_over_builder_prefill"] = (
                    row["fused_prefill_ms"] / row["builder_prefill_ms"]
                )
                row["builder_same_greedy_tokens"] = same
            for name in low:
                row[f"fused_{name}_decode_ms"] = 1e3 * statistics.median(low_dec[name])
                row[f"fp32_over_{name}_decode"] = (
                    row["fused_decode_ms"] / row[f"fused_{name}_decode_ms"]
                )
                agree = sum(a == b for a, b in zip(low_tokens[name], ft, strict=True))
                row[f"{name}_greedy_tokens_equal_fp32"] = f"{agree}/{len(ft)}"
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {
        "model": vlm.name,
        "onnxruntime": ort.__version__,
        "prompt_tokens": args.prompt,
        "new_tokens": args.steps,
        "repeats": args.repeats,
        "rows": rows,
    }
    if args.out:
        with open(args.out, "w") as f:
            f.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
