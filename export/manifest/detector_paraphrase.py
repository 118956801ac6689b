"""Paraphrases of (prompt, task type) pairs, for fitting and calibrating the task detector.

The generator knows nothing about a suite: it rewrites whatever prompts it is given with
general operations (synonyms, politeness, question <-> command, other languages' word
order and words, dropped function words, typos, casing, fresh slot values, re-laid option
lists) and adds request frames per task type (detector_phrasebank.FRAMES). Every word
list and frame belongs to one of two halves, `Half.FIT` or `Half.VALIDATION`, by a hash of
its text; a paraphrase drawn for validation uses only validation-half material, so the
threshold is chosen on wording that fitting never saw.

    pairs = paraphrase(suite_pairs, Half.FIT, per_prompt=3, seed=0)
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cache

from . import detector_phrasebank as bank

VALIDATION_SHARE = 0.3  # of every list and frame set


class Half(str, Enum):
    FIT = "fit"
    VALIDATION = "validation"


def split_of(text: str) -> Half:
    """The half `text` (a word, frame, template or language) belongs to; stable across runs."""
    bucket = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % 1000
    return Half.VALIDATION if bucket < VALIDATION_SHARE * 1000 else Half.FIT


def _half(items: Sequence[str], half: Half) -> tuple[str, ...]:
    """The items of `half`; never empty (a one-item list serves both halves)."""
    mine = tuple(x for x in items if split_of(x) is half)
    return mine or tuple(items)


@dataclass(frozen=True)
class Material:
    """One half's word lists (see detector_phrasebank)."""

    synonyms: tuple[tuple[str, ...], ...]
    prefixes: tuple[str, ...]
    suffixes: tuple[str, ...]
    languages: tuple[int, ...]  # indices into bank.LANGUAGES
    colors: tuple[str, ...]
    objects: tuple[str, ...]
    items: tuple[str, ...]
    sign_words: tuple[str, ...]
    layouts: tuple[str, ...]
    instructions: tuple[str, ...]
    verbs: tuple[str, ...]


@cache
def material(half: Half) -> Material:
    # A synonym group keeps its first phrase (the one prompts contain) in both halves; its
    # other phrases are split strictly, so a group may offer one half no alternative.
    groups = tuple((g[0], *(x for x in g[1:] if split_of(x) is half)) for g in bank.SYNONYMS)
    languages = tuple(i for i, lang in enumerate(bank.LANGUAGES) if split_of(lang) is half)
    return Material(
        synonyms=groups,
        prefixes=_half(bank.PREFIXES, half),
        suffixes=_half(bank.SUFFIXES, half),
        languages=languages or tuple(range(len(bank.LANGUAGES))),
        colors=_half(bank.COLORS, half),
        objects=_half(bank.OBJECTS, half),
        items=_half(bank.ITEMS, half),
        sign_words=_half(bank.SIGN_WORDS, half),
        layouts=_half(bank.OPTION_LAYOUTS, half),
        instructions=_half(bank.OPTION_INSTRUCTIONS, half),
        verbs=_half(bank.COMMAND_VERBS, half),
    )


# --- operations: (text, rng, material) -> text ---------------------------------------


@cache
def _phrase(phrase: str) -> re.Pattern:
    return re.compile(rf"\b{re.escape(phrase)}\b", re.IGNORECASE)


def synonyms(text: str, rng: random.Random, m: Material) -> str:
    low = text.lower()
    for group in m.synonyms:
        for phrase in group:
            # The substring test is a cheap filter before the word-boundary pattern.
            if phrase in low and rng.random() < 0.6 and _phrase(phrase).search(text):
                text = _phrase(phrase).sub(rng.choice(group), text, count=1)
                low = text.lower()
                break
    return text


def politeness(text: str, rng: random.Random, m: Material) -> str:
    body = text[0].lower() + text[1:] if rng.random() < 0.7 else text
    if rng.random() < 0.6:
        return f"{rng.choice(m.prefixes)} {body}"
    return f"{text.rstrip('.')} {rng.choice(m.suffixes)}"


_WH_QUESTION = re.compile(r"^(what|which)\s+(is|are)\s+(.+?)\s*\?*$", re.IGNORECASE)
# Only a whole, bare question: the options of a multiple-choice prompt must survive.
_HOW_MANY = re.compile(r"^how many\s+(\w+(?: \w+)?)\s+(?:are|can|do|is)\b[^?.:]*\?*$", re.I)


def to_command(text: str, rng: random.Random, m: Material) -> str:
    """ "What is the X?" -> "Tell me the X."; "How many X are there?" -> "Count the X"."""
    if found := _WH_QUESTION.match(text.strip()):
        return f"{rng.choice(m.verbs)} {found.group(3)}".rstrip("?") + rng.choice((".", "", "!"))
    if found := _HOW_MANY.match(text.strip()):
        return rng.choice(("count the {}", "give the number of {}", "number of {}")).format(
            found.group(1)
        )
    return text


_TOPIC = re.compile(
    r"^(what|which|how \w+)\s+(.*?)\s*\b(is|are|does|do|did)\s+(the .+?)\s*\?$", re.I
)
_FRONT_VERB = re.compile(r"^(\w+)\s+(the .+?)([.!]?)$", re.IGNORECASE)


def word_order(text: str, rng: random.Random, m: Material) -> str:
    """Orders other languages allow: the topic first ("the sign, what does it say?"), the
    question word last ("the circle is what colour?"), the verb last ("the code copy")."""
    if found := _TOPIC.match(text.strip()):
        wh, middle, verb, topic = found.groups()
        if rng.random() < 0.5:
            return f"{topic}, {wh} {middle} {verb} it?".replace("  ", " ")
        return f"{topic} {verb} {wh} {middle}?".replace(" ?", "?")
    if found := _FRONT_VERB.match(text.strip()):
        return f"{found.group(2)} {found.group(1).lower()}{found.group(3)}"
    return text


def foreign_words(text: str, rng: random.Random, m: Material) -> str:
    lang = rng.choice(m.languages)
    for word, translations in bank.FOREIGN.items():
        if word in text.lower() and rng.random() < 0.5 and _phrase(word).search(text):
            text = _phrase(word).sub(translations[lang], text, count=1)
    return text


def telegraphic(text: str, rng: random.Random, m: Material) -> str:
    kept = [w for w in text.split() if w.lower().strip("?.,!") not in bank.STOPWORDS]
    return " ".join(kept) if kept else text


_KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"


def typos(text: str, rng: random.Random, m: Material) -> str:
    words = text.split(" ")
    for i, word in enumerate(words):
        if len(word) < 4 or not word.isalpha() or rng.random() > 0.35:
            continue
        j = rng.randrange(1, len(word) - 1)
        kind = rng.randrange(4)
        if kind == 0:
            word = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
        elif kind == 1:
            word = word[:j] + word[j + 1 :]
        elif kind == 2:
            word = word[:j] + word[j] + word[j:]
        else:
            word = word[:j] + rng.choice(_KEYBOARD) + word[j + 1 :]
        words[i] = word
    return " ".join(words)


def casing(text: str, rng: random.Random, m: Material) -> str:
    choice = rng.randrange(4)
    if choice == 0:
        return text.lower()
    if choice == 1:
        return re.sub(r"[?.!,]+", "", text).lower()
    if choice == 2:
        return text.rstrip("?.!")
    return text.upper() if rng.random() < 0.3 else text[0].upper() + text[1:]


def slot_values(text: str, rng: random.Random, m: Material) -> str:
    """Fresh colours, numbers and all-caps words, so no slot value is learnt as a cue."""
    text = re.sub(
        rf"\b({'|'.join(bank.COLORS)})\b", lambda _: rng.choice(m.colors), text, flags=re.I
    )
    text = re.sub(
        r"\b\d+\.\d\d\b", lambda _: f"{rng.randint(0, 60)}.{rng.randint(0, 99):02d}", text
    )
    text = re.sub(r"\b(?<![.,])\d{1,2}\b(?![.,]\d)", lambda _: str(rng.randint(0, 20)), text)
    if text.isupper():  # a shouted prompt: its capitals are words, not receipt items
        return text
    return re.sub(r"\b[A-Z]{3,}\b", lambda _: rng.choice(m.items), text)


_OPTIONS = re.compile(
    r"\(?A[.):]\)?\s*(.+?)\s+\(?B[.):]\)?\s*(.+?)\s+\(?C[.):]\)?\s*(.+?)\s+\(?D[.):]\)?\s*(\S+)"
)


def options_layout(text: str, rng: random.Random, m: Material) -> str:
    """Re-lay "A. x B. y C. z D. w" in another layout, maybe before the question."""
    found = _OPTIONS.search(text)
    if not found:
        return text
    a, b, c, d = found.groups()
    listed = rng.choice(m.layouts).format(a=a, b=b, c=c, d=d)
    rest = (text[: found.start()] + text[found.end() :]).strip()
    if rng.random() < 0.3:
        rest = re.sub(r"\b(answer|reply|choose|respond)\b.*$", "", rest, flags=re.I).strip()
        rest = f"{rest} {rng.choice(m.instructions)}".strip()
    return f"{listed} {rest}" if rng.random() < 0.3 else f"{rest} {listed}"


OPERATIONS: tuple[Callable[[str, random.Random, Material], str], ...] = (
    synonyms, politeness, to_command, word_order, foreign_words, telegraphic, typos,
    casing, slot_values, options_layout,
)  # fmt: skip
# Chance of each operation in one paraphrase; several usually apply, in random order.
_P_OPERATION = (0.7, 0.35, 0.25, 0.2, 0.12, 0.15, 0.25, 0.35, 0.5, 0.8)


def rewrite(text: str, rng: random.Random, m: Material) -> str:
    ops = [op for op, p in zip(OPERATIONS, _P_OPERATION, strict=True) if rng.random() < p]
    rng.shuffle(ops)
    for op in ops:
        text = op(text, rng, m) or text
    return re.sub(r"\s+", " ", text).strip() if "\n" not in text else text.strip()


def fill_frame(frame: str, rng: random.Random, m: Material) -> str:
    objs = rng.choice(m.objects)
    options = rng.choice((m.colors, m.objects, tuple(str(i) for i in range(10))))
    a, b, c, d = rng.sample(options, 4)
    return frame.format(
        color=rng.choice(m.colors),
        obj=rng.choice(m.objects),
        objs=objs + ("es" if objs.endswith(("s", "x")) else "s"),
        ITEM=rng.choice(m.items),
        price=f"{rng.randint(0, 40)}.{rng.randint(0, 99):02d}",
        L=rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ"),
        M=rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ"),
        n=rng.randint(1, 9),
        word=rng.choice(m.sign_words),
        opts=rng.choice(m.layouts).format(a=a, b=b, c=c, d=d),
    )


def paraphrase(
    pairs: Sequence[tuple[str, str]], half: Half, per_prompt: int, seed: int
) -> list[tuple[str, str]]:
    """`per_prompt` rewrites of each (prompt, task type) with `half`'s material."""
    rng = random.Random(f"{seed}:{half.value}:rewrite")
    m = material(half)
    return [(rewrite(p, rng, m), t) for p, t in pairs for _ in range(per_prompt)]


def framed(
    task_types: Sequence[str], half: Half, per_type: int, seed: int
) -> list[tuple[str, str]]:
    """`per_type` filled and rewritten frames of each task type, from `half`'s frames."""
    rng = random.Random(f"{seed}:{half.value}:frames")
    m = material(half)
    out = []
    for task_type in task_types:
        frames = _half(bank.FRAMES.get(task_type, ()), half)
        for _ in range(per_type if frames else 0):
            text = fill_frame(rng.choice(frames), rng, m)
            out.append((rewrite(text, rng, m) if rng.random() < 0.7 else text, task_type))
    return out
