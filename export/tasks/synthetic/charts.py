"""bar_charts: 3-4 labelled bars with their values printed above; questions mix reading a
value, comparing heights and subtracting two values.
"""

from __future__ import annotations

import random
import string
from functools import partial

from PIL import Image, ImageDraw

from ..base import IMAGE_SIZE, Draft, SyntheticDataset, TaskType, register
from ..metrics import Metric
from .render import color, draw_text, light_background, pick, seed_of

LABELS = tuple(c for c in string.ascii_uppercase if c not in "IO")  # I/O read as 1/0
BAR_COLORS = ("red", "orange", "green", "blue", "purple", "black")

_VALUE_OF = (
    "What is the value of {a}?",
    "What number is shown for {a}?",
    "How high is bar {a}?",
    "What value does the {a} bar have?",
)
_HIGHEST = (
    "Which bar is the highest?",
    "Which label has the largest value?",
    "Which bar is the tallest?",
)
_LOWEST = (
    "Which bar is the lowest?",
    "Which label has the smallest value?",
    "Which bar is the shortest?",
)
_DIFFERENCE = (
    "What is the difference between {a} and {b}?",
    "How much larger is {a} than {b}?",
    "By how much does {a} exceed {b}?",
)


def _paint(labels: list[str], values: list[int], bar_color: str, seed: int) -> Image.Image:
    rng = random.Random(seed)
    image = light_background(rng)
    draw = ImageDraw.Draw(image)
    axis = tuple(rng.randint(60, 110) for _ in range(3))
    left, base = rng.randint(6, 10), rng.randint(80, 83)
    draw.line((left, 4, left, base), fill=axis)
    draw.line((left, base, IMAGE_SIZE - 3, base), fill=axis)
    for frac in (0.25, 0.5, 0.75, 1.0):  # faint gridlines, like a real chart
        y = base - 2 - frac * (base - 16)
        draw.line((left - 2, y, left, y), fill=axis)
    fill = color(rng, bar_color)
    slot = (IMAGE_SIZE - 3 - left - 2) / len(values)
    width = slot * rng.uniform(0.5, 0.65)
    value_size, label_size = rng.choice((10, 11)), rng.choice((11, 12))
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        cx = left + 2 + (i + 0.5) * slot
        top = base - 2 - value * (base - 16) / 99
        draw.rectangle((cx - width / 2, top, cx + width / 2, base - 1), fill=fill)
        draw_text(draw, (cx, top - 2), str(value), value_size, (20, 20, 20), anchor="ms")
        draw_text(draw, (cx, base + 2), label, label_size, (20, 20, 20), anchor="mt")
    return image


@register
class BarCharts(SyntheticDataset):
    name = "bar_charts"
    task_type = TaskType.DOC_QA
    metric = Metric.RELAXED_ACCURACY
    skill = "read bar values by label, compare bar heights, and subtract two values"

    def draft(self, rng: random.Random) -> Draft:
        n = rng.choice((3, 4))
        labels = sorted(rng.sample(LABELS, n))
        values = rng.sample(range(1, 100), n)
        by_label = dict(zip(labels, values, strict=True))
        kind = rng.choices(
            ("value_of", "highest", "lowest", "difference"), weights=(40, 20, 20, 20)
        )[0]
        if kind == "value_of":
            a = pick(rng, labels)
            prompt, question, answer = (
                pick(rng, _VALUE_OF).format(a=a),
                f"value_of:{a}",
                str(by_label[a]),
            )
        elif kind in ("highest", "lowest"):
            pick_fn = max if kind == "highest" else min
            prompt, question = pick(rng, _HIGHEST if kind == "highest" else _LOWEST), kind
            answer = pick_fn(labels, key=by_label.__getitem__)
        else:
            a, b = sorted(rng.sample(labels, 2), key=by_label.__getitem__, reverse=True)
            template = pick(rng, _DIFFERENCE)
            if "difference" in template and rng.random() < 0.5:
                a, b = b, a  # "difference between" is symmetric: either order
            prompt, question = template.format(a=a, b=b), f"difference:{a}-{b}"
            answer = str(abs(by_label[a] - by_label[b]))
        bar_color = pick(rng, BAR_COLORS)
        content = ";".join(f"{label}={value}" for label, value in zip(labels, values, strict=True))
        key = f"{self.name}|{content}|{question}|{answer}"
        paint = partial(_paint, labels, values, bar_color, seed_of(rng))
        return Draft(key=key, prompt=prompt, answers=(answer,), paint=paint)
