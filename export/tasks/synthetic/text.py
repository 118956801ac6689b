"""Reading text: a boxed random code among distractor strings (code_match), and words on
coloured signs in a scene (sign_textvqa: colour grounding plus reading).
"""

from __future__ import annotations

import random
from functools import partial

from PIL import Image, ImageDraw

from ..base import Draft, SyntheticDataset, TaskType, register
from ..metrics import Metric
from .render import (
    COLOR_NAMES,
    INK_ON,
    color,
    darker,
    draw_text,
    gradient_background,
    jitter_color,
    light_background,
    pick,
    place_boxes,
    seed_of,
    text_size,
)
from .shapes import vqa_draft

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no O/0, I/1

_READ_CODE = (
    "Read the code in the box exactly.",
    "What is the code written in the box?",
    "Type the code shown inside the frame.",
    "Transcribe the boxed code.",
    "What code appears in the rectangle?",
)
_CODE_INKS = ((20, 20, 20), (20, 30, 110), (110, 20, 20), (15, 80, 30))
_DISTRACTOR_INKS = ((200, 40, 40), (40, 90, 200), (40, 140, 60), (150, 150, 150), (150, 60, 170))
# A code box holds 5 glyphs of up to 16 px, so a layout always fits; retries are rare.
_LAYOUT_TRIES = 50


def _code(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(CODE_ALPHABET) for _ in range(length))


def _paint_code(code: str, distractors: list[str], seed: int) -> Image.Image:
    rng = random.Random(seed)
    image = light_background(rng)
    draw = ImageDraw.Draw(image)
    size = rng.randint(13, 16)
    w, h = text_size(code, size)
    pad = rng.randint(4, 6)
    small = [(d, rng.randint(10, 12)) for d in distractors]
    sizes = [(w + 2 * pad, h + 2 * pad)] + [
        (text_size(d, s)[0] + 2, text_size(d, s)[1] + 4) for d, s in small
    ]
    for _ in range(_LAYOUT_TRIES):
        boxes = place_boxes(rng, sizes, bounds=(2, 2, 94, 94), gap=3)
        if boxes is not None:
            break
    else:
        raise AssertionError(f"no layout for code {code!r}")
    x0, y0, x1, y1 = boxes[0]
    ink = jitter_color(rng, rng.choice(_CODE_INKS), 15)
    draw.rectangle(
        (x0, y0, x1, y1), fill=tuple(rng.randint(245, 255) for _ in range(3)), outline=ink, width=2
    )
    draw_text(draw, ((x0 + x1) / 2, (y0 + y1) / 2), code, size, ink, anchor="mm")
    if rng.random() < 0.5:  # a thin scratch across the code, as on a worn label
        ya, yb = rng.uniform(y0 + 3, y1 - 3), rng.uniform(y0 + 3, y1 - 3)
        draw.line((x0 + 2, ya, x1 - 2, yb), fill=jitter_color(rng, (120, 120, 120), 40), width=1)
    for (text, s), box in zip(small, boxes[1:], strict=True):
        fill = jitter_color(rng, rng.choice(_DISTRACTOR_INKS))
        draw_text(draw, ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), text, s, fill, anchor="mm")
    return image


@register
class CodeMatch(SyntheticDataset):
    name = "code_match"
    task_type = TaskType.EXACT_MATCH
    metric = Metric.EXACT_MATCH
    skill = "transcribe a random 4-5 character code exactly, ignoring smaller distractor strings"

    def draft(self, rng: random.Random) -> Draft:
        code = _code(rng, rng.choice((4, 5)))
        distractors = [_code(rng, rng.randint(3, 5)) for _ in range(rng.randint(1, 2))]
        key = f"{self.name}|{code}|{','.join(sorted(distractors))}"
        paint = partial(_paint_code, code, distractors, seed_of(rng))
        return Draft(key=key, prompt=pick(rng, _READ_CODE), answers=(code,), paint=paint)


# --- sign_textvqa ------------------------------------------------------------------------

WORDS = (
    "cafe", "hotel", "bank", "shop", "park", "exit", "open", "closed", "stop", "bus",
    "taxi", "bakery", "pizza", "sushi", "books", "music", "garden", "market", "school", "museum",
    "cinema", "bar", "pub", "police", "office", "toilet", "sale", "train", "metro", "beach",
    "river", "north", "south", "east", "west", "left", "right", "enter", "push", "pull",
    "free", "hello", "kiosk", "salon", "dental", "clinic", "church", "tower", "bridge", "port",
    "ferry", "farm", "zoo", "gym", "pool", "spa", "studio", "gallery", "tickets", "info",
    "food", "drinks", "snacks", "fruit", "fish", "meat", "bread", "cheese", "wine", "beer",
    "tea", "coffee", "juice", "milk", "ice", "cream", "candy", "toys", "games", "shoes",
    "hats", "bags", "gifts", "flower", "plants", "tools", "paint", "glass", "wood", "steel",
    "gold", "silver", "lotto", "post", "mail", "phone", "radio", "photo", "print", "copy",
    "repair", "wash", "dry", "rent", "hire", "lodge", "inn", "motel", "camp", "trail",
    "lake", "hill", "valley", "forest", "castle", "palace", "square", "street", "road", "lane",
    "avenue", "plaza", "center", "city", "town", "home", "house", "garage", "parking", "fuel",
    "gas", "oil", "tyres", "bikes", "boats", "cars", "vans", "cargo", "depot", "dock",
    "pier", "light", "danger", "slow", "quiet", "smile", "lucky", "happy", "sunny", "star",
    "moon", "sun", "rain", "snow", "wind", "cloud", "storm", "ocean", "coast", "island",
)  # fmt: skip
WORDS = tuple(w for w in WORDS if len(w) <= 6)
SIGN_COLORS = tuple(c for c in COLOR_NAMES if c != "black")  # a black sign reads as a hole

_WORD_ON = (
    "What word is written on the {color} sign?",
    "What does the {color} sign say?",
    "Which word appears on the {color} sign?",
    "Read the text on the {color} sign.",
)
_COLOR_OF_WORD = (
    "What color is the sign that says {word}?",
    "Which color is the sign with the word {word}?",
    "What is the color of the sign reading {word}?",
)


def _paint_signs(signs: list[tuple[str, str]], seed: int) -> Image.Image:
    rng = random.Random(seed)
    image = gradient_background(rng)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(1, 4)):  # texture: a few faint poles, wires and walls
        tone = tuple(rng.randint(60, 220) for _ in range(3))
        x0, y0 = rng.randint(0, 95), rng.randint(0, 95)
        x1, y1 = x0 + rng.randint(-40, 40), y0 + rng.randint(-40, 40)
        draw.line((x0, y0, x1, y1), fill=tone, width=rng.randint(1, 2))
    size = rng.randint(13, 15)
    sizes = []
    for word, _ in signs:
        w, h = text_size(word, size)
        sizes.append((w + 2 * rng.randint(4, 6), h + 2 * rng.randint(4, 6)))
    for _ in range(_LAYOUT_TRIES):
        boxes = place_boxes(rng, sizes, bounds=(1, 1, 95, 95), gap=3)
        if boxes is not None:
            break
    else:
        raise AssertionError(f"no layout for signs {signs!r}")
    for x0, _, x1, y1 in boxes:  # posts first, so that no post crosses another sign
        if y1 < 92:
            cx = (x0 + x1) // 2 + rng.randint(-4, 4)
            post = jitter_color(rng, (60, 60, 60))
            draw.line((cx, y1, cx, min(95, y1 + rng.randint(4, 12))), fill=post, width=2)
    for (word, name), (x0, y0, x1, y1) in zip(signs, boxes, strict=True):
        fill = color(rng, name)
        draw.rectangle((x0, y0, x1, y1), fill=fill, outline=darker(fill), width=1)
        draw_text(draw, ((x0 + x1) / 2, (y0 + y1) / 2), word, size, INK_ON[name], anchor="mm")
    return image


@register
class SignTextVqa(SyntheticDataset):
    name = "sign_textvqa"
    task_type = TaskType.SCENE_TEXT_QA
    metric = Metric.VQA_ACCURACY
    skill = (
        "find the sign of a named colour in a cluttered scene and read its word (or the reverse)"
    )

    def draft(self, rng: random.Random) -> Draft:
        n = rng.choice((2, 3, 3))
        signs = list(
            zip(rng.sample(WORDS, n), rng.sample(SIGN_COLORS, n), strict=True)
        )  # (word, colour)
        word, name = signs[0]
        rng.shuffle(signs)
        if rng.random() < 0.75:
            prompt = pick(rng, _WORD_ON).format(color=name)
            question, answer = f"word_on:{name}", word
        else:
            prompt = pick(rng, _COLOR_OF_WORD).format(word=word)
            question, answer = f"color_of:{word}", name
        scene = ";".join(sorted(f"{c}={w}" for w, c in signs))
        paint = partial(_paint_signs, signs, seed_of(rng))
        return vqa_draft(self.name, scene, question, prompt, answer, paint)
