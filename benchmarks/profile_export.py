"""Export `full` and k = 1..4 pruned variants of a LLaVA through the builder's export path.

For `vlmprune profile` and the other benchmarks/profile_*.py scripts. `--size realistic`
builds the random realistic-size model of export/models/llava_build.py (a Qwen2-0.5B-shaped
24-block Llama decoder, 32k vocabulary, CLIP ViT-B/16 at 224 px; 0.50 B parameters, ~2 GB
in fp32; latency does not depend on the weight values) and saves it as a model folder with
`save_model_dir`; `--size demo` uses the embedded (trained) demo model. Either way the
variants are exported by `vlmprune.export.onnx.pipeline.run_export`, the code behind
`vlmprune export`: traced, parity-checked against PyTorch (logits and greedy answers),
weights deduplicated into one `weights.bin`, manifest validated and written atomically.

Removal sets: the seed's task-specific sets for coco_2014_vqa, {3}, {3,4}, {3,4,7},
{3,4,7,8} (DESIGN.md). At realistic size the parity and score steps dominate the export on
a CPU, so they run on a few examples of one dataset (`--parity-examples`,
`--score-examples`; the same options as `vlmprune export`): enough to check the graphs,
while the scores are meaningless for random weights anyway.

    python benchmarks/profile_export.py --size realistic --out /tmp/vlmprune-realistic
    python benchmarks/profile_export.py --size demo --out /tmp/vlmprune-demo

The manifest lands in OUT/export/manifest.json; the model folder (realistic) in OUT/model,
which `vlmprune export --model OUT/model --blocks 3,4 --include-full ...` also accepts.
Needs ~5 GB of disk and ~10 GB of memory at realistic size.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REMOVAL_SETS = [(), (3,), (3, 4), (3, 4, 7), (3, 4, 7, 8)]
DEMO_TOKENIZER = Path(__file__).resolve().parents[1] / "export" / "models" / "demo"


def model_folder(size: str, out: Path, seed: int) -> str:
    """The model to export: 'demo', or a saved random model folder of `size` (reused)."""
    if size == "demo":
        return "demo"
    folder = out / "model"
    if (folder / "config.json").is_file():
        print(f"reusing the model folder {folder}", file=sys.stderr)
        return str(folder)
    from tokenizers import Tokenizer

    from vlmprune.export.models.llava_build import (
        SIZES,
        build_llava,
        preprocess_spec,
        save_model_dir,
    )

    tokenizer = Tokenizer.from_file(str(DEMO_TOKENIZER / "tokenizer.json"))
    start = time.perf_counter()
    model = build_llava(SIZES[size], tokenizer, seed=seed)
    save_model_dir(model, tokenizer, preprocess_spec(SIZES[size]), folder)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"built a random {size} model: {params / 1e9:.3f} B parameters in "
        f"{time.perf_counter() - start:.0f} s -> {folder}",
        file=sys.stderr,
    )
    return str(folder)


def export(
    model: str, out: Path, args: argparse.Namespace, name: str = "export", **overrides: object
) -> Path:
    """The variants into OUT/`name`; `overrides`: further ExportSettings fields (layout...)."""
    from vlmprune.export.manifest.variants import CUSTOM, full_variant
    from vlmprune.export.manifest.variants import VariantSpec as Spec
    from vlmprune.export.models.loading import load_vlm
    from vlmprune.export.onnx.pipeline import run_export
    from vlmprune.export.onnx.settings import ExportSettings

    vlm = load_vlm(model)
    specs = [full_variant()] + [
        Spec("blocks_" + "_".join(map(str, r)), CUSTOM, None, r, None) for r in REMOVAL_SETS[1:]
    ]
    settings = ExportSettings(
        out=out / name,
        manifest=out / name / "manifest.json",
        datasets=tuple(args.datasets.split(",")),
        parity_examples=args.parity_examples,
        score_examples=args.score_examples,
        batch_size=args.batch_size,
        progress=True,
        **overrides,
    )
    settings_extra = {key: str(getattr(value, "value", value)) for key, value in overrides.items()}
    extra = {"benchmark": {"script": "benchmarks/profile_export.py", "size": args.size,
                           **settings_extra}}  # fmt: skip
    summary = run_export(vlm, specs, settings, extra)
    print(
        f"exported {len(summary.result.written)} variants in {summary.seconds:.0f} s "
        f"({summary.bytes_on_disk / 1e9:.2f} GB on disk; stages {summary.result.seconds})",
        file=sys.stderr,
    )
    for o in summary.result.written:
        p = o.parity
        print(
            f"  {o.spec.name:<14} removed {list(o.spec.removed_blocks)}: prefill max |Δlogit| "
            f"{p.prefill_max_abs_diff:.1e}, decode {p.decode_max_abs_diff:.1e}, greedy "
            f"identical {p.identical}/{p.n}",
            file=sys.stderr,
        )
    return summary.manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["realistic", "demo"], default="realistic")
    parser.add_argument("--out", type=Path, required=True, help="folder for model/ and export/")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", default="shapes_vqa", help="parity inputs (comma list)")
    parser.add_argument("--parity-examples", type=int, default=2)
    parser.add_argument("--score-examples", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(export(model_folder(args.size, args.out, args.seed), args.out, args))


if __name__ == "__main__":
    main()
