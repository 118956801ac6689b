"""A model's chat template, rendered once by the builder into literal pieces around slots.

The runtime has no template engine (no jinja2 on the device): the builder renders the
folder's chat template for one user turn holding an image and a text, and stores the
result as `parts` with a `slot` between each two (docs/contracts.md):

    parts[0] + <slot 0> + parts[1] + <slot 1> + ... + parts[-1]

A slot is `image` (the template's own image placeholder goes there, once per image; the
architecture expands it to the image's tokens) or `prompt` (the user's text, verbatim).
The builder checks that composing the pieces reproduces the template for other prompts
too. A template that trims the user's text (`| trim`, as Gemma3's) is stored with
`strip_prompt` and the prompt is stripped before it goes into its slot; any other
transformation is refused at export time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenizers import Tokenizer


class Slot(str, Enum):
    IMAGE = "image"
    PROMPT = "prompt"


@dataclass(frozen=True)
class ChatPrompt:
    parts: tuple[str, ...]  # literal text; one more than slots
    slots: tuple[Slot, ...]
    strip_prompt: bool = False  # the template trims the user's text

    def __post_init__(self) -> None:
        object.__setattr__(self, "slots", tuple(Slot(s) for s in self.slots))
        if len(self.parts) != len(self.slots) + 1:
            raise ValueError(f"{len(self.parts)} parts for {len(self.slots)} slots (need one more)")
        if self.slots.count(Slot.PROMPT) != 1:
            raise ValueError("the chat prompt needs exactly one 'prompt' slot")

    @property
    def num_images(self) -> int:
        return self.slots.count(Slot.IMAGE)

    def render(self, prompt: str, image_placeholder: str) -> str:
        """The text the model gets: what the chat template renders for this turn."""
        if self.strip_prompt:
            prompt = prompt.strip()
        out = [self.parts[0]]
        for slot, part in zip(self.slots, self.parts[1:], strict=True):
            out.append(prompt if slot is Slot.PROMPT else image_placeholder)
            out.append(part)
        return "".join(out)

    def ids_around(
        self,
        tokenizer: Tokenizer,
        text_ids: Sequence[int],
        image_placeholder: str,
        add_special_tokens: bool = True,
    ) -> list[int]:
        """The prompt's ids with `text_ids` where the user's text goes (profiling's synthetic
        prompt): the template before the prompt slot, encoded as a prompt start, then the
        text ids, then the rest. `add_special_tokens=False` where the template writes them."""
        at = self.slots.index(Slot.PROMPT)
        head = ChatPrompt((*self.parts[: at + 1], ""), (*self.slots[:at], Slot.PROMPT))
        tail = ChatPrompt(("", *self.parts[at + 1 :]), (Slot.PROMPT, *self.slots[at + 1 :]))
        before = tokenizer.encode(
            head.render("", image_placeholder), add_special_tokens=add_special_tokens
        ).ids
        after = tokenizer.encode(tail.render("", image_placeholder), add_special_tokens=False).ids
        return [*before, *text_ids, *after]

    def to_dict(self) -> dict:
        out = {"parts": list(self.parts), "slots": [s.value for s in self.slots]}
        if self.strip_prompt:
            out["strip_prompt"] = True
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChatPrompt:
        parts, slots = d["parts"], d["slots"]
        if not all(isinstance(p, str) for p in parts) or not all(isinstance(s, str) for s in slots):
            raise ValueError("parts and slots must be lists of strings")
        return cls(tuple(parts), tuple(slots), bool(d.get("strip_prompt", False)))
