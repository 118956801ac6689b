"""The runtime's entry point: a manifest in, answers out, saying which variant ran and why.

    runtime = Runtime.from_manifest("variants/demo/manifest.json")
    result = runtime.generate("photo.png", "What color is the circle?", task_hint="vqa")
    result.text, result.variant, result.why, result.timings.decode_ms

Pipeline per request: select (select.py) -> preprocess (PIL + numpy + tokenizers) ->
vision_encoder -> embed_tokens, image features merged in -> greedy decoding with the KV
cache (generation.py) on the chosen variant's decoder. What differs between VLMs
(preprocessing, prompt, merge, position ids) is the manifest's architecture (arch/).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from tokenizers import Tokenizer

from .errors import InputError, ManifestError
from .generation import greedy_decode, left_pad
from .manifest import FileVerifier, Manifest, load_manifest
from .select import Reason, Selection, select
from .sessions import Provider, SessionConfig, SessionPool, WeightsMode, normalize_providers

# PIL modes with a faithful conversion to RGB; others (I, F, I;16, HSV, LAB...) hold values
# that RGB conversion clips or misreads, so they are refused rather than guessed at.
SUPPORTED_MODES = ("RGB", "RGBA", "RGBX", "L", "LA", "P", "PA", "1", "CMYK", "YCbCr")
ImageInput = Image.Image | str | Path


@dataclass(frozen=True)
class Timings:
    """Milliseconds per stage. In a batch, for the whole group the request ran in."""

    preprocess_ms: float  # image decode/resize/normalise + tokenisation
    vision_ms: float  # vision_encoder
    prefill_ms: float  # embed_tokens + merge + the decoder's prefill (time to first token)
    decode_ms: float  # every decode step after the first token
    tokens: int  # new tokens of this request (EOS excluded)
    batch_size: int = 1


@dataclass(frozen=True)
class Result:
    text: str
    variant: str
    reason: Reason
    why: str  # one sentence: which variant ran and why
    tokens: tuple[int, ...]
    timings: Timings
    selection: Selection
    prompt_text: str = (
        ""  # what the model was given: the chat template's text, one image placeholder
    )


@dataclass(frozen=True)
class Request:
    image: ImageInput
    prompt: str
    task_hint: str | None = None
    detect: bool = False
    max_latency_ms: float | None = None  # see Runtime.select


@dataclass(frozen=True)
class _Prepared:
    image: object  # the architecture's preprocessed image (LLaVA: (3, S, S) float32)
    ids: list[int]
    seconds: float  # spent loading, checking and preprocessing
    text: str  # the prompt after the chat template (Result.prompt_text)


class Runtime:
    """Variants of one manifest, sessions loaded on demand.

    Concurrency: one Runtime may serve many threads (CPU; load-tested, docs/runtime.md). The
    session pool is thread-safe (loads and evictions under one lock, a variant loaded once, at
    most `max_resident` decoders resident); a request's own state (selection, inputs, KV cache)
    lives on its caller's stack; the tokenizer and the detector are read-only after loading.
    """

    def __init__(self, manifest: Manifest, config: SessionConfig, verify: bool = True) -> None:
        self.manifest = manifest
        self.config = config
        self.verifier = FileVerifier(verify)
        self.sessions = SessionPool(manifest, config, self.verifier)
        self.tokenizer = _load_tokenizer(manifest, self.verifier)

    @classmethod
    def from_manifest(
        cls,
        path: str | Path,
        providers: Sequence[Provider] | str | None = None,
        share_weights: bool = True,
        verify: bool = True,
        max_resident: int = 4,
        intra_op_threads: int = 0,
        cuda_graph: bool = False,
    ) -> Runtime:
        """Load and validate `path`; sessions are created on first use.

        providers: onnxruntime execution providers (default CPU); a requested provider that
            onnxruntime does not use is reported with a ProviderWarning.
        share_weights: True -> WeightsMode.SHARED (weights memory-mapped once for all
            variants); False -> WeightsMode.FAST (per-session prepacking).
        verify: check each file's sha256 on first load (False: presence and size only).
        max_resident: decoder sessions kept loaded at once (least recently used dropped).
        cuda_graph: replay each decode step as a CUDA graph (CUDAExecutionProvider, fp16 gqa
            variants; ProviderError otherwise). A variant's decoder then runs one call at a
            time (docs/runtime.md).
        """
        config = SessionConfig(
            providers=normalize_providers(providers),
            mode=WeightsMode.SHARED if share_weights else WeightsMode.FAST,
            max_resident=max_resident,
            intra_op_threads=intra_op_threads,
            cuda_graph=cuda_graph,
        )
        return cls(load_manifest(path), config, verify=verify)

    # --- selection --------------------------------------------------------------------

    def select(
        self,
        task_hint: str | None = None,
        prompt: str | None = None,
        detect: bool = False,
        strict: bool = False,
        max_latency_ms: float | None = None,
    ) -> Selection:
        """Which variant a request would run on, and why (see vlmprune.runtime.select).

        max_latency_ms: run the most accurate variant for the task whose latency measured on
            this runtime's first provider (`vlmprune profile --write-manifest`) meets the
            budget; LatencyBudgetError if none does.
        """
        return select(
            self.manifest,
            task_hint=task_hint,
            prompt=prompt,
            detect=detect,
            strict=strict,
            max_latency_ms=max_latency_ms,
            provider=self.config.provider_names[0],
        )

    @property
    def resident_variants(self) -> tuple[str, ...]:
        return self.sessions.resident

    def preload(self, variants: Sequence[str] | None = None) -> None:
        """Create the shared sessions and these variants' decoders now (default: all)."""
        self.sessions.load_all(variants)

    # --- generation -------------------------------------------------------------------

    def generate(
        self,
        image: ImageInput,
        prompt: str,
        task_hint: str | None = None,
        detect: bool = False,
        max_new_tokens: int | None = None,
        strict: bool = False,
        max_latency_ms: float | None = None,
    ) -> Result:
        """Answer `prompt` about `image` with the variant the hint (or detection) selects,
        within the latency budget if one is given (see `select`)."""
        selection = self.select(
            task_hint=task_hint,
            prompt=prompt,
            detect=detect,
            strict=strict,
            max_latency_ms=max_latency_ms,
        )
        prepared = self._prepare(Request(image, prompt, task_hint, detect), prefix="")
        return self._run(selection.variant, [selection], [prepared], max_new_tokens)[0]

    def generate_batch(
        self, requests: Sequence[Request], max_new_tokens: int | None = None, strict: bool = False
    ) -> list[Result]:
        """Results in request order. Requests are grouped by selected variant and each group
        runs as one left-padded batch. Every request is checked before anything runs: a bad
        one raises InputError naming its index."""
        selections = [
            self.select(
                task_hint=r.task_hint,
                prompt=r.prompt,
                detect=r.detect,
                strict=strict,
                max_latency_ms=r.max_latency_ms,
            )
            for r in requests
        ]
        prepared = [self._prepare(r, prefix=f"request {i}: ") for i, r in enumerate(requests)]
        groups: dict[str, list[int]] = {}
        for index, selection in enumerate(selections):
            groups.setdefault(selection.variant, []).append(index)
        results: dict[int, Result] = {}
        for variant, indices in groups.items():
            group = self._run(
                variant,
                [selections[i] for i in indices],
                [prepared[i] for i in indices],
                max_new_tokens,
            )
            results.update(zip(indices, group, strict=True))
        return [results[i] for i in range(len(requests))]

    def _run(
        self,
        variant: str,
        selections: list[Selection],
        prepared: list[_Prepared],
        max_new_tokens: int | None,
    ) -> list[Result]:
        """One left-padded batch of prepared requests on `variant`."""
        steps = self._max_new_tokens(max_new_tokens, max(len(p.ids) for p in prepared))
        vision, embed = self.sessions.vision, self.sessions.embed  # created on first use
        decoder = self.sessions.decoder(variant)
        arch, images = self.manifest.arch, [p.image for p in prepared]
        t0 = time.perf_counter()
        features = arch.image_features(vision, images)
        t1 = time.perf_counter()
        gen = self.manifest.generation
        ids, mask = left_pad([p.ids for p in prepared], gen.pad_token_id)  # (B, T) each
        embeds = arch.inputs_embeds(embed, ids, features)  # (B, T, H)
        positions = arch.position_ids(ids, mask, images)
        mask = arch.decoder_mask(ids, mask)  # after the positions: it may mark some tokens
        t2 = time.perf_counter()
        out = greedy_decode(decoder, embed, embeds, mask, positions, gen.stop_ids, steps)
        preprocess_ms = sum(p.seconds for p in prepared) * 1e3
        results = []
        for selection, tokens, request in zip(selections, out.tokens, prepared, strict=True):
            timings = Timings(
                preprocess_ms=preprocess_ms,
                vision_ms=(t1 - t0) * 1e3,
                prefill_ms=(t2 - t1 + out.prefill_s) * 1e3,
                decode_ms=out.decode_s * 1e3,
                tokens=len(tokens),
                batch_size=len(prepared),
            )
            text = self.tokenizer.decode(tokens, skip_special_tokens=True).strip()
            results.append(
                Result(
                    text,
                    variant,
                    selection.reason,
                    selection.message,
                    tuple(tokens),
                    timings,
                    selection,
                    request.text,
                )
            )
        return results

    def _max_new_tokens(self, requested: int | None, prompt_len: int) -> int:
        gen = self.manifest.generation
        steps = gen.max_new_tokens if requested is None else requested
        if steps < 1:
            raise InputError(f"max_new_tokens must be >= 1, not {steps}")
        if gen.context_length is not None:
            steps = min(steps, gen.context_length - prompt_len)  # >= 1: checked per request
        return steps

    # --- input checks -------------------------------------------------------------------

    def _prepare(self, request: Request, prefix: str) -> _Prepared:
        start = time.perf_counter()
        try:
            image = self.manifest.arch.preprocess(load_image(request.image))
            ids = self._prompt_ids(request.prompt, image)
        except InputError as exc:
            raise InputError(f"{prefix}{exc}") from None
        text = self.manifest.arch.prompt_text(request.prompt, image)
        return _Prepared(image, ids, time.perf_counter() - start, text)

    def _prompt_ids(self, prompt: object, image: object) -> list[int]:
        if not isinstance(prompt, str):
            raise InputError(f"the prompt must be a string, not {type(prompt).__name__}")
        if not prompt.strip():
            raise InputError("the prompt is empty")
        ids = self.manifest.arch.prompt_ids(self.tokenizer, prompt, image)
        context = self.manifest.generation.context_length
        if context is not None and len(ids) >= context:
            raise InputError(
                f"the prompt is {len(ids)} tokens with the image; the model's context is {context} "
                "(it must leave room for at least one new token)"
            )
        return ids


def _load_tokenizer(manifest: Manifest, verifier: FileVerifier) -> Tokenizer:
    ref = manifest.tokenizer
    try:
        path = verifier.check(ref)  # IntegrityError passes through
    except FileNotFoundError as exc:
        raise ManifestError(f"tokenizer: {exc}") from None
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on a malformed file
        raise ManifestError(f"tokenizer {path} ({ref.where}) is unreadable: {exc}") from None


def load_image(image: object) -> Image.Image:
    """A PIL image in a supported mode, from a PIL image or a file path; else InputError."""
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.exists():
            raise InputError(f"image not found: {path}")
        if not path.is_file():
            raise InputError(f"image {path} is not a file")
        try:
            with Image.open(path) as opened:
                opened.load()  # pixels in memory: usable after the file closes
                image = opened
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise InputError(f"cannot read image {path}: {exc}") from None
    elif not isinstance(image, Image.Image):
        raise InputError(
            f"the image must be a PIL image or a file path, not {type(image).__name__}"
        )
    if image.mode not in SUPPORTED_MODES:
        raise InputError(
            f"image mode '{image.mode}' is not supported (supported: {', '.join(SUPPORTED_MODES)})"
        )
    if image.width == 0 or image.height == 0:
        raise InputError("the image is empty (0 pixels wide or high)")
    return image
