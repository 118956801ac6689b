"""Shared PIL drawing helpers for the synthetic suite: palette, shapes, placement, text.

Everything draws straight onto a 96x96 canvas (no supersampling: it would cost more than
the rest of an example). Shapes get a darker 1-px outline so that light colours stay
visible on light backgrounds; text uses Pillow's embedded FreeType font (Aileron).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFont

from ..base import IMAGE_SIZE

RGB = tuple[int, int, int]

# Named colours, far apart in hue or lightness so that a 96x96 glance tells them apart.
COLORS: dict[str, RGB] = {
    "red": (215, 35, 35),
    "orange": (245, 135, 20),
    "yellow": (235, 205, 20),
    "green": (35, 155, 55),
    "blue": (35, 80, 220),
    "purple": (135, 55, 185),
    "pink": (250, 130, 200),
    "black": (25, 25, 25),
}
COLOR_NAMES = tuple(COLORS)
SHAPES = ("circle", "square", "triangle", "diamond", "star", "cross", "ring", "heart")
# Plural forms used in questions and captions ("How many crosses ...").
PLURALS = {s: s + "es" if s.endswith("s") else s + "s" for s in SHAPES}
# Text colour that reads on a fill of each colour (signs, bars).
INK_ON = {name: "black" if name in ("yellow", "orange", "pink") else "white" for name in COLORS}


def _unit_star(points: int = 5, inner: float = 0.45) -> list[tuple[float, float]]:
    out = []
    for i in range(points * 2):
        radius = 1.0 if i % 2 == 0 else inner
        angle = -math.pi / 2 + i * math.pi / points
        out.append((radius * math.cos(angle), radius * math.sin(angle)))
    return out


# Polygons on the unit square [-1, 1]^2, scaled by the half-size r at draw time.
_POLYGONS: dict[str, list[tuple[float, float]]] = {
    "square": [(-0.85, -0.85), (0.85, -0.85), (0.85, 0.85), (-0.85, 0.85)],
    "triangle": [(0.0, -1.0), (1.0, 0.85), (-1.0, 0.85)],
    "diamond": [(0.0, -1.0), (0.8, 0.0), (0.0, 1.0), (-0.8, 0.0)],
    "star": _unit_star(),
    "cross": [
        (-0.3, -1.0),
        (0.3, -1.0),
        (0.3, -0.3),
        (1.0, -0.3),
        (1.0, 0.3),
        (0.3, 0.3),
        (0.3, 1.0),
        (-0.3, 1.0),
        (-0.3, 0.3),
        (-1.0, 0.3),
        (-1.0, -0.3),
        (-0.3, -0.3),
    ],  # fmt: skip
    "heart": [(-0.97, -0.2), (0.0, 0.95), (0.97, -0.2), (0.0, -0.45)],
}


def darker(rgb: RGB, factor: float = 0.55) -> RGB:
    return (int(rgb[0] * factor), int(rgb[1] * factor), int(rgb[2] * factor))


def jitter_color(rng: random.Random, rgb: RGB, amount: int = 12) -> RGB:
    """A slightly different shade each time, so the model does not learn exact pixels."""
    return tuple(min(255, max(0, c + rng.randint(-amount, amount))) for c in rgb)  # type: ignore[return-value]


def color(rng: random.Random, name: str) -> RGB:
    return jitter_color(rng, COLORS[name])


def light_background(rng: random.Random, base: int = 244, tint: int = 10) -> Image.Image:
    """A near-white canvas with a faint random tint."""
    fill = tuple(min(255, base + rng.randint(-tint, tint)) for _ in range(3))
    return Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), fill)


@lru_cache(maxsize=1)
def _noise_tile() -> Image.Image:
    """A fixed 2x-size tile of pixel noise around 128; each image crops its own window."""
    size = 2 * IMAGE_SIZE
    noise = np.random.default_rng(0).integers(-10, 11, (size, size, 3)) + 128
    return Image.fromarray(noise.astype(np.uint8), "RGB")


def gradient_background(rng: random.Random) -> Image.Image:
    """A muted gradient between two colours, corner to corner, with pixel noise."""
    a = [rng.randint(90, 200) for _ in range(3)]
    b = [rng.randint(90, 200) for _ in range(3)]
    weights = [rng.random() for _ in range(4)]  # how much of b each corner holds
    corners = np.array([[ca + w * (cb - ca) for ca, cb in zip(a, b, strict=True)] for w in weights])
    # A 2x2 image resized bilinearly is the gradient; C code does the per-pixel work.
    gradient = Image.fromarray(corners.reshape(2, 2, 3).astype(np.uint8), "RGB")
    gradient = gradient.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
    x, y = rng.randrange(IMAGE_SIZE), rng.randrange(IMAGE_SIZE)
    window = _noise_tile().crop((x, y, x + IMAGE_SIZE, y + IMAGE_SIZE))
    return ImageChops.add(gradient, window, scale=1.0, offset=-128)


def draw_shape(
    draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, fill: RGB
) -> None:
    """Draw `shape` centred at (cx, cy) with half-size r, filled, with a darker outline."""
    outline = darker(fill)
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=outline)
    elif shape == "ring":
        width = max(2, round(r * 0.38))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=fill, width=width)
    elif shape == "heart":
        lobe = r * 0.52
        for sign in (-1, 1):
            lx = cx + sign * r * 0.48
            draw.ellipse((lx - lobe, cy - r * 0.75, lx + lobe, cy - r * 0.75 + 2 * lobe), fill=fill)
        draw.polygon([(cx + x * r, cy + y * r) for x, y in _POLYGONS["heart"]], fill=fill)
    else:
        points = [(cx + x * r, cy + y * r) for x, y in _POLYGONS[shape]]
        draw.polygon(points, fill=fill, outline=outline)


@dataclass(frozen=True)
class Cell:
    """A cell of a rows x cols grid over the canvas; content keys use cells, not pixels."""

    row: int
    col: int


def cell_center(
    rng: random.Random, cell: Cell, grid: int, r: float, margin: float = 2.0
) -> tuple[float, float]:
    """A jittered centre inside `cell` that keeps a shape of half-size r within the cell."""
    size = IMAGE_SIZE / grid
    slack = max(0.0, size / 2 - r - margin)
    cx = (cell.col + 0.5) * size + rng.uniform(-slack, slack)
    cy = (cell.row + 0.5) * size + rng.uniform(-slack, slack)
    return cx, cy


def place_boxes(
    rng: random.Random,
    sizes: list[tuple[int, int]],
    bounds: tuple[int, int, int, int] = (0, 0, IMAGE_SIZE, IMAGE_SIZE),
    gap: int = 2,
    tries: int = 200,
) -> list[tuple[int, int, int, int]] | None:
    """Non-overlapping boxes (x0, y0, x1, y1) of the given (w, h) sizes, by rejection.

    Returns None when some box could not be placed in `tries` attempts; callers retry
    with a fresh layout or smaller sizes.
    """
    left, top, right, bottom = bounds
    placed: dict[int, tuple[int, int, int, int]] = {}
    # Largest first: small boxes still fit in the gaps that large ones leave.
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i][0] * sizes[i][1]):
        w, h = sizes[i]
        for _ in range(tries):
            x = rng.randint(left, max(left, right - w))
            y = rng.randint(top, max(top, bottom - h))
            box = (x, y, x + w, y + h)
            if all(not _overlap(box, other, gap) for other in placed.values()):
                placed[i] = box
                break
        else:
            return None
    return [placed[i] for i in range(len(sizes))]


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int], gap: int) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


@lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's embedded FreeType font at `size` px (cached: loading costs ~70 us)."""
    return ImageFont.load_default(size=size)  # type: ignore[return-value]


def text_size(text: str, size: int) -> tuple[int, int]:
    """(width, height) of `text`'s ink box at `size` px."""
    x0, y0, x1, y1 = font(size).getbbox(text)
    return x1 - x0, y1 - y0


def draw_text(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    size: int,
    fill: RGB | str,
    anchor: str = "la",
) -> None:
    """Draw `text`; `anchor` as in Pillow ('mm' centres it on xy, 'ra' right-aligns)."""
    draw.text(xy, text, font=font(size), fill=fill, anchor=anchor)


def pick(rng: random.Random, options: list[str] | tuple[str, ...]) -> str:
    return options[rng.randrange(len(options))]


def seed_of(rng: random.Random) -> int:
    """A seed for a draft's painter, drawn from the content RNG (see base.Draft)."""
    return rng.getrandbits(32)
