"""A folder's chat template rendered once into `ChatPrompt` pieces for the torch-free runtime.

The template is rendered with transformers' own jinja renderer (what
`apply_chat_template(..., add_generation_prompt=True)` calls, with the tokenizer's special
tokens as template variables) for one user turn: an image, then the text. The text is a
marker, split out afterwards; the image placeholder the template writes is split out too.
The pieces are then checked on other prompts against a fresh rendering, so a template
that rewrites the user's text is refused here instead of answering differently on device.
"""

from __future__ import annotations

from collections.abc import Mapping

from transformers.utils.chat_template_utils import render_jinja_template

from ...runtime.arch.chat import ChatPrompt, Slot
from ..errors import ModelLoadError

_MARKER = "\x02vlmprune-prompt\x03"  # control characters no template or user writes; not
# whitespace, so a template that trims the text (`| trim`) keeps them
_CHECK_PROMPTS = ("What is in the image?", "  two  spaces  ", "a\nline break", "{braces} %s")


def user_turn(prompt: str) -> list[dict]:
    """The conversation vlmprune asks: one user message, the image first, then the text."""
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]


def render(template: str, prompt: str, special_tokens: Mapping[str, str]) -> str:
    """`apply_chat_template(user_turn(prompt), add_generation_prompt=True)` for `template`."""
    rendered, _ = render_jinja_template(
        conversations=[user_turn(prompt)],
        chat_template=template,
        add_generation_prompt=True,
        **special_tokens,
    )
    return rendered[0]


def chat_prompt(
    template: str, image_token: str, special_tokens: Mapping[str, str], source: str
) -> ChatPrompt:
    """The template's text for one image and one prompt, as pieces around the two slots.

    `source` names the file the template came from, for error messages.
    """
    try:
        text = render(template, _MARKER, special_tokens)
    except Exception as exc:  # jinja2 raises many types; any of them means "cannot render"
        raise ModelLoadError(f"{source}: the chat template does not render ({exc})") from None
    if text.count(_MARKER) != 1:
        raise ModelLoadError(f"{source}: the chat template does not write the user's text once")
    before, after = text.split(_MARKER)
    if before.count(image_token) + after.count(image_token) != 1:
        raise ModelLoadError(
            f"{source}: the chat template writes {text.count(image_token)} '{image_token}' "
            "placeholders for one image (expected 1)"
        )
    if image_token in before:
        head, mid = before.split(image_token)
        pieces = ChatPrompt((head, mid, after), (Slot.IMAGE, Slot.PROMPT))
    else:
        mid, tail = after.split(image_token)
        pieces = ChatPrompt((before, mid, tail), (Slot.PROMPT, Slot.IMAGE))
    if not _reproduces(pieces, template, image_token, special_tokens):
        pieces = ChatPrompt(pieces.parts, pieces.slots, strip_prompt=True)  # e.g. `| trim`
    for prompt in _CHECK_PROMPTS:
        if pieces.render(prompt, image_token) != render(template, prompt, special_tokens):
            raise ModelLoadError(
                f"{source}: the chat template changes the user's text (checked with {prompt!r}); "
                "vlmprune stores a template as literal pieces around the text"
            )
    return pieces


def _reproduces(
    pieces: ChatPrompt, template: str, image_token: str, special_tokens: Mapping[str, str]
) -> bool:
    return all(
        pieces.render(p, image_token) == render(template, p, special_tokens) for p in _CHECK_PROMPTS
    )
