"""Training examples for `vlmprune train`: streamed from the suite's train split, mixed,
tokenised and batched to one fixed shape.

Workers send raw uint8 pixels (a quarter of the bytes of normalised float32); the training
step normalises on the device with the same constants as `preprocess_image`. Every batch is
padded on the right to `seq_len` tokens, so a compiled step sees one shape only, and the
causal mask alone keeps real tokens from attending to the padding after them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from functools import partial

import numpy as np
import torch
from tokenizers import Tokenizer
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ...runtime.arch.llava import PreprocessSpec, format_prompt
from ..tasks.base import Example, Split
from ..tasks.catalog import all_datasets

IGNORE = -100  # label value that the loss skips (prompt, image and padding tokens)
SEQ_LEN = 160  # longest suite example: 137 tokens (option_mcq) + its hint, with room

# Option letters stay at chance for a long time when the only signal is the final letter
# (docs/demo-model.md), so a share of option_mcq draws also carries the correct value in
# the prompt: the model then learns the lookup "value -> its option's letter" from text
# alone, the half of the task that the image does not teach. Evaluation never sees a hint.
MCQ_DATASET = "option_mcq"
MCQ_HINT_RATE = 0.3
_OPTION = re.compile(r"\b([A-D])\. (\S+)")


def suite_texts(examples_per_dataset: int, seed: int) -> Iterator[str]:
    for dataset in all_datasets():
        for example in dataset.examples(Split.TRAIN, examples_per_dataset, seed=seed):
            yield example.prompt
            yield from example.answers


def with_option_hint(example: Example) -> str:
    """The prompt plus "Hint: the answer is <value>." for the value behind the correct letter."""
    options = dict(_OPTION.findall(example.prompt))
    return f"{example.prompt} Hint: the answer is {options[example.answers[0]]}."


def image_bytes(example: Example, spec: PreprocessSpec) -> np.ndarray:
    """uint8 (S, S, 3); `normalize_pixels` turns a batch of them into the model's input."""
    image = example.image.convert("RGB")
    if image.size != (spec.image_size, spec.image_size):
        raise ValueError(f"train image is {image.size}, the model expects {spec.image_size} px")
    return np.array(image, dtype=np.uint8)  # a writable copy, as torch wants


def normalize_pixels(raw: torch.Tensor, spec: PreprocessSpec) -> torch.Tensor:
    """uint8 (B, S, S, 3) -> float32 (B, 3, S, S), exactly as `preprocess_image`."""
    mean = torch.tensor(spec.image_mean, dtype=torch.float32, device=raw.device)
    std = torch.tensor(spec.image_std, dtype=torch.float32, device=raw.device)
    return ((raw.float() / 255.0 - mean) / std).permute(0, 3, 1, 2).contiguous()


class SuiteStream(IterableDataset):
    """Endless (uint8 pixels, input_ids, labels) from the train split, mixed across datasets."""

    def __init__(
        self,
        tokenizer_file: str,
        spec_dict: dict,
        mixture: dict[str, float],
        seed: str,
        mcq_hint_rate: float = MCQ_HINT_RATE,
    ):
        self.tokenizer_file = tokenizer_file
        self.spec_dict = spec_dict
        self.mixture = mixture
        self.seed = seed
        self.mcq_hint_rate = mcq_hint_rate

    def __iter__(self) -> Iterator[tuple[np.ndarray, list[int], list[int]]]:
        info = get_worker_info()
        worker = info.id if info else 0
        tokenizer = Tokenizer.from_file(self.tokenizer_file)
        spec = PreprocessSpec.from_dict(self.spec_dict)
        eos = tokenizer.token_to_id(spec.eos_token)
        datasets = all_datasets()
        weights = [self.mixture.get(d.name, 1.0) for d in datasets]
        rng = random.Random(f"{self.seed}:{worker}")
        streams = [d.examples(Split.TRAIN, seed=rng.randrange(1 << 30)) for d in datasets]
        names = [d.name for d in datasets]
        while True:
            index = rng.choices(range(len(datasets)), weights)[0]
            example = next(streams[index])
            prompt = example.prompt
            if names[index] == MCQ_DATASET and rng.random() < self.mcq_hint_rate:
                prompt = with_option_hint(example)
            answer = rng.choice(example.answers)
            prompt_ids = tokenizer.encode(format_prompt(prompt, spec)).ids
            answer_ids = tokenizer.encode(" " + answer).ids + [eos]
            ids = prompt_ids + answer_ids
            labels = [IGNORE] * len(prompt_ids) + answer_ids
            yield image_bytes(example, spec), ids, labels


def train_loader(
    tokenizer_file: str,
    spec: PreprocessSpec,
    mixture: dict[str, float],
    seed: str,
    batch_size: int,
    workers: int,
    pin_memory: bool = False,
) -> DataLoader:
    """Batches of `SuiteStream` examples as the training step takes them (`collate`)."""
    pad_id = Tokenizer.from_file(tokenizer_file).token_to_id(spec.pad_token)
    return DataLoader(
        SuiteStream(tokenizer_file, spec.to_dict(), mixture, seed),
        batch_size=batch_size,
        num_workers=workers,
        prefetch_factor=4 if workers else None,
        collate_fn=partial(collate, pad_id=pad_id),
        pin_memory=pin_memory,
        persistent_workers=False,
    )


def collate(batch: list, pad_id: int, seq_len: int = SEQ_LEN) -> dict[str, torch.Tensor]:
    """Right-pad every row to `seq_len` (one shape for every step)."""
    ids = torch.full((len(batch), seq_len), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), seq_len), IGNORE, dtype=torch.long)
    for row, (_, seq, lab) in enumerate(batch):
        if len(seq) > seq_len:
            raise ValueError(f"training example of {len(seq)} tokens exceeds seq_len {seq_len}")
        ids[row, : len(seq)] = torch.tensor(seq)
        labels[row, : len(lab)] = torch.tensor(lab)
    pixels = torch.from_numpy(np.stack([p for p, _, _ in batch]))
    return {"input_ids": ids, "labels": labels, "pixels": pixels}
