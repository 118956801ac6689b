"""Decode ms/token of a Qwen2.5-VL-shaped decoder with k = 0..4 blocks removed, against the
ideal speedup N/(N-k), on CPU, all variants side by side in one process.

The decoder has the shape of Qwen2.5-VL-3B's smaller sibling text model (Qwen2-0.5B): 24
blocks, hidden 896, 14 heads, 2 KV heads, MLP 4864, M-RoPE sections [8, 12, 12] (head_dim 64; the releases use [16, 24, 24] for head_dim 128); the
vocabulary is cut to 32,000 (Qwen's is 151,936) so the LM head does not dominate, and the
vision tower is tiny (decode never runs it). Weights are random: latency does not depend on
their values. Each variant is exported with vlmprune's own decoder export
(`graphs.export_decoder`, 3-D position ids) and run with onnxruntime; the prompt is the
runtime's synthetic request (chat template, a 448 x 448 image = 256 image tokens, random
text), so the prefill positions are real M-RoPE ids.

Timing (as benchmarks/profile_decode.py): every variant prefills once to get its KV cache,
then each round times one decode step (embed lookup, decoder, argmax) of every variant, in
an order rotated per round, at the same cache length; a burst of other load hits all alike.

`--layout traced,gqa` times both decoder layouts side by side, each k against its own
layout's k = 0: traced (Concat-grown cache fed back, the default) and gqa (fused graph with
MRotaryEmbedding, the runtime's preallocated KV buffer bound as past and present; the same
step at the same length rewrites the same cache slot). Both hand the logits to the host.

    python benchmarks/qwen_decode_speed.py                  # ~5-8 min on 2 cores
    python benchmarks/qwen_decode_speed.py --rounds 40 --threads 2 --json out.json
    python benchmarks/qwen_decode_speed.py --rounds 10 --layout traced,gqa
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REMOVED = {0: (), 1: (11,), 2: (7, 15), 3: (5, 11, 17), 4: (4, 9, 14, 19)}


def build(folder: Path, vocab: int):
    """The random Qwen2.5-VL-shaped model, loaded as vlmprune loads a folder (no weights file)."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from qwen_folders import build_model, train_tokenizer, write_folder  # tests' side files

    from vlmprune.export.models.architectures import adapter_for
    from vlmprune.export.models.loading import LoadedVlm

    tok = train_tokenizer()  # a tiny folder gives the tokenizer, chat template, processor
    tiny = write_folder(build_model("qwen2_5_vl", tok), tok, "qwen2_5_vl", folder / "side_files")
    ids = json.loads((tiny / "config.json").read_text())
    text = dict(
        vocab_size=vocab, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
        num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [8, 12, 12]},
        tie_word_embeddings=False,
    )  # fmt: skip
    vision = dict(depth=1, hidden_size=64, intermediate_size=128, num_heads=2, out_hidden_size=896)
    tokens = {k: ids[k] for k in ("image_token_id", "video_token_id", "vision_start_token_id")}
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, **tokens)
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    adapter = adapter_for(model)
    spec, tokenizer = adapter.read_folder(tiny, config)
    return LoadedVlm("qwen2.5-vl-shaped", model, adapter, tokenizer, spec, "0" * 64, None)


def export_all(vlm, folder: Path, layout: str = "traced") -> dict[int, Path]:
    import onnx

    from vlmprune.export.onnx import graphs
    from vlmprune.runtime.decoders import DecoderLayout

    paths = {}
    for k, removed in REMOVED.items():
        start = time.perf_counter()
        with vlm.adapter.removed(vlm.model, removed):
            proto = graphs.export_decoder(vlm, DecoderLayout(layout))
        path = folder / f"decoder_{layout}_k{k}.onnx"
        onnx.save(proto, str(path), save_as_external_data=True, location=f"{layout}_k{k}.bin")
        took = time.perf_counter() - start
        print(f"exported {layout} k={k} {list(removed)} in {took:.0f} s", flush=True)
        paths[k] = path
    return paths


def request(vlm, prompt_tokens: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs_embeds, mask, M-RoPE positions) of the runtime's synthetic request."""
    arch, rng = vlm.arch, np.random.default_rng(0)
    image = arch.preprocess(arch.synthetic_image(rng))
    text = rng.integers(0, 300, prompt_tokens).tolist()
    ids = np.asarray([arch.synthetic_ids(vlm.tokenizer, text, image)], np.int64)
    mask = np.ones_like(ids)
    embeds = rng.standard_normal((1, ids.shape[1], 896)).astype(np.float32) * 0.02
    return embeds, mask, arch.position_ids(ids, mask, [image])


def _session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def prepare(path: Path, embeds, mask, positions, threads: int, table: np.ndarray) -> dict:
    session = _session(path, threads)
    past = {
        a.name: np.zeros((1, a.shape[1], 0, a.shape[3]), np.float32)
        for a in session.get_inputs()[3:]
    }
    feed = {"inputs_embeds": embeds, "attention_mask": mask, "position_ids": positions, **past}
    names = [o.name for o in session.get_outputs()]
    out = dict(zip(names, session.run(None, feed), strict=True))
    step = {
        "attention_mask": np.concatenate([mask, np.ones_like(mask[:, :1])], axis=1),
        "position_ids": positions[..., -1:] + 1,
        **{k: out[k.replace("past_key_values.", "present.", 1)] for k in past},
    }
    return {
        "session": session,
        "step": step,
        "id": int(out["logits"][0, -1].argmax()),
        "table": table,
    }


def prepare_gqa(path: Path, embeds, mask, positions, threads: int, table: np.ndarray) -> dict:
    """The gqa graph on the runtime's KV buffer, prefilled; its step rewrites slot n."""
    from vlmprune.runtime.decoders import cache_layout
    from vlmprune.runtime.kv_buffer import SharedKvBuffer

    session = _session(path, threads)
    cache = cache_layout(session)
    n = mask.shape[1]
    buffer = SharedKvBuffer(session, cache.num_layers, 1, cache.num_kv_heads, n + 8, cache.head_dim)
    logits = buffer.run(embeds, np.array([n - 1]), positions)
    step = {"seqlens_k": np.array([n]), "position_ids": positions[..., -1:] + 1}
    return {"buffer": buffer, "step": step, "id": int(logits[0, -1].argmax()), "table": table}


def time_step(v: dict) -> float:
    start = time.perf_counter()
    embeds = v["table"][[v["id"]]][None]  # the embed_tokens lookup of the runtime's step
    if "buffer" in v:
        logits = v["buffer"].run(embeds, **v["step"])
    else:
        logits = v["session"].run(["logits"], {"inputs_embeds": embeds, **v["step"]})[0]
    logits[0, -1].argmax()
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--layout", default="traced", help="decoder layouts to time: traced, gqa or traced,gqa"
    )
    args = parser.parse_args()
    layouts = [name.strip() for name in args.layout.split(",") if name.strip()]
    if not layouts or set(layouts) - {"traced", "gqa"}:
        parser.error(f"--layout: traced, gqa or both, not {args.layout!r}")
    import onnxruntime

    with tempfile.TemporaryDirectory(prefix="vlmprune-qwen-speed-") as scratch:
        folder = Path(scratch)
        vlm = build(folder, args.vocab)
        params = sum(p.numel() for p in vlm.adapter.decoder(vlm.model).parameters())
        print(f"decoder {params / 1e6:.0f} M parameters (+ LM head {args.vocab * 896 / 1e6:.0f} M)")
        embeds, mask, positions = request(vlm, args.prompt_tokens)
        table = vlm.model.get_input_embeddings().weight.detach().numpy()
        paths = {layout: export_all(vlm, folder, layout) for layout in layouts}
        del vlm
        setup = {"traced": prepare, "gqa": prepare_gqa}
        variants = {
            (layout, k): setup[layout](p, embeds, mask, positions, args.threads, table)
            for layout, by_k in paths.items()
            for k, p in by_k.items()
        }
        times: dict[tuple[str, int], list[float]] = {key: [] for key in variants}
        order = list(variants)
        for r in range(args.rounds + 2):
            for k in order[r % len(order) :] + order[: r % len(order)]:
                ms = time_step(variants[k])
                if r >= 2:  # two warm-up rounds
                    times[k].append(ms)
    rows = []
    print(f"prompt {mask.shape[1]} tokens; {args.rounds} interleaved decode steps per variant")
    print(
        f"{'layout':<6} {'k':>2} {'removed':<16} {'median ms':>9} {'min ms':>7} {'speedup':>7} {'ideal':>6} {'of ideal gain':>13}"
    )
    for (layout, k), samples in times.items():
        base = statistics.median(times[layout, 0])
        med, low = statistics.median(samples), min(samples)
        ideal = 24 / (24 - k)
        speedup = base / med
        gain = (speedup - 1) / (ideal - 1) if k else None
        rows.append({"layout": layout, "k": k, "removed": list(REMOVED[k]), "median_ms": med,
                     "min_ms": low, "speedup": speedup, "ideal": ideal,
                     "fraction_of_ideal_gain": gain})  # fmt: skip
        shown = "" if gain is None else f"{gain:.0%}"
        print(
            f"{layout:<6} {k:>2} {str(list(REMOVED[k])):<16} {med:>9.1f} {low:>7.1f} {speedup:>7.3f} {ideal:>6.3f} {shown:>13}"
        )
    if args.json:
        meta = {"onnxruntime": onnxruntime.__version__, "prompt_tokens": int(mask.shape[1]),
                "rounds": args.rounds, "threads": args.threads, "vocab": args.vocab,
                "layouts": layouts}  # fmt: skip
        args.json.write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
