"""Standard metrics per task type. Each returns one score per example (for bootstraps)."""

from __future__ import annotations

import difflib
import math
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from enum import Enum

from ..errors import UnknownNameError


class Metric(str, Enum):
    VQA_ACCURACY = "vqa_accuracy"
    CIDER_D = "cider_d"
    ANLS = "anls"
    RELAXED_ACCURACY = "relaxed_accuracy"
    OPTION_ACCURACY = "option_accuracy"
    EXACT_MATCH = "exact_match"


# --- VQA accuracy (official VQA v2 evaluation, vqaEval.py) -------------------------------

# fmt: off
# A subset of vqaEval.py's `contractions`: answers written without the apostrophe.
_CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldnt": "couldn't",
    "couldve": "could've", "didnt": "didn't", "doesnt": "doesn't", "dont": "don't",
    "hadnt": "hadn't", "hasnt": "hasn't", "havent": "haven't", "hes": "he's",
    "im": "i'm", "isnt": "isn't", "itd": "it'd", "itll": "it'll", "ive": "i've",
    "lets": "let's", "mightnt": "mightn't", "mustnt": "mustn't", "shes": "she's",
    "shouldnt": "shouldn't", "shouldve": "should've", "thats": "that's",
    "theres": "there's", "theyre": "they're", "theyve": "they've", "wasnt": "wasn't",
    "werent": "weren't", "whats": "what's", "wheres": "where's", "whos": "who's",
    "wont": "won't", "wouldnt": "wouldn't", "wouldve": "would've", "youre": "you're",
    "youve": "you've", "yall": "y'all",
}
_NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}
_ARTICLES = frozenset({"a", "an", "the"})
_VQA_PUNCT = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<",
              "@", "`", ",", "?", "!")
# fmt: on
_COMMA_BETWEEN_DIGITS = re.compile(r"(\d)(,)(\d)")
# vqaEval.py writes "(?!<=\d)(\.)(?!\d)": the intended lookbehind is a typo that never
# fires, so in effect every period not followed by a digit goes ("3.5" keeps its point).
_PERIOD_STRIP = re.compile(r"\.(?!\d)")


def _vqa_process_punctuation(text: str) -> str:
    out = text
    for p in _VQA_PUNCT:
        # As upstream: a mark touching a space (or any "1,000"-style comma in the text)
        # is deleted, otherwise it separates words ("black/white" -> "black white").
        if p + " " in text or " " + p in text or _COMMA_BETWEEN_DIGITS.search(text):
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_STRIP.sub("", out)


def _vqa_process_digit_article(text: str) -> str:
    words = [_NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    return " ".join(_CONTRACTIONS.get(w, w) for w in words if w not in _ARTICLES)


def normalize_vqa_answer(text: str) -> str:
    """vqaEval.py's answer normalisation: punctuation, number words, articles, contractions."""
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return _vqa_process_digit_article(_vqa_process_punctuation(text))


def vqa_accuracy(prediction: str, references: Sequence[str]) -> float:
    """Mean over references j of min(1, #(other references equal to the prediction) / 3).

    Upstream normalises only the prediction (VQA v2 annotations are pre-normalised);
    here both sides are, so raw references from other sources compare fairly. With
    fewer than two references the leave-one-out average is always 0, so it falls back
    to 1.0 for a normalised exact match, else 0.0.
    """
    _check_references(references)
    pred = normalize_vqa_answer(prediction)
    matches = [normalize_vqa_answer(r) == pred for r in references]
    if len(references) < 2:
        return 1.0 if matches[0] else 0.0
    total = sum(matches)
    per_ref = [min(1.0, (total - int(m)) / 3.0) for m in matches]
    return sum(per_ref) / len(per_ref)


# --- CIDEr-D (pycocoevalcap/cider, coco-caption) -----------------------------------------

_CIDER_N = 4
_CIDER_SIGMA = 6.0
_APOSTROPHES = str.maketrans("", "", "'")
_OTHER_PUNCT = str.maketrans({c: " " for c in string.punctuation if c != "'"})

NgramCounts = Counter[tuple[str, ...]]


def _cider_tokens(text: str) -> list[str]:
    # Stands in for coco-caption's Java PTB tokenizer: lowercase, drop apostrophes
    # ("don't" -> "dont"), every other punctuation mark splits words ("red,blue").
    return text.lower().translate(_APOSTROPHES).translate(_OTHER_PUNCT).split()


def _ngrams(tokens: list[str]) -> NgramCounts:
    counts: NgramCounts = Counter()
    for k in range(1, _CIDER_N + 1):
        for i in range(len(tokens) - k + 1):
            counts[tuple(tokens[i : i + k])] += 1
    return counts


def _tfidf(
    counts: NgramCounts, doc_freq: Counter[tuple[str, ...]], log_n_docs: float
) -> tuple[list[dict[tuple[str, ...], float]], list[float], int]:
    """Per-order tf-idf vectors, their L2 norms, and upstream's "length" (see below)."""
    vecs: list[dict[tuple[str, ...], float]] = [{} for _ in range(_CIDER_N)]
    sq_norms = [0.0] * _CIDER_N
    length = 0
    for ngram, tf in counts.items():
        order = len(ngram) - 1
        # n-grams absent from every reference get df 1, i.e. log(df) = 0.
        weight = tf * (log_n_docs - math.log(max(1.0, doc_freq[ngram])))
        vecs[order][ngram] = weight
        sq_norms[order] += weight * weight
        # Upstream counts bigrams here, not words: the length difference is the same
        # unless a sentence is empty, and then the similarity is 0 anyway.
        if order == 1:
            length += tf
    return vecs, [math.sqrt(x) for x in sq_norms], length


def _cider_similarity(
    hyp: tuple[list[dict[tuple[str, ...], float]], list[float], int],
    ref: tuple[list[dict[tuple[str, ...], float]], list[float], int],
) -> float:
    """Sum over n-gram orders of the clipped, length-penalised cosine similarity."""
    (hyp_vecs, hyp_norms, hyp_len), (ref_vecs, ref_norms, ref_len) = hyp, ref
    penalty = math.exp(-((hyp_len - ref_len) ** 2) / (2 * _CIDER_SIGMA**2))
    total = 0.0
    for order in range(_CIDER_N):
        ref_vec = ref_vecs[order]
        # The "-D" clipping: a candidate n-gram's weight counts at most its reference weight.
        val = sum(
            min(w, ref_vec.get(g, 0.0)) * ref_vec.get(g, 0.0) for g, w in hyp_vecs[order].items()
        )
        if hyp_norms[order] != 0 and ref_norms[order] != 0:
            val /= hyp_norms[order] * ref_norms[order]
        total += val * penalty
    return total


def cider_d(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
    """CIDEr-D per example, as pycocoevalcap's `Cider` (n=4, sigma=6, x10).

    Document frequencies come from the references of *all* examples, so a score
    depends on the corpus it is computed in (with one example every weight is 0).
    Text is lowercased and split on whitespace after punctuation is removed, in place
    of the PTB tokenizer upstream runs first.
    """
    _check_lengths(predictions, references)
    refs_counts = []
    for refs in references:
        _check_references(refs)
        refs_counts.append([_ngrams(_cider_tokens(r)) for r in refs])
    doc_freq: Counter[tuple[str, ...]] = Counter()
    for counts in refs_counts:  # df = number of examples whose references contain the n-gram
        doc_freq.update({g for c in counts for g in c})
    log_n_docs = math.log(len(references)) if references else 0.0

    scores = []
    for pred, counts in zip(predictions, refs_counts, strict=True):
        hyp = _tfidf(_ngrams(_cider_tokens(pred)), doc_freq, log_n_docs)
        sims = [_cider_similarity(hyp, _tfidf(c, doc_freq, log_n_docs)) for c in counts]
        # Mean over the n orders and over references, times 10.
        scores.append(10.0 * sum(sims) / (_CIDER_N * len(counts)))
    return scores


# --- ANLS (DocVQA) -----------------------------------------------------------------------


def _levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))  # distances from a[:0] to every prefix of b
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def anls(prediction: str, references: Sequence[str], threshold: float = 0.5) -> float:
    """Max over references of 1 - NL, where NL = edit distance / longer length; 0 if NL >= threshold."""
    _check_references(references)
    pred = prediction.strip().lower()
    best = 0.0
    for ref in references:
        ref = ref.strip().lower()
        longest = max(len(pred), len(ref))
        nl = _levenshtein(pred, ref) / longest if longest else 0.0
        best = max(best, 1.0 - nl if nl < threshold else 0.0)
    return best


# --- Relaxed accuracy (ChartQA) ----------------------------------------------------------

# Optional sign, optional currency symbol, digits (with "1,234"-style separators only),
# optional decimals, optional "%". Stricter than float(): no "nan", "inf" or "1_000".
_NUMBER = re.compile(r"([+-]?)\s*[$€£]?\s*((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)\s*%?")


def _parse_number(text: str) -> float | None:
    match = _NUMBER.fullmatch(text.strip())
    if match is None:
        return None
    sign, digits = match.groups()
    return float(sign + digits.replace(",", ""))


def relaxed_accuracy(prediction: str, references: Sequence[str], tolerance: float = 0.05) -> float:
    """1.0 if a number within `tolerance` relative error of a reference (else exact text).

    "%" is read as a unit ("12%" == "12"): ChartQA's gold answers are mostly bare
    numbers while models often add the sign. (Pix2Struct's reference code divides by
    100 instead, which scores "12%" against "12" as wrong.)
    """
    _check_references(references)
    pred_text = prediction.strip()
    pred_num = _parse_number(pred_text)
    for ref in references:
        ref_num = _parse_number(ref)
        if pred_num is not None and ref_num is not None:
            ok = (
                pred_num == ref_num
                if ref_num == 0
                else abs(pred_num - ref_num) <= tolerance * abs(ref_num)
            )
        else:
            ok = pred_text.lower() == ref.strip().lower()
        if ok:
            return 1.0
    return 0.0


# --- Option accuracy (multiple choice) ---------------------------------------------------

# The whole answer is one letter: "B", "b", "B.", "(B)", "[b]".
_BARE_LETTER = re.compile(r"[(\[]?\s*([A-Za-z])\s*[)\]]?\s*[.:]?")
# A cue word then a letter: "Answer: B", "option B", "the answer is (c)". A lowercase
# letter counts only when bracketed or closing the clause, so "answer is a dog" doesn't.
_CUED_LETTER = re.compile(
    r"\b(?i:answer|option|choice)\b(?:\s+is)?\s*[:\-]?\s*"
    r"(?:[(\[]([A-Za-z])[)\]]|([A-Z])(?![A-Za-z0-9])|([a-z])(?=[.)\]:]|\s*$))"
)
# Any standalone capital: not inside a word, number or contraction ("B) red", "I think C").
_STANDALONE_CAPITAL = re.compile(r"(?<![A-Za-z0-9'])([A-Z])(?![A-Za-z0-9'])")
_PRONOUN_I = re.compile(r"\s+[a-z]")


def parse_option_letter(text: str) -> str | None:
    """The option letter a free-form answer picks, uppercased; None if there is none.

    Ambiguous by nature: a sentence opening with the article "A" reads as option A.
    """
    text = text.strip()
    bare = _BARE_LETTER.fullmatch(text)
    if bare:
        return bare.group(1).upper()
    cued = _CUED_LETTER.search(text)
    if cued:
        return next(g for g in cued.groups() if g).upper()
    for match in _STANDALONE_CAPITAL.finditer(text):
        # Skip the pronoun in "I think it is B".
        if match.group(1) == "I" and _PRONOUN_I.match(text, match.end()):
            continue
        return match.group(1)
    return None


def option_accuracy(prediction: str, references: Sequence[str]) -> float:
    """1.0 if the letter parsed from the prediction is a reference letter, else 0.0."""
    _check_references(references)
    ref_letters = set()
    for ref in references:
        bare = _BARE_LETTER.fullmatch(ref.strip())
        if bare is None:
            raise ValueError(f"option_accuracy: reference {ref!r} is not an option letter")
        ref_letters.add(bare.group(1).upper())
    return 1.0 if parse_option_letter(prediction) in ref_letters else 0.0


# --- Exact match -------------------------------------------------------------------------


def exact_match(prediction: str, references: Sequence[str]) -> float:
    """1.0 if the stripped prediction equals a stripped reference, case-sensitively.

    Case is kept on purpose: this scores codes and identifiers, where "aB3" != "ab3".
    """
    _check_references(references)
    pred = prediction.strip()
    return 1.0 if any(pred == ref.strip() for ref in references) else 0.0


# --- Dispatch ----------------------------------------------------------------------------

CorpusScorer = Callable[[Sequence[str], Sequence[Sequence[str]]], list[float]]


def _per_example(score: Callable[[str, Sequence[str]], float]) -> CorpusScorer:
    def corpus(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
        _check_lengths(predictions, references)
        return [score(p, r) for p, r in zip(predictions, references, strict=True)]

    return corpus


# CIDEr-D needs the whole corpus (its idf); every other metric scores examples alone.
_SCORERS: dict[Metric, CorpusScorer] = {
    Metric.VQA_ACCURACY: _per_example(vqa_accuracy),
    Metric.CIDER_D: cider_d,
    Metric.ANLS: _per_example(anls),
    Metric.RELAXED_ACCURACY: _per_example(relaxed_accuracy),
    Metric.OPTION_ACCURACY: _per_example(option_accuracy),
    Metric.EXACT_MATCH: _per_example(exact_match),
}
_UNBOUNDED = frozenset({Metric.CIDER_D})


def parse_metric(metric: Metric | str) -> Metric:
    """A Metric from its enum or name; unknown names raise with suggestions."""
    try:
        return Metric(metric)
    except ValueError:
        names = [m.value for m in Metric]
        close = difflib.get_close_matches(str(metric), names, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownNameError(
            f"Unknown metric {metric!r}.{hint} Available: {', '.join(names)}"
        ) from None


def score_examples(
    metric: Metric | str, predictions: Sequence[str], references: Sequence[Sequence[str]]
) -> list[float]:
    """One score per example (so callers can bootstrap), in input order."""
    return _SCORERS[parse_metric(metric)](predictions, references)


def metric_upper_bound(metric: Metric | str) -> float | None:
    """The best possible score: 1.0, or None for CIDEr-D, which has no fixed maximum."""
    return None if parse_metric(metric) in _UNBOUNDED else 1.0


# --- Input checks ------------------------------------------------------------------------


def _check_lengths(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    if isinstance(predictions, str):
        raise ValueError("predictions must be a sequence of strings, not one string")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")


def _check_references(references: Sequence[str]) -> None:
    # A bare string is a Sequence[str] too, and would score against its characters.
    if isinstance(references, str):
        raise ValueError(f"references must be a sequence of strings, not the string {references!r}")
    if len(references) == 0:
        raise ValueError("an example has no references")
