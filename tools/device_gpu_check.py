"""Self-check of the runtime's CUDA decode path, for one call on a GPU machine.

    python tools/device_gpu_check.py                      # exports the demo (fp32 + fp16)
    python tools/device_gpu_check.py --manifest A.json --manifest B.json
    python tools/device_gpu_check.py --out /tmp/gpu-check --examples 24

Needs onnxruntime-gpu (CUDAExecutionProvider loadable after `onnxruntime.preload_dlls()`)
and the `vlmprune` package; exporting also needs torch and transformers (the export runs on
CPU). For every manifest it answers the same test-split examples with:

    cpu          CPUExecutionProvider (the reference: the fp32 manifest's answers)
    cuda         CUDAExecutionProvider, device-resident decode (decode_step.py)
    cuda_graph   the same with Runtime.from_manifest(..., cuda_graph=True) (fp16 only;
                 an fp32 variant must be refused with ProviderError)

and checks: every decoder session runs on CUDA; fp32 greedy ids on CUDA equal CPU fp32;
fp16 ids are reported as agreement with CPU fp32 (not a gate); CUDA-graph ids equal the
same manifest's CUDA ids (a replay computes what the eager step computes); repeated
requests (a KV buffer reused: a captured graph replayed) give the same ids. Prints one JSON
report on stdout; on any failed check, one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"


class CheckFailed(Exception):
    pass


def _load_ort():  # noqa: ANN202  (the onnxruntime module)
    try:
        import torch  # noqa: F401  (its CUDA libraries, if any, first)
    except ImportError:
        pass
    import onnxruntime as ort

    if hasattr(ort, "preload_dlls"):
        ort.preload_dlls()
    if CUDA not in ort.get_available_providers():
        raise CheckFailed(f"onnxruntime {ort.__version__} lists no {CUDA} (CPU wheel installed?)")
    return ort


def _export(out: Path, dtype: str, examples: int) -> Path:
    """The demo model with block 4 removed, exported at `dtype` (parity on CPU)."""
    from click.testing import CliRunner

    from vlmprune.export.cli import main

    folder = out / dtype
    args = ["export", "--model", "demo", "--blocks", "4", "--dtype", dtype, "--no-genai"]
    args += ["--parity-examples", str(examples), "--score-examples", str(examples)]
    args += ["--batch-size", "16", "--out", str(folder), "--json"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    if result.exit_code != 0:
        raise CheckFailed(f"export {dtype} failed: {result.output.strip().splitlines()[-1]}")
    return folder / "manifest.json"


def _requests(manifest: Path, n: int) -> list[tuple[object, str]]:
    """(image, prompt) of the first test examples of the manifest's datasets."""
    from vlmprune.export.tasks.base import Split
    from vlmprune.export.tasks.catalog import as_dataset

    names = list(json.loads(manifest.read_text())["variants"][0]["scores"]) or ["shapes_vqa"]
    per = max(1, -(-n // len(names)))
    pairs = [(e.image, e.prompt) for d in names for e in as_dataset(d).examples(Split.TEST, per)]
    return pairs[:n]


def _answer(
    manifest: Path, providers: list[str], cuda_graph: bool, requests: list, batch: int
) -> dict:
    from vlmprune.runtime.api import Request, Runtime

    runtime = Runtime.from_manifest(manifest, providers=providers, cuda_graph=cuda_graph)
    variant = runtime.manifest.default_variant
    runtime.preload([variant])
    session = runtime.sessions.decoder(variant)
    tokens, decode_ms, steps = [], 0.0, 0
    start = time.perf_counter()
    for i in range(0, len(requests), batch):
        group = [Request(image, prompt) for image, prompt in requests[i : i + batch]]
        results = runtime.generate_batch(group)
        tokens += [list(r.tokens) for r in results]
        decode_ms += results[0].timings.decode_ms
        steps += max(max(r.timings.tokens for r in results) - 1, 0)
    wall = time.perf_counter() - start
    again = [list(r.tokens) for r in runtime.generate_batch([Request(*requests[0])] * 2)]
    return {
        "providers": session.get_providers(),
        "tokens": tokens,
        "repeat_ok": again == [tokens[0], tokens[0]],
        "decode_ms_per_step": decode_ms / steps if steps else None,
        "wall_s": wall,
    }


def _agreement(a: list[list[int]], b: list[list[int]]) -> float:
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a) if a else 1.0


def _check_manifest(
    manifest: Path, requests: list, batch: int, reference: list | None, report: dict
) -> tuple[list[str], list[list[int]]]:
    """Run one manifest on CPU, CUDA and CUDA graphs; append its section to `report`;
    return its problems and its CPU answers. `reference`: CPU fp32 answers (None: these)."""
    from vlmprune.runtime.errors import ProviderError

    dtype = json.loads(manifest.read_text())["variants"][0].get("dtype", "fp32")
    problems, section = [], {"manifest": str(manifest), "dtype": dtype}
    cpu = _answer(manifest, [CPU], False, requests, batch)
    reference = reference or cpu["tokens"]
    cuda = _answer(manifest, [CUDA, CPU], False, requests, batch)
    section["cpu"] = {k: v for k, v in cpu.items() if k != "tokens"}
    section["cuda"] = {k: v for k, v in cuda.items() if k != "tokens"}
    section["cuda"]["agreement_with_cpu_fp32"] = _agreement(cuda["tokens"], reference)
    if cuda["providers"][0] != CUDA:
        problems.append(f"{dtype}: the decoder runs on {cuda['providers'][0]}, not CUDA")
    if dtype == "fp32" and cuda["tokens"] != reference:
        problems.append(f"{dtype}: CUDA greedy ids differ from CPU fp32 on some examples")
    if not cuda["repeat_ok"]:
        problems.append(f"{dtype}: repeated CUDA requests gave different ids")
    try:
        graph = _answer(manifest, [CUDA, CPU], True, requests, batch)
    except ProviderError as exc:
        section["cuda_graph"] = {"refused": str(exc)}
        if dtype == "fp16":
            problems.append(f"fp16: cuda_graph refused: {exc}")
    else:
        section["cuda_graph"] = {k: v for k, v in graph.items() if k != "tokens"}
        section["cuda_graph"]["same_as_cuda"] = graph["tokens"] == cuda["tokens"]
        if dtype != "fp16":
            problems.append(f"{dtype}: cuda_graph=True was not refused")
        elif graph["tokens"] != cuda["tokens"] or not graph["repeat_ok"]:
            problems.append("fp16: CUDA-graph ids differ from the eager CUDA step")
    section["problems"] = problems
    report["manifests"].append(section)
    return problems, cpu["tokens"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", action="append", type=Path, default=[])
    parser.add_argument("--out", type=Path, default=None, help="export folder (default: temp)")
    parser.add_argument("--examples", type=int, default=16)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args(argv)
    report: dict = {"manifests": []}
    problems: list[str] = []
    try:
        ort = _load_ort()
        report["onnxruntime"] = ort.__version__
        out = args.out or Path(tempfile.mkdtemp(prefix="vlmprune-gpu-check-"))
        manifests = args.manifest or [_export(out, d, args.examples) for d in ("fp32", "fp16")]
        dtypes = [json.loads(m.read_text())["variants"][0].get("dtype", "fp32") for m in manifests]
        requests = _requests(manifests[0], args.examples)
        reference = None
        pairs = sorted(zip(manifests, dtypes, strict=True), key=lambda p: p[1] != "fp32")
        for manifest, dtype in pairs:  # fp32 first: its CPU answers are the reference
            found, cpu = _check_manifest(manifest, requests, args.batch, reference, report)
            problems += found
            if dtype == "fp32" and reference is None:
                reference = cpu
    except CheckFailed as exc:
        problems.append(str(exc))
    except Exception as exc:  # anything else: still one line, with where it came from
        where = traceback.extract_tb(exc.__traceback__)[-1]
        problems.append(f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})")
    report["problems"] = problems
    print(json.dumps(report, indent=1, default=str))
    if problems:
        line = " ".join("; ".join(problems).split())  # one line, whatever the messages hold
        print(f"device_gpu_check FAILED: {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
