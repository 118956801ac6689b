"""The training step's pieces: its loss equals transformers', its pixels equal the runtime's
preprocessing, batches have one shape, and option hints name the correct value."""

import numpy as np
import pytest
import torch

from vlmprune.export.models.llava_build import SIZES, build_llava, preprocess_spec
from vlmprune.export.models.tokenizer import train_tokenizer
from vlmprune.export.tasks.base import Split
from vlmprune.export.tasks.catalog import get_dataset
from vlmprune.export.train.data import (
    IGNORE,
    SuiteStream,
    collate,
    image_bytes,
    normalize_pixels,
    suite_texts,
    with_option_hint,
)
from vlmprune.export.train.forward import image_offset, llava_loss
from vlmprune.runtime.arch.llava import preprocess_image


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tokenizer = train_tokenizer(suite_texts(20, seed=0), 1024)
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tokenizer.save(str(path))
    model = build_llava(SIZES["tiny"], tokenizer, seed=3)
    return model, tokenizer, str(path)


PAD = 0  # any id works for these checks: padding is never labelled or attended


def _batch(tokenizer_file, rows=6):
    spec = preprocess_spec(SIZES["tiny"])
    stream = SuiteStream(tokenizer_file, spec.to_dict(), {}, seed="t", mcq_hint_rate=0.5)
    items = [item for item, _ in zip(iter(stream), range(rows), strict=False)]
    batch = collate(items, pad_id=PAD)
    batch["lengths"] = [len(ids) for _, ids, _ in items]
    return spec, batch


def test_loss_equals_the_transformers_forward(tiny):
    model, tokenizer, tok_file = tiny
    spec, batch = _batch(tok_file)
    assert batch["input_ids"].shape == (6, 160) and batch["pixels"].dtype == torch.uint8
    image_id = tokenizer.token_to_id(spec.image_token)
    offset = image_offset(batch["input_ids"], image_id, spec.num_image_tokens)
    pixels = normalize_pixels(batch["pixels"], spec)
    with torch.no_grad():
        ours = llava_loss(model, batch["input_ids"], pixels, batch["labels"], offset)
        mask = torch.zeros_like(batch["input_ids"])
        for row, length in enumerate(batch["lengths"]):
            mask[row, :length] = 1
        theirs = model(
            input_ids=batch["input_ids"],
            pixel_values=pixels,
            labels=batch["labels"],
            attention_mask=mask,
        ).loss
    assert torch.isfinite(ours)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_pixels_match_the_runtime_preprocessing():
    spec = preprocess_spec(SIZES["demo"])
    example = next(get_dataset("sign_textvqa").examples(Split.TRAIN, 1, seed=1))
    raw = torch.from_numpy(image_bytes(example, spec)[None])
    ours = normalize_pixels(raw, spec)[0].numpy()
    np.testing.assert_allclose(ours, preprocess_image(example.image, spec), atol=1e-6)


def test_option_hint_names_the_value_behind_the_correct_letter():
    for example in get_dataset("option_mcq").examples(Split.TRAIN, 50, seed=2):
        hinted = with_option_hint(example)
        value = hinted.rsplit("the answer is ", 1)[1].rstrip(".")
        assert f"{example.answers[0]}. {value}" in example.prompt
        assert hinted.startswith(example.prompt)


def test_labels_cover_only_the_answer(tiny):
    _, tokenizer, tok_file = tiny
    spec, batch = _batch(tok_file, rows=3)
    eos = tokenizer.token_to_id(spec.eos_token)
    rows = zip(batch["input_ids"], batch["labels"], batch["lengths"], strict=True)
    for ids, labels, length in rows:
        kept = labels[labels != IGNORE]
        assert kept[-1] == eos
        n = len(kept)
        last = int((labels != IGNORE).nonzero().max())
        assert last == length - 1
        assert torch.equal(ids[last - n + 1 : last + 1], kept)
        assert (ids[length:] == PAD).all()


def test_image_offset_refuses_misaligned_rows():
    ids = torch.tensor([[1, 9, 9, 2], [1, 2, 9, 9]])
    with pytest.raises(ValueError, match="same offset"):
        image_offset(ids, 9, 2)
