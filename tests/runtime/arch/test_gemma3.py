"""The Gemma3 runtime architecture: its manifest section round-trips, bad sections are one
line naming the field, and image tokens are marked in the decoder's mask (padding stays 0)."""

import numpy as np
import pytest

from vlmprune.runtime.arch.base import PreprocessingError
from vlmprune.runtime.arch.chat import ChatPrompt
from vlmprune.runtime.arch.gemma3 import IMAGE_MARK, Gemma3, Gemma3Spec
from vlmprune.runtime.arch.gemma3_vision import ImageSpec

SPEC = Gemma3Spec(
    image=ImageSpec(height=32, width=32),
    mm_tokens_per_image=4,
    chat_prompt=ChatPrompt(("<bos>u\n", "", "<e>\nm\n"), ("image", "prompt"), strip_prompt=True),
    boi_token="<boi>",
    eoi_token="<eoi>",
    image_token="<img>",
    image_token_id=9,
    eos_token="<eos>",
    pad_token="<pad>",
    stop_tokens=("<eos>", "<e>"),
)


def test_the_preprocessing_section_round_trips():
    arch = Gemma3.from_preprocessing(Gemma3(SPEC).preprocessing())
    assert arch.spec == SPEC
    assert arch.prompt_text("  hi  ", None) == "<bos>u\n<boi>hi<e>\nm\n"
    assert SPEC.image_sequence() == "\n\n<boi>" + "<img>" * 4 + "<eoi>\n\n"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mm_tokens_per_image", None, r"^preprocessing\.mm_tokens_per_image is missing$"),
        ("image", {"height": 32}, r"^preprocessing is not a valid Gemma3 spec"),
        ("mm_tokens_per_image", 0, r"^preprocessing\.image height, width and mm_tokens"),
    ],
)
def test_a_bad_section_is_one_line_naming_the_field(field, value, message):
    section = Gemma3(SPEC).preprocessing()
    if value is None:
        del section[field]
    else:
        section[field] = value
    with pytest.raises(PreprocessingError, match=message):
        Gemma3.from_preprocessing(section)


def test_image_tokens_are_marked_and_padding_stays_zero():
    ids = np.array([[0, 0, 2, 9, 9, 5], [2, 9, 9, 5, 6, 7]])
    mask = np.array([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    marked = Gemma3(SPEC).decoder_mask(ids, mask)
    assert marked.tolist() == [[0, 0, 1, IMAGE_MARK, IMAGE_MARK, 1], [1, 2, 2, 1, 1, 1]]
    assert mask.tolist()[0] == [0, 0, 1, 1, 1, 1]  # the caller's mask is not changed
