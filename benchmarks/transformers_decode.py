"""transformers' own `generate` on the exported model's weights, as the reference to beat.

The LLaVA model folder the export came from is loaded with the variant's blocks removed
(`adapter.removed`), and `generate` gets the prompt embeddings the runtime computed
(`inputs_embeds`, identical input on both sides), greedy, exactly `new_tokens` tokens (the
generation config's EOS is unset, so nothing stops early). Two modes:

    eager     the default dynamic cache, no compilation
    compiled  `cache_implementation="static"` with a `CompileConfig` (mode reduce-overhead:
              CUDA graphs): transformers then compiles the decoding forward itself
              (`generate`'s auto-compile; the prefill stays eager, its shape changes)

How time is split: a logits processor runs once per generated token, after that token's
forward; it synchronises the device and takes a timestamp. Prefill (time to first token
from the embeddings) = first stamp - call start; decode ms/token = (last stamp - first
stamp) / (new_tokens - 1), every later step (forward + the processors + the cache update).
The vision tower is timed separately (eager, `VisionEncoder`), so TTFT = vision + prefill.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch
from transformers import CompileConfig, LogitsProcessor, LogitsProcessorList

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


class Mode(str, Enum):
    EAGER = "eager"
    COMPILED = "compiled"


@dataclass(frozen=True)
class TorchRun:
    prefill_ms: float
    decode_ms_per_token: float
    tokens: tuple[int, ...]


class _Stamps(LogitsProcessor):
    """A timestamp per generated token, after its forward (the device synchronised)."""

    def __init__(self, sync) -> None:  # noqa: ANN001
        self.sync, self.times = sync, []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.sync()
        self.times.append(time.perf_counter())
        return scores


class TorchDecoder:
    """One model folder on one device; `run` times a generate call of one variant."""

    def __init__(self, model_path: str, device: str) -> None:
        from vlmprune.export.models.llava import VisionEncoder
        from vlmprune.export.models.loading import load_vlm

        self.vlm = load_vlm(model_path, device=device)
        self.model, self.device = self.vlm.model, device
        self.vision = VisionEncoder(self.model).eval()
        self.sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        # No EOS: every call decodes exactly max_new_tokens, as the runtime side does.
        self.model.generation_config.eos_token_id = None
        self.model.generation_config.pad_token_id = self.vlm.pad_id
        self.dtype = "fp32"

    def to(self, dtype: str) -> None:
        self.model.to(DTYPES[dtype])
        self.dtype = dtype

    @torch.inference_mode()
    def vision_ms(self, pixels: np.ndarray) -> float:
        x = torch.from_numpy(pixels).to(self.device, DTYPES[self.dtype])
        self.sync()
        start = time.perf_counter()
        self.vision(x)
        self.sync()
        return (time.perf_counter() - start) * 1e3

    @torch.inference_mode()
    def run(self, embeds: np.ndarray, mask: np.ndarray, new_tokens: int, mode: Mode) -> TorchRun:
        x = torch.from_numpy(np.asarray(embeds, np.float32)).to(self.device, DTYPES[self.dtype])
        m = torch.from_numpy(mask).to(self.device)
        stamps = _Stamps(self.sync)
        extra = {}
        if Mode(mode) is Mode.COMPILED:
            config = CompileConfig(mode="reduce-overhead")
            if self.device != "cuda":
                config._compile_all_devices = True  # transformers' switch for CPU (tests)
            extra = {"cache_implementation": "static", "compile_config": config}
        else:
            extra = {"disable_compile": True}
        self.sync()
        start = time.perf_counter()
        out = self.model.generate(
            inputs_embeds=x,
            attention_mask=m,
            max_new_tokens=new_tokens,
            do_sample=False,
            logits_processor=LogitsProcessorList([stamps]),
            **extra,
        )
        t = stamps.times
        if len(t) < 2:
            raise RuntimeError(f"generate produced {len(t)} token(s); decode needs 2 or more")
        return TorchRun(
            prefill_ms=(t[0] - start) * 1e3,
            decode_ms_per_token=(t[-1] - t[0]) * 1e3 / (len(t) - 1),
            tokens=tuple(out[0, -len(t) :].tolist()),
        )

    @property
    def compiled(self) -> bool:
        """Whether generate used its compiled forward (set on the model when it compiles)."""
        return hasattr(self.model, "_compiled_call")


def measure(
    decoder: TorchDecoder,
    removed: tuple[int, ...],
    request: dict,
    mode: Mode,
    warmup: int,
    repeats: int,
    time_left,  # noqa: ANN001  (() -> seconds left; repeats stop when it runs out)
) -> dict:
    """Median timings of `repeats` generate calls (after `warmup`) of one variant."""
    vlm = decoder.vlm
    if Mode(mode) is Mode.COMPILED and hasattr(decoder.model, "_compiled_call"):
        del decoder.model._compiled_call  # present after the calls below only if they compiled
    with vlm.adapter.removed(decoder.model, removed):
        start = time.perf_counter()
        for _ in range(warmup):  # the compiled mode compiles (and records CUDA graphs) here
            decoder.run(request["embeds"], request["mask"], request["new_tokens"], mode)
        warmup_s = time.perf_counter() - start
        runs, vision = [], []
        for i in range(repeats):
            if i and time_left() < 0:
                break
            runs.append(
                decoder.run(request["embeds"], request["mask"], request["new_tokens"], mode)
            )
            vision.append(decoder.vision_ms(request["pixels"]))
    prefill = statistics.median(r.prefill_ms for r in runs)
    return {
        "removed_blocks": list(removed),
        "dtype": decoder.dtype,
        "mode": Mode(mode).value,
        "compiled_forward_used": decoder.compiled if Mode(mode) is Mode.COMPILED else False,
        "repeats": len(runs),
        "warmup": warmup,
        "warmup_s": warmup_s,
        "vision_ms": statistics.median(vision),
        "prefill_ms": prefill,
        "ttft_ms": statistics.median(vision) + prefill,
        "decode_ms_per_token": statistics.median(r.decode_ms_per_token for r in runs),
        "decode_ms_per_token_min": min(r.decode_ms_per_token for r in runs),
        "tokens": list(runs[-1].tokens),
    }


def runtime_request(ctx, manifest) -> tuple[dict, list, list[int]]:  # noqa: ANN001
    """The synthetic request's prompt embeddings from the runtime's own graphs (CPU), the
    manifest's variants, and the runtime's greedy tokens of the default variant."""
    from vlmprune.runtime.generation import greedy_decode
    from vlmprune.runtime.profiling.config import ProfileConfig
    from vlmprune.runtime.profiling.profiler import synthetic_request

    runtime = ctx.runtime(manifest, providers=["CPUExecutionProvider"])
    n = ctx.args.new_tokens
    config = ProfileConfig(
        prompt_tokens=ctx.prompt_tokens(runtime), new_tokens=n, seed=ctx.args.seed
    )
    r = synthetic_request(runtime.manifest, runtime.tokenizer, config)
    s, arch = runtime.sessions, runtime.manifest.arch
    embeds = arch.inputs_embeds(s.embed, r.input_ids, arch.image_features(s.vision, r.images))
    positions = arch.position_ids(r.input_ids, r.mask, r.images)
    decoder = s.decoder(runtime.manifest.default_variant)
    tokens = greedy_decode(decoder, s.embed, embeds, r.mask, positions, -1, n).tokens[0]
    request = {"embeds": embeds, "mask": r.mask, "pixels": r.pixels, "new_tokens": n,
               "prompt_length": r.prompt_length}  # fmt: skip
    return request, list(runtime.manifest.variants), tokens


def stage_transformers(ctx, clock) -> dict:  # noqa: ANN001
    """Eager for every variant and compiled for `--torch-compiled-k`, per `--torch-dtypes`."""
    from gpu_stages import error_text

    args = ctx.args
    manifest = ctx.manifests().get("fp32")
    if manifest is None:
        raise RuntimeError("no fp32 export: its embeddings are the transformers input")
    request, variants, runtime_tokens = runtime_request(ctx, manifest)
    device = "cuda" if args.provider == "cuda" else "cpu"
    decoder = TorchDecoder(ctx.model_folder(), device)
    compiled_k = {int(k) for k in args.torch_compiled_k.split(",") if k.strip()}
    eager: dict[str, list] = {}
    compiled: dict[str, list] = {}
    for dtype in [d.strip() for d in args.torch_dtypes.split(",") if d.strip()]:
        decoder.to(dtype)
        for mode, rows, chosen, warmup, need in (
            (Mode.EAGER, eager.setdefault(dtype, []), variants, 1, 5),
            (Mode.COMPILED, compiled.setdefault(dtype, []),
             [v for v in variants if len(v.removed_blocks) in compiled_k], 2, 40),
        ):  # fmt: skip
            for v in chosen:
                row = {"variant": v.name, "k": len(v.removed_blocks)}
                if clock.left() < need:
                    rows.append(row | {"skipped": f"{clock.left():.0f} s left in the stage"})
                    continue
                try:
                    row |= measure(decoder, v.removed_blocks, request, mode, warmup,
                                   args.torch_repeats, clock.left)  # fmt: skip
                    row["same_tokens_as_runtime_full"] = (
                        row["tokens"] == list(runtime_tokens) if not v.removed_blocks else None
                    )
                except Exception as exc:  # one variant's failure: the others still run
                    row["error"] = error_text(exc)
                rows.append(row)
    del decoder
    if device == "cuda":
        torch.cuda.empty_cache()  # the later stages' processes read GPU memory
    return {
        "transformers_request": {"prompt_length": request["prompt_length"],
                                 "new_tokens": request["new_tokens"], "device": device,
                                 "runtime_full_tokens_cpu": list(runtime_tokens)},
        "transformers_eager": eager,
        "transformers_compiled": compiled,
    }  # fmt: skip
