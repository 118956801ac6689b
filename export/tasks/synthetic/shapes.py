"""Shape scenes: attribute questions (shapes_vqa) and counting with distractors (count_vqa).

Scenes sit on a coarse grid: each object owns a cell, and the cell (not the pixel
position, which is jitter) is part of the content key.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial

from PIL import Image, ImageDraw

from ..base import Draft, SyntheticDataset, TaskType, register
from ..metrics import Metric
from .render import (
    COLOR_NAMES,
    PLURALS,
    SHAPES,
    Cell,
    cell_center,
    color,
    draw_shape,
    light_background,
    pick,
    seed_of,
)

VQA_REFS = 10  # VQA v2 carries 10 human answers per question


@dataclass(frozen=True)
class Obj:
    shape: str
    color: str
    cell: Cell

    def key(self) -> str:
        return f"{self.color} {self.shape}@{self.cell.row}{self.cell.col}"


def scene_key(objects: list[Obj]) -> str:
    return ";".join(sorted(o.key() for o in objects))


def random_cells(rng: random.Random, grid: int, n: int) -> list[Cell]:
    return [Cell(i // grid, i % grid) for i in rng.sample(range(grid * grid), n)]


def paint_grid_scene(
    objects: list[Obj], grid: int, radius: tuple[float, float], seed: int
) -> Image.Image:
    """Objects drawn in their cells on a light background, with size and shade jitter."""
    rng = random.Random(seed)
    image = light_background(rng)
    draw = ImageDraw.Draw(image)
    for obj in objects:
        r = rng.uniform(*radius)
        cx, cy = cell_center(rng, obj.cell, grid, r)
        draw_shape(draw, obj.shape, cx, cy, r, color(rng, obj.color))
    return image


def vqa_draft(
    name: str, scene: str, question: str, prompt: str, answer: str, paint: partial
) -> Draft:
    key = f"{name}|{scene}|{question}|{answer}"
    return Draft(key=key, prompt=prompt, answers=(answer,) * VQA_REFS, paint=paint)


# --- shapes_vqa --------------------------------------------------------------------------

_COLOR_OF = (
    "What color is the {shape}?",
    "What is the color of the {shape}?",
    "Which color does the {shape} have?",
    "Tell me the color of the {shape}.",
    "The {shape} is what color?",
)
_SHAPE_OF = (
    "What shape is the {color} object?",
    "Which shape is {color}?",
    "What is the shape of the {color} object?",
    "Name the shape drawn in {color}.",
    "What kind of shape is the {color} one?",
)
# direction -> (adjective, phrase): "the leftmost shape", "the shape furthest to the left".
_EXTREMES = {
    "left": ("leftmost", "furthest to the left"),
    "right": ("rightmost", "furthest to the right"),
    "top": ("topmost", "closest to the top"),
    "bottom": ("lowest", "closest to the bottom"),
}
_EXTREME_COLOR = (
    "What color is the {adj} shape?",
    "What is the color of the shape {phrase}?",
    "Which color has the shape {phrase}?",
)
_EXTREME_SHAPE = (
    "What shape is the {adj} object?",
    "Which shape is {phrase}?",
    "What kind of shape is {phrase}?",
)


_RELATIONS = {  # direction -> phrase; the side of the anchor must hold exactly one object
    "left": "to the left of",
    "right": "to the right of",
    "above": "above",
    "below": "below",
}
_RELATION_COLOR = (
    "What color is the shape {rel} the {anchor}?",
    "Which color is the object {rel} the {anchor}?",
    "What is the color of the shape {rel} the {anchor}?",
)
_RELATION_SHAPE = (
    "What shape is {rel} the {anchor} object?",
    "Which shape is {rel} the {anchor} one?",
    "What kind of shape is {rel} the {anchor} object?",
)


def _extreme(objects: list[Obj], direction: str) -> Obj | None:
    """The single object furthest in `direction`, or None when two share that row/column."""
    coord = {
        "left": lambda o: o.cell.col,
        "right": lambda o: -o.cell.col,
        "top": lambda o: o.cell.row,
        "bottom": lambda o: -o.cell.row,
    }[direction]
    best = min(coord(o) for o in objects)
    winners = [o for o in objects if coord(o) == best]
    return winners[0] if len(winners) == 1 else None


def _related(objects: list[Obj], anchor: Obj, direction: str) -> Obj | None:
    """The only object on that side of the anchor, if it is also in the anchor's row/column.

    "The shape above the star" must be unambiguous to a person: no other object may be
    higher than the star at all, and the one that is sits in the star's column.
    """
    a = anchor.cell
    side, aligned = {
        "left": (lambda c: c.col < a.col, lambda c: c.row == a.row),
        "right": (lambda c: c.col > a.col, lambda c: c.row == a.row),
        "above": (lambda c: c.row < a.row, lambda c: c.col == a.col),
        "below": (lambda c: c.row > a.row, lambda c: c.col == a.col),
    }[direction]
    found = [o for o in objects if side(o.cell)]
    return found[0] if len(found) == 1 and aligned(found[0].cell) else None


def _shapes_question(rng: random.Random, objects: list[Obj]) -> tuple[str, str, str]:
    """(question key, prompt, answer) about a scene of unique shapes and unique colours.

    Spatial questions are tried over every direction (and anchor) in random order; a scene
    where none is well posed falls back to a direct attribute question.
    """
    attr = pick(rng, ("color", "shape"))
    kind = rng.choices(("direct", "extreme", "relation"), weights=(25, 30, 45))[0]
    directions = list(_EXTREMES) if kind == "extreme" else list(_RELATIONS)
    rng.shuffle(directions)
    anchors = list(objects)
    rng.shuffle(anchors)
    if kind == "extreme":
        for direction in directions:
            found = _extreme(objects, direction)
            if found is not None:
                adj, phrase = _EXTREMES[direction]
                templates = _EXTREME_COLOR if attr == "color" else _EXTREME_SHAPE
                prompt = pick(rng, templates).format(adj=adj, phrase=phrase)
                return f"{attr}_{direction}", prompt, getattr(found, attr)
    if kind == "relation":
        for anchor_obj in anchors:
            for direction in directions:
                found = _related(objects, anchor_obj, direction)
                if found is None:
                    continue
                # The anchor is named by the other attribute: the prompt never holds the answer.
                anchor = anchor_obj.shape if attr == "color" else anchor_obj.color
                templates = _RELATION_COLOR if attr == "color" else _RELATION_SHAPE
                prompt = pick(rng, templates).format(rel=_RELATIONS[direction], anchor=anchor)
                return f"{attr}_{direction}_of:{anchor}", prompt, getattr(found, attr)
    target = objects[0]
    if attr == "color":
        return (
            f"color_of:{target.shape}",
            pick(rng, _COLOR_OF).format(shape=target.shape),
            target.color,
        )
    return f"shape_of:{target.color}", pick(rng, _SHAPE_OF).format(color=target.color), target.shape


@register
class ShapesVqa(SyntheticDataset):
    name = "shapes_vqa"
    task_type = TaskType.VQA
    metric = Metric.VQA_ACCURACY
    skill = "bind colour to shape among 2-5 objects, and locate objects by direction and relation"
    # A pilot saturated at 0.97 with 2-4 objects on a 3x3 grid; 2-5 smaller ones on 4x4.
    grid = 4

    def draft(self, rng: random.Random) -> Draft:
        n = rng.choice((2, 3, 4, 4, 5, 5))
        shapes = rng.sample(SHAPES, n)
        colors = rng.sample(COLOR_NAMES, n)
        objects = [
            Obj(s, c, cell)
            for s, c, cell in zip(shapes, colors, random_cells(rng, self.grid, n), strict=True)
        ]
        question, prompt, answer = _shapes_question(rng, objects)
        rng.shuffle(objects)  # the target is not always drawn first
        paint = partial(paint_grid_scene, objects, self.grid, (7.5, 10.0), seed_of(rng))
        return vqa_draft(self.name, scene_key(objects), question, prompt, answer, paint)


# --- count_vqa ---------------------------------------------------------------------------

_COUNT = (
    "How many {things} are there?",
    "Count the {things}.",
    "How many {things} can you see?",
    "What is the number of {things}?",
    "How many {things} are in the picture?",
)


def _count_objects(
    rng: random.Random, kind: str, shape: str, col: str, n: int, d: int
) -> list[tuple[str, str]]:
    """`n` (shape, colour) pairs matching the question and `d` that do not."""
    other_shapes = [s for s in SHAPES if s != shape]
    other_colors = [c for c in COLOR_NAMES if c != col]
    if kind == "both":
        matches = [(shape, col)] * n
        # Half-matching distractors (same shape or same colour) make the count genuinely
        # conjunctive; the rest are unrelated objects.
        pools = (
            lambda: (shape, pick(rng, other_colors)),
            lambda: (pick(rng, other_shapes), col),
            lambda: (pick(rng, other_shapes), pick(rng, other_colors)),
        )
        misses = [rng.choices(pools, weights=(4, 4, 2))[0]() for _ in range(d)]
    elif kind == "shape":
        matches = [(shape, pick(rng, COLOR_NAMES)) for _ in range(n)]
        misses = [(pick(rng, other_shapes), pick(rng, COLOR_NAMES)) for _ in range(d)]
    else:
        matches = [(pick(rng, SHAPES), col) for _ in range(n)]
        misses = [(pick(rng, SHAPES), pick(rng, other_colors)) for _ in range(d)]
    return matches + misses


@register
class CountVqa(SyntheticDataset):
    name = "count_vqa"
    task_type = TaskType.VQA
    metric = Metric.VQA_ACCURACY
    skill = "count 1-9 objects matching a colour and/or shape among distractors"
    grid = 5  # 25 cells of ~19 px; at most 15 objects

    def draft(self, rng: random.Random) -> Draft:
        kind = rng.choices(("both", "shape", "color"), weights=(50, 25, 25))[0]
        shape, col = pick(rng, SHAPES), pick(rng, COLOR_NAMES)
        n = rng.randint(1, 9)
        d = rng.randint(1, min(6, 15 - n))
        pairs = _count_objects(rng, kind, shape, col, n, d)
        objects = [
            Obj(s, c, cell)
            for (s, c), cell in zip(pairs, random_cells(rng, self.grid, len(pairs)), strict=True)
        ]
        things = {
            "both": f"{col} {PLURALS[shape]}",
            "shape": PLURALS[shape],
            "color": f"{col} shapes",
        }[kind]
        prompt = pick(rng, _COUNT).format(things=things)
        question = (
            f"count:{kind}:{col if kind != 'shape' else '*'}:{shape if kind != 'color' else '*'}"
        )
        paint = partial(paint_grid_scene, objects, self.grid, (6.5, 8.0), seed_of(rng))
        return vqa_draft(self.name, scene_key(objects), question, prompt, str(n), paint)
