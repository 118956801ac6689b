"""Drawing helpers: placement never overlaps, every shape and colour draws."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image, ImageDraw

from vlmprune.export.tasks.synthetic.render import (
    COLORS,
    SHAPES,
    draw_shape,
    font,
    place_boxes,
    text_size,
)


def test_place_boxes_do_not_overlap_and_stay_in_bounds():
    rng = random.Random(0)
    for _ in range(50):
        boxes = place_boxes(rng, [(30, 12), (20, 20), (25, 10)], bounds=(2, 2, 94, 94), gap=3)
        assert boxes is not None
        for i, a in enumerate(boxes):
            assert 2 <= a[0] and a[2] <= 94 and 2 <= a[1] and a[3] <= 94
            for b in boxes[i + 1 :]:
                apart = a[2] + 3 <= b[0] or b[2] + 3 <= a[0] or a[3] + 3 <= b[1] or b[3] + 3 <= a[1]
                assert apart, (a, b)


def test_place_boxes_gives_up_when_nothing_fits():
    assert place_boxes(random.Random(0), [(80, 80), (80, 80)], tries=20) is None


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_draws_its_colour(shape):
    image = Image.new("RGB", (40, 40), "white")
    draw_shape(ImageDraw.Draw(image), shape, 20, 20, 12, COLORS["blue"])
    pixels = np.asarray(image).reshape(-1, 3)  # (H*W, RGB)
    assert (pixels == COLORS["blue"]).all(axis=1).sum() > 40


def test_font_is_cached_and_measures_text():
    assert font(12) is font(12)
    wide, narrow = text_size("WWWW", 12), text_size("i", 12)
    assert wide[0] > narrow[0] > 0
