"""The stages of benchmarks/gpu_decode.py: each a function (context, clock) -> report keys.

A stage that covers several dtypes or variants records an error per item and goes on, and
stops starting items when its clock runs out; gpu_decode.py's StageRunner catches the rest.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
FILLER = "describe the colors and the shapes in this picture "  # prompt text of any length


def fp16_support() -> dict:
    """Whether the export takes a `dtype` setting (an fp16 export is possible)."""
    from vlmprune.export.onnx.settings import ExportSettings

    if "dtype" not in ExportSettings.__dataclass_fields__:
        return {"available": False, "why": "fp16 not available: ExportSettings has no dtype field"}
    return {"available": True}


def dtype_setting(name: str) -> dict:
    """ExportSettings keyword for `name`, as the field's own type (a str enum or a str)."""
    from vlmprune.export.onnx.settings import ExportSettings

    fields = ExportSettings.__dataclass_fields__
    if "dtype" not in fields:
        return {}
    default = fields["dtype"].default
    return {"dtype": type(default)(name) if isinstance(default, Enum) else name}


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


class Context:
    """What the stages share: arguments, the model folder, the manifests per dtype."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.results: dict = {}  # stage results other stages compare against
        self._model: str | None = None
        self.preload_error = None
        if args.provider == "cuda":
            import onnxruntime as ort

            try:  # onnxruntime-gpu finds the CUDA/cuDNN libraries of torch's wheels
                ort.preload_dlls()
            except Exception as exc:  # recorded; the stages then say whether CUDA runs
                self.preload_error = error_text(exc)

    @property
    def providers(self) -> list[str]:
        from vlmprune.runtime.profiling.config import ExecutionProvider

        return list(ExecutionProvider(self.args.provider).ort_providers)

    def manifest_path(self, dtype: str) -> Path:
        return self.args.work / f"export-{dtype}" / "manifest.json"

    def manifests(self) -> dict[str, Path]:
        """The dtypes asked for whose export exists."""
        paths = {d: self.manifest_path(d) for d in self.args.dtype_list}
        return {d: p for d, p in paths.items() if p.is_file()}

    def model_folder(self) -> str:
        if self._model is None:
            from profile_export import model_folder

            self._model = model_folder(self.args.size, self.args.work, self.args.seed)
        return self._model

    def device_info(self) -> dict:
        import onnxruntime as ort

        from vlmprune.runtime.profiling.machine import device_name

        info: dict = {
            "name": device_name(tuple(self.providers)),
            "preload_dlls_error": self.preload_error,
            "available_providers": ort.get_available_providers(),
        }
        try:
            query = "--query-gpu=name,memory.total,driver_version"
            out = subprocess.run(
                ["nvidia-smi", query, "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20, check=True,
            )  # fmt: skip
            info["nvidia_smi"] = out.stdout.strip().splitlines()
        except (OSError, subprocess.SubprocessError) as exc:
            info["nvidia_smi"] = error_text(exc)
        return info

    def prompt_tokens(self, runtime: object) -> int:
        """Text tokens of the synthetic request that make the prompt `--prompt-length` long."""
        from vlmprune.runtime.profiling.config import ProfileConfig
        from vlmprune.runtime.profiling.profiler import synthetic_request

        one = synthetic_request(runtime.manifest, runtime.tokenizer, ProfileConfig(prompt_tokens=1))
        return max(1, self.args.prompt_length - (one.prompt_length - 1))

    def runtime(self, manifest: Path, max_resident: int = 1024, providers: list | None = None):  # noqa: ANN201
        """A Runtime on `manifest` (files not hashed: the export was checked when written)."""
        from vlmprune.runtime import Runtime

        return Runtime.from_manifest(
            manifest, providers or self.providers, verify=False, max_resident=max_resident
        )


def stage_export(ctx: Context, clock) -> dict:  # noqa: ANN001
    """Every dtype's export (reused when its manifest exists), fp32 first."""
    from profile_export import REMOVAL_SETS, export

    from vlmprune.export.onnx.settings import GenaiMode
    from vlmprune.runtime.decoders import DecoderLayout

    args, out = ctx.args, {"removal_sets": [list(r) for r in REMOVAL_SETS], "dtypes": {}}
    options = argparse.Namespace(size=args.size, datasets="shapes_vqa", parity_examples=1,
                                 score_examples=1, batch_size=1)  # fmt: skip
    model, fp32_s = ctx.model_folder(), None
    for dtype in args.dtype_list:
        path, row = ctx.manifest_path(dtype), {}
        out["dtypes"][dtype] = row
        if path.is_file():
            row.update(manifest=str(path), reused=True)
            continue
        if dtype != "fp32" and not fp16_support()["available"]:
            row["skipped"] = fp16_support()["why"]
            continue
        need = 1.2 * fp32_s + args.fp16_reserve_s if fp32_s is not None else 0.0
        if clock.run_left() < need:  # the later stages keep their time
            row["skipped"] = (
                f"{clock.run_left():.0f} s left; the fp32 export took {fp32_s:.0f} s and "
                f"{args.fp16_reserve_s:.0f} s are kept for the other stages"
            )
            continue
        start = time.perf_counter()
        try:
            export(model, args.work, options, name=path.parent.name, layout=DecoderLayout.GQA,
                   genai=GenaiMode.OFF, **dtype_setting(dtype))  # fmt: skip
            row.update(manifest=str(path), reused=False)
        except Exception as exc:  # recorded: the other dtype may still export
            row["error"] = error_text(exc)
        row["seconds"] = time.perf_counter() - start
        fp32_s = row["seconds"] if dtype == "fp32" else fp32_s
    out["model"] = model
    if not ctx.manifests():  # the stage failed: say why in its status
        errors = [row["error"] for row in out["dtypes"].values() if "error" in row]
        raise RuntimeError(errors[0] if errors else "no dtype was exported")
    return {"export": out}


def stage_runtime(ctx: Context, clock) -> dict:  # noqa: ANN001
    """`Profiler` (interleaved, all variants resident) per dtype."""
    from vlmprune.runtime.profiling.config import ProfileConfig, Schedule
    from vlmprune.runtime.profiling.profiler import Profiler

    args, out = ctx.args, {}
    runs = [(dtype, manifest, False) for dtype, manifest in ctx.manifests().items()]
    if args.provider == "cuda" and "fp16" in ctx.manifests():  # decode steps as CUDA graphs
        runs.append(("fp16_cuda_graph", ctx.manifests()["fp16"], True))
    for dtype, manifest, graph in runs:
        if clock.left() < 10:
            out[dtype] = {"skipped": f"{clock.left():.0f} s left in the stage"}
            continue
        try:
            probe = ctx.runtime(manifest, providers=["CPUExecutionProvider"])  # no session made
            config = ProfileConfig(
                runs=args.runs, warmup=args.warmup, prompt_tokens=ctx.prompt_tokens(probe),
                new_tokens=args.new_tokens, schedule=Schedule.INTERLEAVED, seed=args.seed,
            )  # fmt: skip
            profiler = Profiler.open(
                manifest, config, provider=args.provider, verify=False, cuda_graph=graph
            )
            report = profiler.run().to_json()
            for v in report["variants"]:
                v["k"] = len(v["removed_blocks"])
            out[dtype] = report
            try:
                report["decode_steps"] = step_medians(profiler, args.runs, args.new_tokens, clock)
            except Exception as exc:  # the profile above stays
                report["decode_steps"] = {"error": error_text(exc)}
            del profiler
        except Exception as exc:
            out[dtype] = {"error": error_text(exc)}
        gc.collect()
    ctx.results["runtime"] = out
    return {"runtime": out}


WEIGHT_MODES = {  # label -> (share_weights, CUDA provider options)
    "store": (True, {}),  # one GPU copy for every session (runtime/weight_store.py)
    "copied": (False, {}),  # each session copies its weights (onnxruntime's default)
    "store_exact_arena": (True, {"arena_extend_strategy": "kSameAsRequested"}),
}


def stage_weights(ctx: Context, clock) -> dict:  # noqa: ANN001
    """Decode speed with the GPU weight store against weights copied per session, side by
    side: one runtime per mode on the same export, every variant resident in each, requests
    rotating over (mode, variant) so that drift and noise hit every mode alike."""
    import numpy as np

    from vlmprune.runtime import Runtime
    from vlmprune.runtime.generation import greedy_decode
    from vlmprune.runtime.profiling.config import ProfileConfig
    from vlmprune.runtime.profiling.profiler import synthetic_request

    args, out = ctx.args, {}
    cuda = args.provider == "cuda"
    runs = [(d, m, False) for d, m in ctx.manifests().items()]
    if cuda and "fp16" in ctx.manifests():
        runs.insert(0, ("fp16_cuda_graph", ctx.manifests()["fp16"], True))
    for label, manifest, graph in runs:
        if clock.left() < 15:
            out[label] = {"skipped": f"{clock.left():.0f} s left in the stage"}
            continue
        try:
            runtimes = {
                mode: Runtime.from_manifest(
                    manifest, [("CUDAExecutionProvider", opts), "CPUExecutionProvider"]
                    if cuda else ["CPUExecutionProvider"],
                    share_weights=share, verify=False, max_resident=1024, cuda_graph=graph)
                for mode, (share, opts) in WEIGHT_MODES.items()
            }  # fmt: skip
            first = next(iter(runtimes.values()))
            config = ProfileConfig(
                prompt_tokens=ctx.prompt_tokens(first), new_tokens=args.new_tokens
            )
            request = synthetic_request(first.manifest, first.tokenizer, config)
            names = list(first.manifest.variant_names)
            feeds = {}
            for mode, rt in runtimes.items():
                s, arch = rt.sessions, rt.manifest.arch
                feats = arch.image_features(s.vision, request.images)
                feeds[mode] = (
                    arch.inputs_embeds(s.embed, request.input_ids, feats),
                    arch.position_ids(request.input_ids, request.mask, request.images),
                )
            cells = [(mode, n) for mode in runtimes for n in names]
            steps: dict = {c: [] for c in cells}
            prefill: dict = {c: [] for c in cells}
            tokens: dict = {}
            for i in range(args.runs + 1):  # the first round warms up (graph capture)
                if i > 1 and clock.left() < 0:
                    break
                for mode, n in cells[i % len(cells) :] + cells[: i % len(cells)]:
                    s = runtimes[mode].sessions
                    embeds, positions = feeds[mode]
                    o = greedy_decode(s.decoder(n), s.embed, embeds, request.mask, positions, -1,
                                      args.new_tokens)  # fmt: skip
                    tokens[mode, n] = o.tokens
                    if i:
                        steps[mode, n] += o.step_s
                        prefill[mode, n].append(o.prefill_s)
            rows = {}
            for n in names:
                row = {m: float(np.median(steps[m, n])) * 1e3 for m in runtimes}
                row["copied_over_store"] = row["copied"] / row["store"]
                row["prefill_ms"] = {m: statistics.median(prefill[m, n]) * 1e3 for m in runtimes}
                row["same_tokens"] = all(tokens[m, n] == tokens["copied", n] for m in runtimes)
                rows[n] = row
            out[label] = {"rounds": i, "decode_ms_per_step_median": rows}
            del runtimes
        except Exception as exc:
            out[label] = {"error": error_text(exc)}
        gc.collect()
    return {"weights": out}


def step_medians(profiler, rounds: int, new_tokens: int, clock) -> dict:  # noqa: ANN001
    """Every decode step of `rounds` more requests per variant (interleaved, the order rotated
    each round; the profiler's request): median, p90 and min over steps and requests, and
    the speedup of the medians against the baseline's, with the ideal N/(N-k)."""
    import numpy as np

    from vlmprune.runtime.generation import greedy_decode
    from vlmprune.runtime.profiling.report import choose_baseline, ideal_speedup

    s, m, r = profiler.runtime.sessions, profiler.manifest, profiler.request
    arch, names = m.arch, list(m.variant_names)
    embeds = arch.inputs_embeds(s.embed, r.input_ids, arch.image_features(s.vision, r.images))
    positions = arch.position_ids(r.input_ids, r.mask, r.images)
    steps: dict[str, list[float]] = {n: [] for n in names}
    for i in range(rounds):
        if i and clock.left() < 0:
            break
        for n in names[i % len(names) :] + names[: i % len(names)]:
            out = greedy_decode(s.decoder(n), s.embed, embeds, r.mask, positions, -1, new_tokens)
            steps[n] += out.step_s
    base = choose_baseline(m)
    base_median = float(np.median(steps[base.name])) * 1e3
    rows = {}
    for v in m.variants:
        ms = np.asarray(steps[v.name]) * 1e3
        median = float(np.median(ms))
        ideal = ideal_speedup(m.model.num_blocks, len(v.removed_blocks), len(base.removed_blocks))
        rows[v.name] = {"k": len(v.removed_blocks), "steps": len(ms), "median_ms": median,
                        "p90_ms": float(np.percentile(ms, 90)), "min_ms": float(ms.min()),
                        "speedup": base_median / median, "ideal": ideal,
                        "of_ideal": base_median / median / ideal}  # fmt: skip
    return {"baseline": base.name, "rounds": i + 1, "variants": rows}


def no_eos(runtime: object) -> None:
    """The runtime's manifest without a stop token (-1 is never generated): every request
    decodes exactly max_new_tokens, as the profiler's requests do."""
    gen = replace(runtime.manifest.generation, eos_token_id=-1, eos_token_ids=())
    runtime.manifest = replace(runtime.manifest, generation=gen)


def prompt_of_length(runtime: object, target: int) -> tuple[str, int]:
    """The longest prompt made of FILLER words whose ids (image included) fit `target`."""
    from vlmprune.runtime.profiling.load import random_pool

    arch, image = runtime.manifest.arch, random_pool(1, 64, ["x"])[0].image
    pixels, words, text = arch.preprocess(image), FILLER.split(), "describe"
    for n in range(1, 4 * target):
        candidate = " ".join(words[i % len(words)] for i in range(n))
        if len(arch.prompt_ids(runtime.tokenizer, candidate, pixels)) > target:
            break
        text = candidate
    return text, len(arch.prompt_ids(runtime.tokenizer, text, pixels))


def stage_throughput(ctx: Context, clock) -> dict:  # noqa: ANN001
    """`Runtime.generate_batch` of B identical-length requests (random images) on full."""
    from vlmprune.runtime import Request
    from vlmprune.runtime.profiling.load import random_pool

    args, out = ctx.args, {}
    batches = [int(b) for b in args.batches.split(",")]
    for dtype, manifest in ctx.manifests().items():
        rows: list[dict] = []
        out[dtype] = {"rows": rows}
        try:
            runtime = ctx.runtime(manifest, max_resident=1)
            no_eos(runtime)
            prompt, length = prompt_of_length(runtime, args.prompt_length)
            variant = runtime.manifest.default_variant
            out[dtype] |= {
                "variant": variant,
                "prompt_length": length,
                "new_tokens": args.new_tokens,
            }
            pool = random_pool(max(batches), 256, [prompt], seed=args.seed)
            for batch in batches:
                if clock.left() < 5:
                    rows.append({"batch": batch, "skipped": "out of time"})
                    continue
                requests = [Request(e.image, e.prompt, task_hint=variant) for e in pool[:batch]]
                rows.append(_throughput_row(runtime, requests, args.new_tokens, clock))
            del runtime
        except Exception as exc:
            out[dtype]["error"] = error_text(exc)
        gc.collect()
    return {"throughput": out}


def _throughput_row(runtime, requests: list, new_tokens: int, clock, repeats: int = 3) -> dict:  # noqa: ANN001
    """Median wall time of `repeats` generate_batch calls after one warm-up, as tokens/s."""
    runtime.generate_batch(requests, max_new_tokens=new_tokens)  # warm-up: sessions, buffers
    walls, results = [], []
    for i in range(repeats):
        if i and clock.left() < 0:
            break
        start = time.perf_counter()
        results = runtime.generate_batch(requests, max_new_tokens=new_tokens)
        walls.append(time.perf_counter() - start)
    wall, t = statistics.median(walls), results[0].timings
    tokens = sum(r.timings.tokens for r in results)
    return {
        "batch": len(requests), "repeats": len(walls), "wall_ms": wall * 1e3,
        "tokens": tokens, "tokens_per_s": tokens / wall,
        "decode_tokens_per_s": len(requests) * (t.tokens - 1) / (t.decode_ms / 1e3),
        "ttft_ms": t.vision_ms + t.prefill_ms, "decode_ms_per_step": t.decode_ms / (t.tokens - 1),
    }  # fmt: skip


def stage_memory(ctx: Context, clock) -> dict:  # noqa: ANN001
    """profile_memory.py (one round: a fresh process with one variant, one with all; weights
    shared through the GPU weight store and copied per session)."""
    out = {}
    for dtype, manifest in ctx.manifests().items():
        cmd = [sys.executable, str(BENCHMARKS / "profile_memory.py"), "--manifest", str(manifest),
               "--provider", ctx.args.provider, "--rounds", "1", "--json",
               "--modes", "shared,fast",
               "--arena", "kNextPowerOfTwo,kSameAsRequested"]  # fmt: skip
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=max(clock.left(), 1))
            if done.returncode:
                raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-1500:]}")
            out[dtype] = json.loads(done.stdout)
        except Exception as exc:
            out[dtype] = {"error": error_text(exc)}
    return {"memory": out}


def stage_load(ctx: Context, clock) -> dict:  # noqa: ANN001
    """benchmarks/load_test.py on the fp32 export, stopped by the stage's clock."""
    from load_test import parse_args, run

    a = ctx.args
    manifest = ctx.manifests().get("fp32") or next(iter(ctx.manifests().values()), None)
    if manifest is None:
        raise RuntimeError("no export to load-test (run the export stage first)")
    argv = ["--manifest", str(manifest), "--provider", a.provider, "--threads", str(a.load_threads),
            "--requests", str(a.load_requests), "--max-resident", str(a.load_max_resident),
            "--new-tokens", str(a.load_new_tokens), "--seed", str(a.seed),
            "--time-limit-s", str(max(clock.left(), 1.0))]  # fmt: skip
    return {"load": run(parse_args(argv))}


@dataclass(frozen=True)
class Stage:
    fn: Callable[[Context, object], dict]
    min_s: float  # not started with less left in the run
    cap_s: float | None  # its own limit (loops inside stop starting work past it)


def _transformers(ctx: Context, clock) -> dict:  # noqa: ANN001
    from transformers_decode import stage_transformers  # imports torch: only when run

    return stage_transformers(ctx, clock)


STAGES = {
    "export": Stage(stage_export, 20, None),
    "runtime": Stage(stage_runtime, 20, 120),
    "throughput": Stage(stage_throughput, 15, 60),
    "transformers": Stage(_transformers, 30, 180),
    "memory": Stage(stage_memory, 30, 120),
    "weights": Stage(stage_weights, 30, 150),
    "load": Stage(stage_load, 30, 120),
}


def summary(report: dict) -> dict:
    """The headline numbers of whatever stages finished (p50s, ms; ratios > 1: runtime faster)."""
    out: dict = {"runtime": {}, "runtime_vs_transformers": {}}
    for dtype, r in (report.get("runtime") or {}).items():
        steps = (r.get("decode_steps") or {}).get("variants", {})
        out["runtime"][dtype] = [
            {"k": v["k"], "variant": v["name"], "ttft_ms": v["ttft_ms"]["p50"],
             "decode_ms_per_token": v["decode_ms_per_token"]["p50"],
             "speedup": v["speedup_vs_full"], "ideal": v["ideal_speedup"],
             "of_ideal": v["fraction_of_ideal"],
             "step_median_ms": steps.get(v["name"], {}).get("median_ms"),
             "step_speedup": steps.get(v["name"], {}).get("speedup"),
             "step_of_ideal": steps.get(v["name"], {}).get("of_ideal")}
            for v in r.get("variants", [])
        ]  # fmt: skip
    full = {d: rows[0] for d, rows in out["runtime"].items() if rows and rows[0]["k"] == 0}
    for mode in ("transformers_eager", "transformers_compiled"):
        for torch_dtype, rows in (report.get(mode) or {}).items():
            row = next((r for r in rows if r.get("k") == 0 and "decode_ms_per_token" in r), None)
            for dtype, ours in full.items() if row else ():
                out["runtime_vs_transformers"][f"{dtype} vs {mode} {torch_dtype}"] = {
                    "decode": row["decode_ms_per_token"] / ours["decode_ms_per_token"],
                    "ttft": row["ttft_ms"] / ours["ttft_ms"],
                }
    load = report.get("load")
    if isinstance(load, dict) and "error_count" in load:
        out["load"] = {k: load[k] for k in ("requests", "error_count", "identical_answers",
                                            "requests_per_s", "max_resident_seen")}  # fmt: skip
    return out
