"""A small BPE tokenizer trained with `tokenizers` on the suite's own text (no download).

Digits and capital letters are split one per token (case-sensitive vocabulary), so prices,
chart values and codes are read and written character by character, while lowercase words
(answers, captions) stay whole tokens. Merged capitals made random codes opaque: a demo
trained with capitals merged by BPE never learned to copy codes (docs/demo-model.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

PAD, BOS, EOS, UNK, IMAGE = "<pad>", "<s>", "</s>", "<unk>", "<image>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK, IMAGE]  # ids 0..4, in this order


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1024) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first"),
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.Split(Regex("[A-Z]"), behavior="isolated"),
            pre_tokenizers.Punctuation(),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    # Every printable ASCII character is in the alphabet, so unseen codes never map to <unk>.
    alphabet = [chr(c) for c in range(33, 127)] + ["\n"]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=alphabet + ["▁"],
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer
