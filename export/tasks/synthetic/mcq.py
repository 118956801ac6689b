"""option_mcq: a shape scene, a question and four lettered options; the answer is a letter.

The options are drawn in random order, so the correct letter is uniform over A-D. One
wrong option is a value present in the scene, so the model must ground the question
rather than pick the only option colour it sees.
"""

from __future__ import annotations

import random
from functools import partial

from ..base import Draft, SyntheticDataset, TaskType, register
from ..metrics import Metric
from .render import COLOR_NAMES, PLURALS, SHAPES, pick, seed_of
from .shapes import Obj, paint_grid_scene, random_cells, scene_key

LETTERS = ("A", "B", "C", "D")
MAX_COUNT = 6
COUNTS = tuple(str(i) for i in range(1, MAX_COUNT + 1))

_QUESTIONS = {
    "color_of": (
        "Which color is the {shape}?",
        "What is the color of the {shape}?",
        "What color does the {shape} have?",
    ),
    "shape_of": (
        "Which shape is {color}?",
        "What shape is the {color} object?",
        "The {color} object is which shape?",
    ),
    "count": (
        "How many {plural} are there?",
        "How many {plural} can you see?",
        "What is the number of {plural} in the image?",
    ),
}
_INSTRUCTIONS = (
    "Answer with the letter.",
    "Answer with the option's letter from the given choices.",
    "Reply with A, B, C or D.",
    "Choose the correct option.",
    "",
)


def _options(
    rng: random.Random, correct: str, scene: list[str], pool: tuple[str, ...]
) -> list[str]:
    """Correct + 3 wrong values, shuffled: one wrong value from the scene, the rest not.

    One in-scene distractor forces grounding (which object is asked about?); the others
    let "pick the option that appears at all" earn half marks on the way, which a pilot
    needed: with every distractor in the scene the letters stayed at chance for 17k steps.
    """
    in_scene = [v for v in dict.fromkeys(scene) if v != correct]
    absent = [v for v in pool if v != correct and v not in in_scene]
    rng.shuffle(in_scene)
    rng.shuffle(absent)
    wrong = (in_scene[:1] + absent)[:3] if absent else in_scene[:3]
    wrong = (wrong + [v for v in in_scene if v not in wrong])[:3]
    options = [correct, *wrong]
    rng.shuffle(options)
    return options


def _scene(
    rng: random.Random, kind: str, grid: int
) -> tuple[list[Obj], str, str, list[str], tuple[str, ...]]:
    """(objects, question parameter, correct value, other values in the scene, value pool)."""
    if kind == "count":
        shape = pick(rng, SHAPES)
        k = rng.randint(1, MAX_COUNT)
        others = rng.randint(1, 4)
        pairs = [(shape, pick(rng, COLOR_NAMES)) for _ in range(k)]
        pairs += [
            (pick(rng, [s for s in SHAPES if s != shape]), pick(rng, COLOR_NAMES))
            for _ in range(others)
        ]
        # Wrong counts are uniform over the same range as k: options "near" k, or a range
        # wider than k's, would let a text-only model guess the answer from the options.
        return _place(rng, pairs, grid), shape, str(k), [], COUNTS
    n = rng.randint(3, 5)
    shapes = rng.sample(SHAPES, n)  # unique shapes and colours: every question is well posed
    colors = rng.sample(COLOR_NAMES, n)
    objects = _place(rng, list(zip(shapes, colors, strict=True)), grid)
    if kind == "color_of":
        return objects, shapes[0], colors[0], colors[1:], COLOR_NAMES
    return objects, colors[0], shapes[0], shapes[1:], SHAPES


def _place(rng: random.Random, pairs: list[tuple[str, str]], grid: int) -> list[Obj]:
    return [
        Obj(s, c, cell)
        for (s, c), cell in zip(pairs, random_cells(rng, grid, len(pairs)), strict=True)
    ]


@register
class OptionMcq(SyntheticDataset):
    name = "option_mcq"
    task_type = TaskType.MULTIPLE_CHOICE
    metric = Metric.OPTION_ACCURACY
    skill = "match a grounded answer (colour, shape or count) to one of four lettered options"
    grid = 4  # 16 cells of 24 px; at most 10 objects (6 counted + 4 others)

    def draft(self, rng: random.Random) -> Draft:
        kind = rng.choices(("color_of", "shape_of", "count"), weights=(35, 35, 30))[0]
        objects, param, correct, preferred, pool = _scene(rng, kind, self.grid)
        options = _options(rng, correct, preferred, pool)
        letter = LETTERS[options.index(correct)]
        question = pick(rng, _QUESTIONS[kind]).format(
            shape=param, color=param, plural=PLURALS.get(param, param)
        )
        listed = " ".join(f"{ltr}. {opt}" for ltr, opt in zip(LETTERS, options, strict=True))
        head = pick(rng, ("", "Options: "))
        prompt = " ".join(p for p in (question, f"{head}{listed}", pick(rng, _INSTRUCTIONS)) if p)
        key = f"{self.name}|{scene_key(objects)}|{kind}:{param}|{','.join(options)}|{letter}"
        paint = partial(paint_grid_scene, objects, self.grid, (8.0, 10.0), seed_of(rng))
        return Draft(key=key, prompt=prompt, answers=(letter,), paint=paint)
