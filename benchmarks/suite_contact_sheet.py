"""Contact sheet of the synthetic suite: a few examples per dataset with prompt and answer.

.venv/bin/python benchmarks/suite_contact_sheet.py --out docs/suite.png
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from vlmprune.export.tasks.base import Split
from vlmprune.export.tasks.catalog import all_datasets

PAD = 6


def tile(example, scale: int, caption_lines: int, font) -> Image.Image:
    size = example.image.width * scale
    width = size + 2 * PAD
    wrap = max(20, width // 6)
    lines = textwrap.wrap(f"Q: {example.prompt}", wrap)[: caption_lines - 1]
    lines.append(textwrap.shorten(f"A: {' | '.join(dict.fromkeys(example.answers))}", wrap))
    out = Image.new("RGB", (width, size + PAD + 12 * caption_lines + PAD), "white")
    out.paste(example.image.resize((size, size), Image.NEAREST), (PAD, PAD))
    draw = ImageDraw.Draw(out)
    for i, line in enumerate(lines):
        draw.text((PAD, size + PAD + 2 + 12 * i), line, fill="black", font=font)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/suite.png"))
    parser.add_argument("--per-dataset", type=int, default=4)
    parser.add_argument("--scale", type=int, default=2, help="nearest-neighbour upscale")
    parser.add_argument("--split", default="calib")
    parser.add_argument("--datasets", default=None, help="comma-separated names (default: all)")
    args = parser.parse_args()
    font = ImageFont.load_default(size=11)
    datasets = all_datasets()
    if args.datasets:
        datasets = [d for d in datasets if d.name in args.datasets.split(",")]
    rows = []
    for dataset in datasets:
        tiles = [
            tile(e, args.scale, 5, font)
            for e in dataset.examples(Split(args.split), limit=args.per_dataset)
        ]
        label = Image.new("RGB", (sum(t.width for t in tiles), 16), (225, 225, 235))
        ImageDraw.Draw(label).text(
            (PAD, 2),
            f"{dataset.name}  ({dataset.task_type.value}, {dataset.metric.value})",
            fill="black",
            font=font,
        )
        row = Image.new("RGB", (label.width, label.height + tiles[0].height), "white")
        row.paste(label, (0, 0))
        x = 0
        for t in tiles:
            row.paste(t, (x, label.height))
            x += t.width
        rows.append(row)
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for row in rows:
        sheet.paste(row, (0, y))
        y += row.height
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main()
