"""Parity of exported graphs with the PyTorch (pruned) model, before anything is written.

Two checks per decoder, on real suite inputs (test split, a few examples of every dataset):

1. Logits: the ONNX decoder and the PyTorch decoder get the same input embeddings; the
   prefill logits (real positions only) and the logits of `decode_steps` further steps (each
   side feeding its own KV cache, the same greedy token) must agree within `atol`.
2. Greedy answers: the whole ONNX pipeline (vision encoder, embed_tokens, merge, greedy
   decoding with the torch-free `vlmprune.runtime.generation`) against PyTorch's greedy
   loop (`vlmprune.export.evaluation.generation`) from PyTorch's own embeddings. The generated ids must
   be identical; the only exception allowed is a near-tie (PyTorch's two best logits within
   `tie_margin` where the answers part) on at most 1% of the examples (`ParityReport`).
"""

from __future__ import annotations

import copy
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from ...runtime.decoders import cache_layout, stepper
from ...runtime.generation import greedy_decode, left_pad
from ..evaluation.evaluate import MAX_NEW_TOKENS_CAP
from ..evaluation.generation import greedy_generate
from ..models.loading import LoadedVlm
from ..tasks.base import TaskDataset
from .graphs import decoder_module

_PROTOBUF_LIMIT = 1_800_000_000  # below protobuf's 2 GB: sessions can be made from bytes


@dataclass(frozen=True)
class ParityConfig:
    atol: float = 1e-3  # max |logit difference|, fp32 on CPU (measured: ~1e-6)
    decode_steps: int = 4  # decode steps compared after the prefill
    min_agreement: float = 0.99  # share of examples whose greedy ids must be identical...
    tie_margin: float = 1e-4  # ...and every other one must diverge at a near-tie (see below)
    logit_rows: int = 4  # rows of the first batch used for the logit comparison


@dataclass(frozen=True)
class Divergence:
    """Where the ONNX greedy answer left PyTorch's, and how close the call was there."""

    example: str  # "dataset#i"
    step: int  # index of the first differing generated token
    margin: float  # PyTorch's top-1 minus top-2 logit at that step

    def describe(self) -> str:
        return f"{self.example} at token {self.step}, top-2 margin {self.margin:.1e}"


@dataclass(frozen=True)
class ParityReport:
    """Logit differences and greedy agreement of one decoder (the criterion: `passed`).

    Greedy answers must be identical, except that up to 1 - min_agreement of the examples
    may diverge at a near-tie: where PyTorch's two best logits are within `tie_margin`,
    fp32 rounding (differences ~1e-6) can pick either; an export bug cannot hide there.
    """

    removed_blocks: tuple[int, ...]
    prefill_max_abs_diff: float
    decode_max_abs_diff: float
    config: ParityConfig
    n: int  # examples decoded greedily
    identical: int  # of which the ids were identical
    divergences: tuple[Divergence, ...] = field(default=(), compare=False)

    @property
    def agreement(self) -> float:
        return self.identical / self.n if self.n else 1.0

    @property
    def logits_ok(self) -> bool:
        worst = max(self.prefill_max_abs_diff, self.decode_max_abs_diff)
        return math.isfinite(worst) and worst <= self.config.atol

    @property
    def greedy_ok(self) -> bool:
        ties = all(d.margin <= self.config.tie_margin for d in self.divergences)
        return self.identical == self.n or (ties and self.agreement >= self.config.min_agreement)

    @property
    def passed(self) -> bool:
        return self.logits_ok and self.greedy_ok

    def problem(self) -> str:
        """Why it failed, with the numbers ('' when it passed)."""
        atol, parts = self.config.atol, []
        for label, diff in (
            ("prefill", self.prefill_max_abs_diff),
            ("decode", self.decode_max_abs_diff),
        ):
            if not (math.isfinite(diff) and diff <= atol):
                parts.append(f"{label} max |Δlogit| {diff:.2e} > {atol:.0e}")
        if not self.greedy_ok:
            worst = sorted(self.divergences, key=lambda d: -d.margin)[:3]
            shown = "; ".join(d.describe() for d in worst)
            parts.append(
                f"greedy answers differ on {self.n - self.identical}/{self.n} examples ({shown}; "
                f"allowed: near-ties <= {self.config.tie_margin:.0e} on <= "
                f"{1 - self.config.min_agreement:.0%})"
            )
        return "; ".join(parts)

    def to_json(self) -> dict:
        return {
            "prefill_max_abs_diff": self.prefill_max_abs_diff,
            "decode_max_abs_diff": self.decode_max_abs_diff,
            "decode_steps": self.config.decode_steps,
            "atol": self.config.atol,
            "greedy_identical": self.identical,
            "n": self.n,
            "greedy_divergences": [
                {"example": d.example, "token": d.step, "top2_margin": d.margin}
                for d in self.divergences
            ],
            "tie_margin": self.config.tie_margin,
            "split": "test",
        }


@dataclass
class ParityBatch:
    """Examples of several datasets, left-padded, with both sides' input embeddings."""

    datasets: list[str]  # per row
    input_ids: np.ndarray  # (B, T) int64
    mask: np.ndarray  # (B, T) int64
    images: list  # the runtime architecture's preprocessed images, one per row
    positions: np.ndarray  # prefill position ids: (B, T), or (3, B, T) for M-RoPE
    max_new_tokens: int
    torch_embeds: torch.Tensor  # (B, T, H) from the PyTorch model
    onnx_embeds: np.ndarray | None = None  # (B, T, H) from vision_encoder + embed_tokens


class ParitySet:
    """The real inputs every variant is checked on: the first examples of each test split.

    Batches interleave the datasets with similar answer lengths, so prompts of different
    lengths are left-padded together, as the runtime batches requests.
    """

    def __init__(self, vlm: LoadedVlm, batches: list[ParityBatch]) -> None:
        self.vlm = vlm
        self.batches = batches

    @property
    def n(self) -> int:
        return sum(len(b.input_ids) for b in self.batches)

    @classmethod
    def build(
        cls, vlm: LoadedVlm, datasets: Sequence[str | TaskDataset], n: int, batch_size: int = 32
    ) -> ParitySet:
        from ..tasks.base import Split
        from ..tasks.catalog import as_dataset

        per_dataset = -(-n // max(len(datasets), 1))
        queues = []
        for dataset in map(as_dataset, datasets):  # built-in names or dataset objects
            name = dataset.name
            examples = list(dataset.examples(Split.TEST, per_dataset))
            longest = max(
                len(vlm.tokenizer.encode(" " + a).ids) for e in examples for a in e.answers
            )
            budget = min(longest + 2, MAX_NEW_TOKENS_CAP)
            queues.append([(name, e, budget) for e in examples])
        rows = [row for group in zip_longest(*queues) for row in group if row is not None][:n]
        # Similar answer budgets share a batch: a batch decodes as long as its longest budget.
        rows.sort(key=lambda row: row[2])
        batches = [
            _batch(vlm, rows[start : start + batch_size])
            for start in range(0, len(rows), batch_size)
        ]
        return cls(vlm, batches)

    def attach_shared(self, vision: ort.InferenceSession, embed: ort.InferenceSession) -> float:
        """Compute the ONNX-side embeddings; return their max |difference| from PyTorch's,
        relative to the largest |embedding| (at least 1).

        Relative because a trained projector's image features reach ~1e2, where fp32 rounding
        alone differs by ~1e-3 in absolute terms; the decoder logits and the greedy answers
        (checked from these embeddings onward) stay in absolute terms.
        """
        worst, scale = 0.0, 1.0
        arch = self.vlm.arch
        for batch in self.batches:
            features = arch.image_features(vision, batch.images)
            batch.onnx_embeds = arch.inputs_embeds(embed, batch.input_ids, features)
            reference = batch.torch_embeds.numpy()
            worst = max(worst, _max_diff(batch.onnx_embeds, reference, batch.mask))
            scale = max(scale, float(np.abs(reference[batch.mask.astype(bool)]).max(initial=0)))
        return worst / scale


def _batch(vlm: LoadedVlm, rows: list[tuple[str, object, int]]) -> ParityBatch:
    images = [vlm.arch.preprocess(e.image) for _, e, _ in rows]
    ids = [
        vlm.arch.prompt_ids(vlm.tokenizer, e.prompt, im)
        for (_, e, _), im in zip(rows, images, strict=True)
    ]
    input_ids, mask = left_pad(ids, vlm.pad_id)
    positions = vlm.arch.position_ids(input_ids, mask, images)
    mask = vlm.arch.decoder_mask(input_ids, mask)  # after the positions: it may mark tokens
    with torch.no_grad():
        embeds = vlm.adapter.input_embeddings(vlm.model, torch.from_numpy(input_ids), images)
    budget = max(b for *_, b in rows)
    names = [name for name, *_ in rows]
    return ParityBatch(names, input_ids, mask, images, positions, budget, embeds)


def check_decoder(
    vlm: LoadedVlm,
    decoder: ort.InferenceSession,
    embed: ort.InferenceSession,
    parity: ParitySet,
    config: ParityConfig,
) -> ParityReport:
    """Compare `decoder` with `vlm` *as it is now* (blocks already removed)."""
    removed = tuple(b for b in range(vlm.num_blocks) if b not in vlm.adapter.kept_blocks(vlm.model))
    prefill, decode = _logit_diffs(vlm, decoder, parity.batches[0], config)
    identical, n, divergences = 0, 0, []
    for batch in parity.batches:
        if batch.onnx_embeds is None:
            raise RuntimeError("ParitySet.attach_shared must run before check_decoder")
        ours = greedy_decode(
            decoder,
            embed,
            batch.onnx_embeds,
            batch.mask,
            batch.positions,
            vlm.eos_ids,
            batch.max_new_tokens,
        ).tokens
        theirs = greedy_generate(
            vlm,
            batch.torch_embeds,
            torch.from_numpy(batch.mask),
            batch.max_new_tokens,
            torch.from_numpy(batch.positions),
        )
        for row, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            identical += a == b
            if a != b:
                label = f"{batch.datasets[row]}#{n + row}"
                divergences.append(_divergence(vlm, batch, row, a, b, label))
        n += len(ours)
    return ParityReport(removed, prefill, decode, config, n, identical, tuple(divergences))


@torch.no_grad()
def _divergence(
    vlm: LoadedVlm, batch: ParityBatch, row: int, ours: list[int], theirs: list[int], label: str
) -> Divergence:
    """PyTorch's top-2 logit margin where the two greedy answers first differ."""
    pairs = zip(ours, theirs, strict=False)  # lengths differ when one side stopped at EOS
    step = next((i for i, (a, b) in enumerate(pairs) if a != b), None)
    step = min(len(ours), len(theirs)) if step is None else step  # one stopped at EOS first
    real = torch.from_numpy(batch.mask[row].astype(bool))
    prompt = batch.torch_embeds[row][real]  # (T_real, H): the row without its padding
    prefix = vlm.model.get_input_embeddings()(torch.tensor(theirs[:step], dtype=torch.long))
    embeds = torch.cat([prompt, prefix])[None]  # (1, T_real + step, H)
    prompt_pos = torch.from_numpy(batch.positions[..., row : row + 1, :])[..., real]
    generated = prompt_pos[..., -1:] + torch.arange(1, step + 1)  # each step: last + 1
    positions = torch.cat([prompt_pos, generated], dim=-1)  # (1, T) or (3, 1, T)
    out = vlm.adapter.decoder(vlm.model)(inputs_embeds=embeds, position_ids=positions)
    logits = vlm.adapter.lm_head(vlm.model)(out.last_hidden_state[:, -1])[0]
    top = logits.topk(2).values
    return Divergence(label, step, float(top[0] - top[1]))


@torch.no_grad()
def _logit_diffs(
    vlm: LoadedVlm, session: ort.InferenceSession, batch: ParityBatch, config: ParityConfig
) -> tuple[float, float]:
    """Max |Δlogit| for the prefill (real positions) and over `decode_steps` decode steps."""
    rows = slice(0, config.logit_rows)
    module = decoder_module(vlm).eval()
    embeds = batch.torch_embeds[rows]
    mask = torch.from_numpy(batch.mask[rows])
    positions = torch.from_numpy(batch.positions[..., rows, :])
    cache = cache_layout(session)
    empty = torch.zeros(embeds.shape[0], cache.num_kv_heads, 0, cache.head_dim)
    torch_past = [empty] * (2 * cache.num_layers)
    diffs = {"prefill": 0.0, "decode": 0.0}
    total = embeds.shape[1] + config.decode_steps + 1
    with stepper(session, embeds.shape[0], total) as steps:
        for step in range(config.decode_steps + 1):
            if step == 0:
                ours = steps.prefill(embeds.numpy(), mask.numpy(), positions.numpy())
            else:
                ours = steps.step(embeds.numpy())
            ref = module(embeds, mask, positions, *torch_past)
            real = mask[:, -embeds.shape[1] :].numpy()  # (B, T): compare real positions only
            key = "prefill" if step == 0 else "decode"
            diffs[key] = max(diffs[key], _max_diff(ours, ref[0].numpy(), real))
            torch_past = list(ref[1:])
            next_ids = ref[0][:, -1].argmax(-1)  # the same token for both sides
            embeds = vlm.model.get_input_embeddings()(next_ids)[:, None, :]
            positions = positions[..., -1:] + 1
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
    return diffs["prefill"], diffs["decode"]


def _max_diff(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Max |a - b| over the positions where mask (B, T) is 1; NaN/inf count as infinite."""
    keep = mask.astype(bool)
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))[keep]
    if diff.size == 0:
        return 0.0
    return float(diff.max()) if np.isfinite(diff).all() else math.inf


def session_from_proto(model: onnx.ModelProto, threads: int = 0) -> ort.InferenceSession:
    """An onnxruntime session for an in-memory graph whose initializers hold their data."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    if model.ByteSize() < _PROTOBUF_LIMIT:
        return ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    # Past protobuf's limit the data must live in a file; a copy keeps `model` intact.
    with tempfile.TemporaryDirectory(prefix="vlmprune-parity-") as scratch:
        path = Path(scratch) / "graph.onnx"
        onnx.save(copy.deepcopy(model), str(path), save_as_external_data=True, location="graph.bin")
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def session_from_file(path: str | Path, threads: int = 0) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
