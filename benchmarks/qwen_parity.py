"""Parity of distinct removal sets on a Qwen2-VL / Qwen2.5-VL folder: the table in
docs/models/qwen2_vl.md. Exports `full` and four removal sets with the builder's pipeline
(no scores files needed) and prints each decoder's parity figures, and onnxruntime-genai's.

    python benchmarks/qwen_parity.py tinyqwen --examples 60
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

SETS = [(), (1,), (3,), (0, 3), (1, 2)]
DATASETS = ("shapes_vqa", "count_vqa", "code_match", "receipts_docqa")


def main() -> None:
    from vlmprune.export.manifest.variants import VariantSpec
    from vlmprune.export.models.loading import load_vlm
    from vlmprune.export.onnx.pipeline import run_export
    from vlmprune.export.onnx.settings import ExportSettings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--examples", type=int, default=60)
    args = parser.parse_args()
    specs = [
        VariantSpec("blocks_" + "_".join(map(str, r)) if r else "full", "custom", None, r, None)
        for r in SETS
    ]
    with tempfile.TemporaryDirectory(prefix="vlmprune-qwen-parity-") as scratch:
        out = Path(scratch) / "export"
        settings = ExportSettings(
            out=out,
            manifest=out / "manifest.json",
            datasets=DATASETS,
            parity_examples=args.examples,
            score_examples=2,
            progress=False,
        )
        summary = run_export(load_vlm(args.model), specs, settings)
    genai = (summary.genai or {}).get("parity", {})
    print(
        "| removed | prefill max abs Δlogit | decode max abs Δlogit | greedy identical | onnxruntime-genai |"
    )
    print("|---|---|---|---|---|")
    for o in summary.result.written:
        p, g = o.parity, genai.get(o.spec.name)
        shown = f"{g['greedy_identical']}/{g['n']}" if g else "–"
        print(
            f"| {list(o.spec.removed_blocks)} | {p.prefill_max_abs_diff:.2e} | "
            f"{p.decode_max_abs_diff:.2e} | {p.identical}/{p.n} | {shown} |"
        )
    print(f"vision encoder + embeddings vs PyTorch: {summary.result.shared_max_abs_diff:.1e}")
    print(json.dumps({"genai": summary.genai}))


if __name__ == "__main__":
    main()
