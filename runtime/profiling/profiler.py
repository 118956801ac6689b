"""Latency of a manifest's variants: vision encoder, prefill, time to first token, decode.

Torch-free (onnxruntime + numpy), the same code path as `Runtime.generate`: the runtime's
sessions, the manifest's architecture and `greedy_decode`. Every request has a fixed shape, a
synthetic image and prompt of `prompt_tokens` text tokens (plus the image tokens and the
template), and decodes exactly `new_tokens` tokens (EOS is ignored), so variants are timed
on identical work. Per variant: `warmup` untimed requests, then `runs` timed ones; each
timing is summarised as p50/p90/p95/p99/mean over the timed requests. Timed requests are
never profiled: the optional onnxruntime per-operator profile (operators.py) runs
afterwards in separate sessions.

    ttft_ms              vision_ms + prefill_ms (image tensor ready -> first token id)
    prefill_ms           embed_tokens + merge + the decoder's prefill call + argmax
    decode_ms_per_token  every later step (embed_tokens + decoder + argmax) / (new_tokens - 1)
    tokens_per_s         batch * 1000 / decode_ms_per_token (decode throughput)
    request_ms           ttft_ms + decode (the whole request; what a latency budget compares)

Speedups and the report: report.py.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..api import Runtime
from ..errors import InputError, ProviderWarning
from ..generation import greedy_decode, left_pad
from ..manifest import Manifest, Variant
from ..sessions import CUDA
from . import machine
from .config import ExecutionProvider, ProfileConfig, ProviderUnavailableError, Schedule
from .report import (
    TIMINGS,
    ProfileReport,
    Stats,
    VariantProfile,
    choose_baseline,
    fill_speedups,
)


@dataclass(frozen=True)
class RunTiming:
    """One timed request (a batch of `batch` identical-shape rows)."""

    vision_ms: float
    prefill_ms: float
    decode_ms: float
    new_tokens: int
    batch: int

    @property
    def ttft_ms(self) -> float:
        return self.vision_ms + self.prefill_ms

    @property
    def decode_ms_per_token(self) -> float:
        return self.decode_ms / (self.new_tokens - 1)

    @property
    def tokens_per_s(self) -> float:
        return self.batch * 1000.0 / self.decode_ms_per_token

    @property
    def request_ms(self) -> float:
        return self.ttft_ms + self.decode_ms


@dataclass(frozen=True)
class SyntheticRequest:
    images: tuple[object, ...]  # preprocessed by the manifest's architecture, one per row
    input_ids: np.ndarray  # (B, T) int64, every row the same length
    mask: np.ndarray  # (B, T) int64, all ones

    @property
    def prompt_length(self) -> int:
        return int(self.input_ids.shape[1])

    @property
    def pixels(self) -> np.ndarray:
        """(B, 3, S, S): the images stacked, for architectures with one fixed-size array each."""
        return np.stack(self.images)


def synthetic_request(
    manifest: Manifest, tokenizer: object, config: ProfileConfig
) -> SyntheticRequest:
    """A random image and prompt: the template with its image tokens, and `prompt_tokens`
    random ordinary (non-special) token ids where the question goes.

    Refuses (InputError) a prompt that leaves no room for `new_tokens` in the context.
    """
    arch, rng = manifest.arch, np.random.default_rng(config.seed)
    special = set(tokenizer.get_added_tokens_decoder())
    ordinary = np.array([i for i in range(tokenizer.get_vocab_size()) if i not in special])
    rows, images = [], []
    for _ in range(config.batch):
        text = rng.choice(ordinary, size=config.prompt_tokens).tolist()
        images.append(arch.preprocess(arch.synthetic_image(rng)))
        rows.append(arch.synthetic_ids(tokenizer, text, images[-1]))
    length, context = len(rows[0]), manifest.generation.context_length
    if context is not None and length + config.new_tokens > context:
        n_image = sum(1 for i in rows[0] if i == manifest.image_token_id)
        raise InputError(
            f"prompt of {length} tokens ({config.prompt_tokens} text + {n_image} image + "
            f"{length - config.prompt_tokens - n_image} template) + {config.new_tokens} new "
            f"tokens exceeds the model's context of {context} tokens; lower --prompt-tokens "
            "or --new-tokens"
        )
    ids, mask = left_pad(rows, manifest.generation.pad_token_id)
    return SyntheticRequest(tuple(images), ids, mask)


def run_once(
    vision: ort.InferenceSession,
    embed: ort.InferenceSession,
    decoder: ort.InferenceSession,
    manifest: Manifest,
    request: SyntheticRequest,
    new_tokens: int,
) -> RunTiming:
    """One request, timed by stage as `Runtime._run` times it, decoding exactly `new_tokens`."""
    arch = manifest.arch
    t0 = time.perf_counter()
    features = arch.image_features(vision, request.images)
    t1 = time.perf_counter()
    embeds = arch.inputs_embeds(embed, request.input_ids, features)
    positions = arch.position_ids(request.input_ids, request.mask, request.images)
    mask = arch.decoder_mask(request.input_ids, request.mask)
    t2 = time.perf_counter()
    out = greedy_decode(
        decoder, embed, embeds, mask, positions, eos_id=-1, max_new_tokens=new_tokens
    )
    return RunTiming(
        vision_ms=(t1 - t0) * 1e3,
        prefill_ms=(t2 - t1 + out.prefill_s) * 1e3,
        decode_ms=out.decode_s * 1e3,
        new_tokens=out.steps,
        batch=len(request.images),
    )


class Profiler:
    """Times the variants of one runtime on one synthetic request shape."""

    def __init__(self, runtime: Runtime, config: ProfileConfig) -> None:
        self.runtime = runtime
        self.config = config
        self.manifest = runtime.manifest
        self.request = synthetic_request(self.manifest, runtime.tokenizer, config)
        self.provider = runtime.config.provider_names[0]
        self._check_provider()
        self.device = machine.device_name(runtime.config.provider_names)

    @classmethod
    def open(
        cls,
        manifest: str | Path,
        config: ProfileConfig,
        provider: ExecutionProvider = ExecutionProvider.CPU,
        share_weights: bool = True,
        verify: bool = True,
        threads: int = 0,
        cuda_graph: bool = False,
    ) -> Profiler:
        """`cuda_graph`: decode steps replayed as CUDA graphs (CUDA, fp16 variants)."""
        provider = ExecutionProvider(provider)
        if provider is ExecutionProvider.CUDA:
            if CUDA not in ort.get_available_providers():
                raise ProviderUnavailableError(_no_cuda(ort.get_available_providers()))
            _preload_cuda_libraries()
        runtime = Runtime.from_manifest(
            manifest,
            providers=list(provider.ort_providers),
            share_weights=share_weights,
            verify=verify,
            max_resident=1 if config.schedule is Schedule.SEQUENTIAL else 1024,
            intra_op_threads=threads,
            cuda_graph=cuda_graph,
        )
        return cls(runtime, config)

    def _check_provider(self) -> None:
        """Create the shared sessions; refuse a run that would silently fall back to CPU."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ProviderWarning)  # turned into an error below
            self.runtime.sessions.vision  # noqa: B018  (created on first access)
            self.runtime.sessions.embed  # noqa: B018
        active = self.runtime.sessions.active_providers or ()
        if self.provider not in active:
            raise ProviderUnavailableError(
                f"{self.provider} was requested but onnxruntime runs on {', '.join(active)}: "
                + _no_cuda(ort.get_available_providers())
            )

    def run(self, names: Sequence[str] | None = None) -> ProfileReport:
        """Profile `names` (default: every variant); the baseline is always measured."""
        baseline = choose_baseline(self.manifest)
        names = list(dict.fromkeys(names or self.manifest.variant_names))
        for name in names:
            self.manifest.variant(name)  # VariantUnavailableError for an unknown name
        if baseline.name not in names:
            names.insert(0, baseline.name)
        if self.config.schedule is Schedule.SEQUENTIAL:
            profiles = [self._sequential(self.manifest.variant(n)) for n in names]
            scope = (
                "each variant alone (its decoder and the shared graphs resident)"
                if machine.reset_peak_rss()
                else "the process since it started (the kernel refused a reset)"
            )
        else:
            profiles, scope = self._interleaved([self.manifest.variant(n) for n in names])
        fill_speedups(profiles, baseline, self.manifest.model.num_blocks)
        return ProfileReport(
            manifest=self.manifest.path,
            provider=self.provider,
            device=self.device,
            config=self.config,
            num_blocks=self.manifest.model.num_blocks,
            prompt_length=self.request.prompt_length,
            weights_mode=self.runtime.config.mode,
            baseline=baseline,
            variants=profiles,
            peak_rss_scope=scope,
        )

    def _once(self, variant: Variant) -> RunTiming:
        sessions = self.runtime.sessions
        decoder = sessions.decoder(variant.name)
        return run_once(
            sessions.vision, sessions.embed, decoder, self.manifest, self.request,
            self.config.new_tokens,
        )  # fmt: skip

    def _load(self, variant: Variant) -> float:
        start = time.perf_counter()
        self.runtime.sessions.decoder(variant.name)
        return (time.perf_counter() - start) * 1e3

    def _sequential(self, variant: Variant) -> VariantProfile:
        self.runtime.sessions.release_decoders()  # the previous variant's goes first
        machine.reset_peak_rss()
        load_ms = self._load(variant)
        for _ in range(self.config.warmup):
            self._once(variant)
        runs = [self._once(variant) for _ in range(self.config.runs)]
        return _variant_profile(variant, runs, load_ms, machine.peak_rss_mib())

    def _interleaved(self, variants: list[Variant]) -> tuple[list[VariantProfile], str]:
        """Every decoder resident; timed request i of every variant before request i + 1 of
        any, in alternating order, so that slow drift of the machine hits all variants alike."""
        machine.reset_peak_rss()
        load_ms = {v.name: self._load(v) for v in variants}
        for _ in range(self.config.warmup):
            for v in variants:
                self._once(v)
        runs: dict[str, list[RunTiming]] = {v.name: [] for v in variants}
        for i in range(self.config.runs):
            for v in variants if i % 2 == 0 else variants[::-1]:
                runs[v.name].append(self._once(v))
        peak = machine.peak_rss_mib()
        profiles = [_variant_profile(v, runs[v.name], load_ms[v.name], peak) for v in variants]
        return profiles, "all variants resident together"


def _variant_profile(
    variant: Variant, runs: list[RunTiming], load_ms: float, peak_rss: float
) -> VariantProfile:
    return VariantProfile(
        name=variant.name,
        removed_blocks=variant.removed_blocks,
        timings={key: Stats.of([getattr(r, key) for r in runs]) for key in TIMINGS},
        load_ms=load_ms,
        peak_rss_mib=peak_rss,
        pss_mib=machine.pss_mib(),
        gpu_memory_mib=machine.gpu_memory_mib(),
    )


def _preload_cuda_libraries() -> None:
    """Let onnxruntime-gpu find the CUDA and cuDNN libraries of pip packages (e.g. torch's):
    `ort.preload_dlls()` (onnxruntime >= 1.21). A failure here surfaces as CUDA not in use."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    try:
        preload()
    except Exception:  # best effort: _check_provider reports whether CUDA is in use
        return


def _no_cuda(available: Sequence[str]) -> str:
    return (
        f"CUDA is not available to onnxruntime here (available providers: {', '.join(available)}); "
        "install onnxruntime-gpu (not together with onnxruntime) on a machine with CUDA and cuDNN"
    )
