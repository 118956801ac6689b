"""Evaluate a VLM with some decoder blocks removed on a dataset split, with its metric.

The fast path: decoder input embeddings (vision tower + projector + token embeddings) do
not depend on any decoder block, so they are computed once per (dataset, split, limit) and
reused for every removal set; blocks are removed temporarily, without copying weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from ..errors import VlmpruneError
from ..models.loading import LoadedVlm
from ..tasks.base import Example, Split, TaskDataset
from ..tasks.metrics import Metric, score_examples
from .generation import greedy_generate, left_pad
from .stats import bootstrap_ci

MAX_NEW_TOKENS_CAP = 64


class EvaluationError(VlmpruneError):
    """An example the model cannot be evaluated on (e.g. longer than its context)."""


def context_length(vlm: LoadedVlm) -> int:
    return int(vlm.adapter.text_config(vlm.model).max_position_embeddings)


@dataclass
class PreparedSet:
    dataset: str
    split: Split
    task_type: str
    metric: Metric
    references: list[tuple[str, ...]]
    # (embeds (B, T, H), mask (B, T), prefill positions: (B, T), or (3, B, T) for M-RoPE)
    batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
    max_new_tokens: int

    @property
    def n(self) -> int:
        return len(self.references)


@dataclass(frozen=True)
class DatasetResult:
    dataset: str
    task_type: str
    metric: str
    score: float
    ci95: tuple[float, float]
    n: int
    removed_blocks: tuple[int, ...]
    predictions: list[str] = field(repr=False, compare=False)
    per_example: list[float] = field(repr=False, compare=False)

    def to_json(self) -> dict:
        return {
            "dataset": self.dataset,
            "task_type": self.task_type,
            "metric": self.metric,
            "score": self.score,
            "ci95": list(self.ci95),
            "n": self.n,
        }


class Evaluator:
    """Scores removal sets on datasets, reusing prepared inputs across removal sets."""

    def __init__(
        self, vlm: LoadedVlm, device: str = "cpu", batch_size: int = 64, progress: bool = False
    ) -> None:
        self.vlm = vlm
        self.device = device
        self.batch_size = batch_size
        self.progress = progress
        self._prepared: dict[tuple[str, str, int | None], PreparedSet] = {}
        self.forward_passes = 0  # decoder calls (prefill + decode steps), for benchmarks

    def forget_inputs(self) -> None:
        """Drop the prepared inputs: the next `prepare` renders and encodes them again."""
        self._prepared.clear()

    def prepare(self, dataset: TaskDataset, split: Split, limit: int | None = None) -> PreparedSet:
        key = (dataset.name, Split(split).value, limit)
        if key not in self._prepared:
            examples = list(dataset.examples(split, limit))
            self._prepared[key] = self._prepare(dataset, Split(split), examples)
        return self._prepared[key]

    @torch.no_grad()
    def _prepare(self, dataset: TaskDataset, split: Split, examples: list[Example]) -> PreparedSet:
        vlm = self.vlm
        references = [tuple(e.answers) for e in examples]
        longest = max(len(vlm.tokenizer.encode(" " + a).ids) for refs in references for a in refs)
        batches, arch, context = [], vlm.arch, context_length(vlm)
        for start in range(0, len(examples), self.batch_size):
            chunk = examples[start : start + self.batch_size]
            images = [arch.preprocess(e.image) for e in chunk]
            ids = [
                arch.prompt_ids(vlm.tokenizer, e.prompt, im)
                for e, im in zip(chunk, images, strict=True)
            ]
            for i, row in enumerate(ids):
                if len(row) >= context:
                    raise EvaluationError(
                        f"{dataset.name} example {start + i}: the prompt is {len(row)} tokens with "
                        f"the image; the model's context is {context}"
                    )
            input_ids, mask = left_pad(ids, vlm.pad_id)
            positions = arch.position_ids(input_ids.numpy(), mask.numpy(), images)
            # after the positions: the decoder's mask may mark some tokens (Gemma3's images)
            mask = torch.from_numpy(arch.decoder_mask(input_ids.numpy(), mask.numpy()))
            embeds = vlm.adapter.input_embeddings(vlm.model, input_ids.to(self.device), images)
            batches.append(
                (embeds, mask.to(self.device), torch.from_numpy(positions).to(self.device))
            )
        return PreparedSet(
            dataset=dataset.name,
            split=split,
            task_type=dataset.task_type.value,
            metric=Metric(dataset.metric),
            references=references,
            batches=batches,
            max_new_tokens=_max_new_tokens(dataset, longest),
        )

    def predictions(self, prepared: PreparedSet, removed: Iterable[int] = ()) -> list[str]:
        decode = self.vlm.tokenizer.decode
        rows = self.greedy_ids(prepared, removed)
        return [decode(ids, skip_special_tokens=True).strip() for ids in rows]

    def greedy_ids(self, prepared: PreparedSet, removed: Iterable[int] = ()) -> list[list[int]]:
        """The greedy answer's token ids per example (stop token excluded), in order."""
        vlm = self.vlm
        removed = tuple(removed)
        out: list[list[int]] = []
        with vlm.adapter.removed(vlm.model, removed):
            batches = prepared.batches
            if self.progress:
                batches = tqdm(batches, desc=f"{prepared.dataset} -{list(removed)}", leave=False)
            for embeds, mask, positions in batches:
                rows = greedy_generate(vlm, embeds, mask, prepared.max_new_tokens, positions)
                # The loop runs until every row has emitted EOS (stripped) or max_new_tokens.
                self.forward_passes += min(prepared.max_new_tokens, max(map(len, rows)) + 1)
                out.extend(rows)
        return out

    def evaluate(
        self,
        dataset: TaskDataset,
        split: Split = Split.CALIB,
        removed: Sequence[int] = (),
        limit: int | None = None,
    ) -> DatasetResult:
        removed = self.vlm.adapter.validate(self.vlm.model, removed)
        prepared = self.prepare(dataset, split, limit)
        preds = self.predictions(prepared, removed)
        return score_result(prepared, preds, removed)


def _max_new_tokens(dataset: TaskDataset, longest_reference: int) -> int:
    # A suite file may set the benchmark's own budget; else the references bound it.
    budget = getattr(dataset, "max_new_tokens", None)
    return budget or min(longest_reference + 2, MAX_NEW_TOKENS_CAP)


def score_result(
    prepared: PreparedSet, preds: list[str], removed: tuple[int, ...]
) -> DatasetResult:
    per_example = score_examples(prepared.metric, preds, prepared.references)
    return DatasetResult(
        dataset=prepared.dataset,
        task_type=prepared.task_type,
        metric=prepared.metric.value,
        score=float(np.mean(per_example)),
        ci95=bootstrap_ci(per_example),
        n=prepared.n,
        removed_blocks=removed,
        predictions=preds,
        per_example=list(per_example),
    )
