"""The task detector's prompt features, shared by the runtime and the fitter.

Four groups, each scaled to unit length on its own so that the many character n-grams do
not drown the few word features:

- `w:` word unigrams and `b:` bigrams (with sentence boundaries) over normalised tokens:
  lowercased, a crude plural strip, numbers as `<num>` (decimals such as prices as
  `<dec>`), single capital letters (option and bar labels) as `<letter>`, all-caps words
  (receipt items, codes) as `<caps>`; a word in the manifest's word classes (colours,
  number words) also yields its class, and bigrams see the class, so "the purple sign"
  shares "b:the <color>" and "b:<color> sign" with "the red sign".
- `c:` character 3- to 5-grams of each word padded with `<` and `>`: a typo or an
  inflection still shares most of its n-grams with the word it came from.
- `s:` layout: lettered options ("A." "(b)" "C)"), all four capitals A-D, the prompt's
  length bucket, a question mark, several lines.

Everything is pure Python on the prompt's characters: no tokenizer, no model.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|\d+(?:[.,:]\d+)*|[^\w\s]")
# An option marker: a letter A-D (either case) followed by ')', '.', ':' or ']', or in
# parentheses; it must start the prompt or follow a space or bracket, so "a." inside a
# word is not one.
_OPTION = re.compile(r"(?:^|(?<=[\s(\[/]))\(?([A-Da-d])\s?[).:\]](?=\s|$)")
_DECIMAL = re.compile(r"[.,]\d\d$")
_ABCD = re.compile(r"\b[A-D]\b")
_LENGTH_BUCKETS = ((2, "1-2"), (5, "3-5"), (10, "6-10"))
GROUPS = ("w", "c", "s")  # bigrams `b:` count with the words
CHAR_NGRAMS = (3, 5)  # shortest and longest character n-gram


@dataclass(frozen=True)
class FeatureSpec:
    """What the featuriser needs beyond the prompt; stored in the manifest."""

    word_classes: Mapping[str, str] = field(default_factory=dict)  # word -> "<color>" ...
    char_ngrams: tuple[int, int] = CHAR_NGRAMS  # (0, 0): none

    def to_dict(self) -> dict:
        return {
            "word_classes": dict(sorted(self.word_classes.items())),
            "char_ngrams": list(self.char_ngrams),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> FeatureSpec:
        classes = d.get("word_classes", {})
        if not isinstance(classes, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and v.startswith("<")
            for k, v in classes.items()
        ):
            raise ValueError("word_classes must map words to '<class>' strings")
        lo, hi = (int(n) for n in d.get("char_ngrams", CHAR_NGRAMS))
        if not (1 <= lo <= hi <= 8 or lo == hi == 0):
            raise ValueError(
                f"char_ngrams {[lo, hi]}: need 1 <= low <= high <= 8, or [0, 0] (none)"
            )
        return cls(word_classes=dict(classes), char_ngrams=(lo, hi))  # a dict: fastest look-up


def normalise(prompt: str) -> str:
    """NFKC (full-width letters, ligatures), curly quotes made straight, a shouted prompt lowered."""
    text = unicodedata.normalize("NFKC", prompt).replace("\u2019", "'").replace("\u2018", "'")
    return text.lower() if text.isupper() else text


def tokens(prompt: str, spec: FeatureSpec = FeatureSpec()) -> list[str]:  # noqa: B008
    """The prompt's normalised tokens, word classes applied (see the module docstring)."""
    return _scan(normalise(prompt), spec.word_classes)[0]


def _scan(text: str, classes: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(tokens, lowercased stemmed words) of normalised `text`, in one pass."""
    toks, words = [], []
    for tok in _TOKEN.findall(text):
        if tok[0].isdigit():
            toks.append("<dec>" if _DECIMAL.search(tok) else "<num>")
            continue
        if not tok[0].isalpha():
            toks.append(tok)
            continue
        word = stem(tok.lower())
        words.append(word)
        if tok.isupper() and tok.isalpha():
            toks.append("<letter>" if len(tok) == 1 else "<caps>")
        else:
            toks.append(classes.get(word, word))
    return toks, words


def stem(word: str) -> str:
    ok = len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "'s", "is", "us"))
    return word[:-1] if ok else word


def features(prompt: str, spec: FeatureSpec = FeatureSpec()) -> list[str]:  # noqa: B008
    """Distinct features of `prompt`, in first-seen order."""
    text = normalise(prompt)
    toks, words = _scan(text, spec.word_classes)
    grams = [f"w:{t}" for t in toks]
    grams += [f"w:{w}" for w in words if w in spec.word_classes]
    padded = ["<s>", *toks, "</s>"]
    grams += [f"b:{a} {b}" for a, b in zip(padded, padded[1:], strict=False)]
    lo, hi = spec.char_ngrams
    for word in words if lo else ():
        w = f"<{word}>"
        for n in range(lo, min(hi, len(w)) + 1):
            grams += [f"c:{w[i : i + n]}" for i in range(len(w) - n + 1)]
    grams += _layout(text, toks)
    return list(dict.fromkeys(grams))


def _layout(text: str, toks: list[str]) -> list[str]:
    out = []
    options = {m.lower() for m in _OPTION.findall(text)}
    if len(options) >= 2:
        out.append(f"s:options{min(len(options), 3)}")
    if {"A", "B", "C", "D"} <= set(_ABCD.findall(text)):
        out.append("s:abcd")
    n_words = sum(1 for t in toks if t[0].isalpha() or t.startswith("<"))
    out.append(f"s:len{next((name for top, name in _LENGTH_BUCKETS if n_words <= top), '11+')}")
    if text.rstrip().endswith("?"):
        out.append("s:question")
    if "\n" in text.strip():
        out.append("s:lines")
    return out


def group(feature: str) -> str:
    """The feature's normalisation group: `w` (words and bigrams), `c` or `s`."""
    return "w" if feature[0] == "b" else feature[0]


def scripts(text: str) -> dict[str, int]:
    """Letters per Unicode script name ('LATIN', 'CJK', 'ARABIC', ...) in `text`."""
    counts: dict[str, int] = {}
    if text.isascii():  # the common case, without a Unicode name look-up per letter
        n = sum(ch.isalpha() for ch in text)
        return {"LATIN": n} if n else {}
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "UNKNOWN").split(" ")[0]
            counts[name] = counts.get(name, 0) + 1
    return counts
