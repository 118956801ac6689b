"""Teacher-forced measures of a removal set: one decoder pass per batch, no generation.

`nll`: the mean negative log-likelihood per token of a reference answer (then the stop
token) given the prompt. `kl`: the mean KL divergence per token from the unpruned model's
next-token distributions to the pruned model's, over the unpruned model's own greedy answer
(EvoPress's fitness); the unpruned greedy answers and distributions are computed once per
dataset and reused for every removal set.

The inputs are the Evaluator's prepared prompt embeddings (left-padded) with the answer's
token embeddings appended (right-padded), so the decoder sees exactly what greedy generation
feeds it, in one pass instead of one per token. Values are per example: the mean over that
example's answer tokens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch

from ..errors import VlmpruneError
from .evaluate import Evaluator, PreparedSet


class Measure(str, Enum):
    NLL = "nll"  # of a reference answer
    KL = "kl"  # from the unpruned model, over its own greedy answer


class ScreenInputError(VlmpruneError):
    """A dataset a teacher-forced measure cannot score (e.g. no reference answer text)."""


@dataclass
class _Batch:
    """One prepared batch with its answers appended: B rows, T prompt + A answer positions."""

    embeds: torch.Tensor  # (B, T + A, H)
    mask: torch.Tensor  # (B, T + A): left padding, prompt, answer, right padding
    positions: torch.Tensor  # (B, T + A), or (3, B, T + A) for M-RoPE
    start: int  # T - 1: the position whose logits predict the first answer token
    targets: torch.Tensor  # (B, A + 1) answer tokens then the stop token (padding: 0)
    weights: torch.Tensor  # (B, A + 1) 1.0 where a target is scored, else 0.0
    reference: torch.Tensor | None = None  # (B, A + 1, V) unpruned log-probs (kl only)


def reference_answer(references: Sequence[str]) -> str | None:
    """The reference `nll` scores: the most frequent non-blank one (the first on ties).

    VQA-style datasets carry 10 human answers, so the consensus answer stands for them; a
    captioning dataset's references are all distinct and its first caption is taken.
    """
    texts = [r.strip() for r in references if r.strip()]
    if not texts:
        return None
    counts = Counter(texts)
    return max(texts, key=lambda t: (counts[t], -texts.index(t)))


def scored_reference(references: Sequence[str], where: str) -> str:
    """`reference_answer`, or one clear error naming the example that has none."""
    text = reference_answer(references)
    if text is None:
        raise ScreenInputError(
            f"--screen nll: {where} has no reference answer text to score; use --screen kl"
        )
    return text


class TeacherForced:
    """Per-example teacher-forced values of removal sets, on an Evaluator's prepared sets."""

    def __init__(self, evaluator: Evaluator, measure: Measure) -> None:
        self.evaluator = evaluator
        self.measure = Measure(measure)
        self.passes = 0  # teacher-forced decoder calls (one per batch), apart from generation
        self._inputs: dict[tuple[str, str, int], list[_Batch]] = {}

    @torch.no_grad()
    def per_example(self, prepared: PreparedSet, removed: Iterable[int] = ()) -> np.ndarray:
        """(n,) mean nll or kl per answer token of each example, with `removed` taken out."""
        batches = self._batches(prepared)
        vlm = self.evaluator.vlm
        out = []
        with vlm.adapter.removed(vlm.model, tuple(removed)):
            for batch in batches:
                log_probs = self._log_probs(batch)  # (B, A + 1, V)
                if self.measure is Measure.NLL:
                    per_token = -log_probs.gather(-1, batch.targets[..., None])[..., 0]
                else:
                    ref = batch.reference
                    per_token = (ref.exp() * (ref - log_probs)).sum(-1)
                # Padded positions may hold anything (even NaN): select, do not multiply.
                per_token = torch.where(batch.weights > 0, per_token, 0.0)
                out.append(per_token.sum(-1) / batch.weights.sum(-1))
        return torch.cat(out).double().cpu().numpy()

    def _log_probs(self, batch: _Batch) -> torch.Tensor:
        vlm = self.evaluator.vlm
        decoder, head = vlm.adapter.decoder(vlm.model), vlm.adapter.lm_head(vlm.model)
        mask = vlm.adapter.attention_mask(
            vlm.model, batch.embeds, batch.mask, None, batch.positions
        )
        out = decoder(
            inputs_embeds=batch.embeds,
            attention_mask=mask,
            position_ids=batch.positions,
            use_cache=False,
        )
        self.passes += 1
        width = batch.targets.shape[1]
        hidden = out.last_hidden_state[:, batch.start : batch.start + width]  # (B, A + 1, H)
        return torch.log_softmax(head(hidden).float(), dim=-1)

    def _batches(self, prepared: PreparedSet) -> list[_Batch]:
        key = (prepared.dataset, prepared.split.value, prepared.n)
        if key not in self._inputs:
            answers = self._answers(prepared)
            batches, start = [], 0
            for embeds, mask, positions in prepared.batches:
                rows = answers[start : start + len(embeds)]
                batches.append(self._append(embeds, mask, positions, rows))
                start += len(embeds)
            if self.measure is Measure.KL:  # the unpruned distributions, once
                for batch in batches:
                    batch.reference = self._log_probs(batch)
            self._inputs[key] = batches
        return self._inputs[key]

    def _answers(self, prepared: PreparedSet) -> list[list[int]]:
        """Per example, the target tokens: the answer, then the stop token if it has one."""
        vlm = self.evaluator.vlm
        eos = vlm.eos_id
        if self.measure is Measure.KL:
            # The unpruned greedy answers: stopped early means a stop token was emitted,
            # which is scored too (any stop token fills its slot; kl reads no target id).
            rows = self.evaluator.greedy_ids(prepared, ())
            return [r + [eos] if len(r) < prepared.max_new_tokens else r for r in rows]
        targets = []
        for i, refs in enumerate(prepared.references):
            text = scored_reference(refs, f"{prepared.dataset} {prepared.split.value} example {i}")
            # As the model was trained to answer (export/train/data.py): " answer" then EOS.
            ids = vlm.tokenizer.encode(" " + text, add_special_tokens=False).ids
            targets.append([*ids, eos])
        return targets

    def _append(
        self,
        embeds: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        rows: list[list[int]],
    ) -> _Batch:
        """The prompt batch with each row's answer (all but its last target) fed after it."""
        vlm = self.evaluator.vlm
        device = embeds.device
        batch, width = len(rows), max(map(len, rows))  # width = A + 1
        targets = torch.zeros((batch, width), dtype=torch.long, device=device)
        weights = torch.zeros((batch, width), dtype=torch.float32, device=device)
        for r, row in enumerate(rows):
            targets[r, : len(row)] = torch.as_tensor(row, device=device)
            weights[r, : len(row)] = 1.0
        fed = targets[:, :-1]  # (B, A): the last target is only predicted, never fed
        fed_mask = weights[:, :-1].to(mask.dtype)
        fed_embeds = vlm.model.get_input_embeddings()(fed).to(embeds.dtype)
        # Each answer token one position after the one before, as greedy decoding steps.
        steps = torch.arange(1, width, device=device, dtype=positions.dtype)
        return _Batch(
            embeds=torch.cat([embeds, fed_embeds], dim=1),
            mask=torch.cat([mask, fed_mask], dim=1),
            positions=torch.cat([positions, positions[..., -1:] + steps], dim=-1),
            start=embeds.shape[1] - 1,
            targets=targets,
            weights=weights,
        )
