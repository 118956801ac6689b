"""Shared vs fast weights mode: memory with every variant resident, prefill and decode time.

Each measurement runs in a fresh process (memory is per process), the two modes alternate
(shared, fast, shared, fast, ...) so that machine noise hits both alike, and the report
gives medians and fast/shared ratios from the same run. Memory is read from
/proc/self/smaps_rollup: RSS counts a file page once per mapping, PSS once per page, and
`anonymous` is private heap (where prepacked weight copies live).

    python benchmarks/runtime_modes.py --manifest variants/demo/manifest.json
    python benchmarks/runtime_modes.py --manifest M --rounds 5 --requests 8 --json
    python benchmarks/runtime_modes.py --build demo   # export a random demo-size model first

`--build tiny|demo` exports a random LLaVA of that size (export/models/llava_build.py SIZES) with
the builder's pipeline into a temporary folder (needs the builder extra): `tiny` with 4
variants of its 4 blocks, `demo` (14 blocks, 13 M parameters) with 8 variants whose removal
sets are those of the seed's table (DESIGN.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODES = ("shared", "fast")
VARIANTS = {  # size -> (name, objective, task type, removed blocks)
    "tiny": [
        ("generic", "generic", None, (1,)),
        ("shapes_vqa", "shapes_vqa", "vqa", (2,)),
        ("code_match", "code_match", "exact_match", (0, 3)),
        ("full", "full", None, ()),
    ],
    "demo": [
        ("generic", "generic", None, (4, 13)),
        ("shapes_vqa", "shapes_vqa", "vqa", (3, 4)),
        ("scene_captions", "scene_captions", "captioning", (4, 7)),
        ("receipts_docqa", "receipts_docqa", "doc_qa", (11, 13)),
        ("option_mcq", "option_mcq", "multiple_choice", (12, 13)),
        ("code_match", "code_match", "exact_match", (3, 11)),
        ("sign_textvqa", "sign_textvqa", "scene_text_qa", (3, 4, 7)),
        ("full", "full", None, ()),
    ],
}


def build_export(size: str, folder: Path) -> Path:
    """Export a random model of `size` with the builder's pipeline; the manifest's path."""
    from vlmprune.export.manifest.variants import VariantSpec
    from vlmprune.export.models.llava_build import tiny_vlm
    from vlmprune.export.onnx.pipeline import run_export
    from vlmprune.export.onnx.settings import ExportSettings

    vlm = tiny_vlm(seed=0, size=size)
    specs = [VariantSpec(n, o, t, r, None) for n, o, t, r in VARIANTS[size]]
    datasets = tuple(o for _, o, _, _ in VARIANTS[size] if o not in ("generic", "full"))
    settings = ExportSettings(
        out=folder, manifest=folder / "manifest.json", datasets=datasets,
        parity_examples=4, score_examples=4, batch_size=4, progress=False,
    )  # fmt: skip
    return run_export(vlm, specs, settings, log=lambda _: None).manifest


def smaps() -> dict[str, float]:
    """This process's memory in MiB: rss, pss, anonymous, file-backed (rss - anonymous)."""
    fields = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0]) / 1024  # kB -> MiB
    return {
        "rss": fields["Rss"],
        "pss": fields["Pss"],
        "anonymous": fields["Anonymous"],
        "file": fields["Rss"] - fields["Anonymous"],
    }


def worker(manifest: str, mode: str, requests: int, max_new_tokens: int, threads: int) -> dict:
    """One process, one mode: load every variant, then time generation on each."""
    import numpy as np

    from vlmprune.runtime import Runtime

    runtime = Runtime.from_manifest(
        manifest,
        share_weights=mode == "shared",
        verify=False,
        max_resident=64,
        intra_op_threads=threads,
    )
    image = runtime.manifest.arch.synthetic_image(np.random.default_rng(0))  # any architecture
    prompt = "What color is the circle?"
    before = smaps()
    runtime.generate(image, prompt, max_new_tokens=max_new_tokens)  # the default variant only
    one = smaps()
    start = time.perf_counter()
    runtime.preload()
    load_s = time.perf_counter() - start
    prefill, per_token, tokens = [], [], {}
    for name in runtime.manifest.variant_names:
        for i in range(requests + 1):  # the first request per variant warms up, not timed
            r = runtime.generate(
                image, "What color is the circle?", task_hint=name, max_new_tokens=max_new_tokens
            )
            tokens[name] = list(r.tokens)
            if i and len(r.tokens) > 1:
                prefill.append(r.timings.prefill_ms)
                per_token.append(r.timings.decode_ms / (len(r.tokens) - 1))
    return {
        "mode": mode,
        "variants": len(runtime.manifest.variant_names),
        "memory_mib": {
            "before_sessions": before,
            "one_variant": one,
            "all_variants": smaps(),
        },
        "load_s": load_s,
        "prefill_ms": statistics.median(prefill) if prefill else None,
        "decode_ms_per_token": statistics.median(per_token) if per_token else None,
        "tokens": tokens,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", help="a manifest to measure")
    parser.add_argument("--build", choices=sorted(VARIANTS), help="export a random model first")
    parser.add_argument("--rounds", type=int, default=3, help="processes per mode, alternating")
    parser.add_argument(
        "--requests", type=int, default=5, help="timed requests per variant per process"
    )
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument(
        "--threads", type=int, default=0, help="intra-op threads (0: onnxruntime's default)"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(
            json.dumps(
                worker(args.manifest, args.worker, args.requests, args.max_new_tokens, args.threads)
            )
        )
        return
    if args.build:
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix=f"vlmprune-{args.build}-")) / "export"
        args.manifest = str(build_export(args.build, folder))
        print(f"exported a random {args.build} model: {args.manifest}", file=sys.stderr)
    if not args.manifest:
        parser.error("give --manifest or --build")
    runs: dict[str, list[dict]] = {m: [] for m in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            cmd = [sys.executable, __file__, "--manifest", args.manifest, "--worker", mode,
                   "--requests", str(args.requests), "--max-new-tokens", str(args.max_new_tokens),
                   "--threads", str(args.threads)]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    report = _summarise(runs)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    _print(report, args)


def _summarise(runs: dict[str, list[dict]]) -> dict:
    def med(mode: str, get) -> float:  # noqa: ANN001
        return statistics.median(get(r) for r in runs[mode])

    def at(stage: str, kind: str):  # noqa: ANN202
        return lambda r: r["memory_mib"][stage][kind]

    def added(stage: str, kind: str):  # noqa: ANN202  (over the process before any session)
        return lambda r: r["memory_mib"][stage][kind] - r["memory_mib"]["before_sessions"][kind]

    summary = {}
    for mode in MODES:
        summary[mode] = {
            "rss_all_variants_mib": med(mode, at("all_variants", "rss")),
            "pss_all_variants_mib": med(mode, at("all_variants", "pss")),
            "anonymous_all_variants_mib": med(mode, at("all_variants", "anonymous")),
            "added_rss_one_variant_mib": med(mode, added("one_variant", "rss")),
            "added_rss_all_variants_mib": med(mode, added("all_variants", "rss")),
            "added_pss_one_variant_mib": med(mode, added("one_variant", "pss")),
            "added_pss_all_variants_mib": med(mode, added("all_variants", "pss")),
            "load_s": med(mode, lambda r: r["load_s"]),
            "prefill_ms": med(mode, lambda r: r["prefill_ms"]),
            "decode_ms_per_token": med(mode, lambda r: r["decode_ms_per_token"]),
        }
    same = all(r["tokens"] == runs["shared"][0]["tokens"] for m in MODES for r in runs[m])
    ratios = {
        k: summary["fast"][k] / summary["shared"][k]
        for k in summary["shared"]
        if summary["shared"][k]
    }
    return {
        "variants": runs["shared"][0]["variants"],
        "rounds": len(runs["shared"]),
        "identical_tokens": same,
        "modes": summary,
        "fast_over_shared": ratios,
    }


def _print(report: dict, args: argparse.Namespace) -> None:
    print(
        f"{report['variants']} variants resident, {report['rounds']} processes per mode (medians)"
    )
    print(f"identical tokens in both modes: {report['identical_tokens']}")
    keys = list(report["modes"]["shared"])
    print(f"{'':<26} {'shared':>10} {'fast':>10} {'fast/shared':>12}")
    for k in keys:
        s, f = report["modes"]["shared"][k], report["modes"]["fast"][k]
        ratio = report["fast_over_shared"].get(k)
        print(
            f"{k:<26} {s:>10.2f} {f:>10.2f} {ratio:>12.2f}"
            if ratio
            else f"{k:<26} {s:>10.2f} {f:>10.2f}"
        )


if __name__ == "__main__":
    main()
