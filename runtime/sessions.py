"""onnxruntime sessions: created lazily, decoders kept in an LRU cache, shared graphs shared.

The vision encoder and the token embedding are the same for every variant, so one session
of each serves them all. Each variant has its own decoder graph; at most `max_resident`
decoder sessions stay loaded, the least recently used one is dropped first.

Two modes (WeightsMode):
- `shared` (default): one copy of each weight for all resident variants. On the CPU,
  `session.disable_prepacking=1`: all graphs point into one external weights file, and
  without prepacking onnxruntime memory-maps the file's (64 KiB-aligned) tensors instead of
  copying them, so the page cache holds each weight once. On CUDA, a WeightStore
  (weight_store.py) puts each stored tensor on the GPU once and hands it to every session.
- `fast`: onnxruntime's default: on the CPU it prepacks MatMul weights per session (a packed
  copy per resident variant, for faster prefill); on CUDA each session copies its weights.
int4 variants are always prepacked: MatMulNBits unpacks unprepacked weights on every call.

`cuda_graph=True` (CUDA only): decoder sessions get the CUDA provider's `enable_cuda_graph`
option, and each KV buffer's decode step is captured once and replayed (decode_step.py). It
needs fp16 gqa decoders (the fp32 graph's GroupQueryAttention runs on the CPU provider: no
CUDA kernel). Shared sessions (vision, embed_tokens) run without graphs: their shapes vary.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import onnxruntime as ort

from .decoders import DecoderLayout, DType, Precision
from .errors import IntegrityError, ProviderError, ProviderWarning, VariantUnavailableError
from .manifest import FileRef, FileVerifier, Manifest, Variant
from .weight_store import WeightStore

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
Provider = str | tuple[str, dict[str, Any]]  # as onnxruntime takes them: name or (name, options)


class WeightsMode(str, Enum):
    SHARED = "shared"  # prepacking off: weights memory-mapped once for all sessions
    FAST = "fast"  # per-session prepacking: more memory, faster prefill


@dataclass(frozen=True)
class SessionConfig:
    providers: tuple[Provider, ...] = (CPU,)
    mode: WeightsMode = WeightsMode.SHARED
    max_resident: int = 4  # decoder sessions kept loaded (LRU); >= 1
    intra_op_threads: int = 0  # 0: onnxruntime's default (one per physical core)
    cuda_graph: bool = False  # decode steps replayed as CUDA graphs (fp16 gqa decoders)

    def __post_init__(self) -> None:
        if self.max_resident < 1:
            raise ValueError(f"max_resident must be >= 1, not {self.max_resident}")
        object.__setattr__(self, "mode", WeightsMode(self.mode))
        if self.cuda_graph and CUDA not in self.provider_names:
            raise ValueError(
                f"cuda_graph=True needs {CUDA} among the providers, not "
                f"{', '.join(self.provider_names)}"
            )

    def decoder_providers(self) -> list[Provider]:
        """The providers of decoder sessions: with cuda_graph, CUDA's options gain
        enable_cuda_graph=1."""
        if not self.cuda_graph:
            return list(self.providers)
        out: list[Provider] = []
        for p in self.providers:
            name, options = (p, {}) if isinstance(p, str) else (p[0], dict(p[1]))
            out.append((name, {**options, "enable_cuda_graph": "1"}) if name == CUDA else p)
        return out

    @property
    def provider_names(self) -> tuple[str, ...]:
        return tuple(p if isinstance(p, str) else p[0] for p in self.providers)


def session_options(config: SessionConfig, prepack: bool = False) -> ort.SessionOptions:
    """`prepack`: keep onnxruntime's weight prepacking whatever the mode (int4 graphs:
    MatMulNBits without it unpacks its 4-bit weights on every call)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: the runtime reports problems itself
    if config.intra_op_threads:
        options.intra_op_num_threads = config.intra_op_threads
    if config.mode is WeightsMode.SHARED and not prepack:
        options.add_session_config_entry("session.disable_prepacking", "1")
    return options


class SessionPool:
    """Lazily created sessions for one manifest.

    Thread-safe: one lock guards every load and eviction, so a variant asked for by two threads
    at once is loaded once, and the resident count never exceeds `max_resident`
    (`max_resident_seen` records the peak). A session handed out and then evicted stays usable
    by its holder: it is freed with its last reference, not at eviction.
    """

    def __init__(
        self,
        manifest: Manifest,
        config: SessionConfig,
        verifier: FileVerifier,
        store: WeightStore | None | str = "auto",
    ) -> None:
        """`store`: "auto" -> a CUDA WeightStore in the shared mode on CUDA, else none."""
        self.manifest = manifest
        self.config = config
        self.verifier = verifier
        self.store = default_store(config) if store == "auto" else store
        self._shared: dict[str, ort.InferenceSession] = {}
        self._decoders: OrderedDict[str, ort.InferenceSession] = OrderedDict()
        self.active_providers: tuple[str, ...] | None = None  # of the last session created
        self._warned = False
        # Reentrant: load_all and the shared-session properties nest inside decoder calls.
        self._lock = threading.RLock()
        self.max_resident_seen = 0

    @property
    def vision(self) -> ort.InferenceSession:
        return self._shared_session("vision_encoder", self.manifest.shared.vision_encoder)

    @property
    def embed(self) -> ort.InferenceSession:
        return self._shared_session("embed_tokens", self.manifest.shared.embed_tokens)

    def decoder(self, name: str) -> ort.InferenceSession:
        """The variant's decoder session, loading it (and evicting the LRU one) if needed."""
        with self._lock:
            if name in self._decoders:
                self._decoders.move_to_end(name)
                return self._decoders[name]
            variant = self.manifest.variant(name)
            if self.config.cuda_graph:
                self._check_cuda_graph(variant)
            # Evict before loading so that the peak stays within the bound during the load too.
            while len(self._decoders) >= self.config.max_resident:
                self._decoders.popitem(last=False)  # freed with its last reference
            session = self._create(
                variant.decoder,
                variant.name,
                extra=_other_files(variant),
                prepack=variant.precision is Precision.INT4,
                variant=variant,
            )
            self._decoders[name] = session
            self.max_resident_seen = max(self.max_resident_seen, len(self._decoders))
            return session

    def release_decoders(self) -> None:
        """Drop every decoder session (freed with their last reference), e.g. before timing a
        cold load or measuring one variant's memory alone."""
        with self._lock:
            self._decoders.clear()

    @property
    def resident(self) -> tuple[str, ...]:
        """Variants whose decoder is loaded, least recently used first."""
        with self._lock:
            return tuple(self._decoders)

    def load_all(self, names: Sequence[str] | None = None) -> None:
        """Create the shared sessions and the decoders of `names` (default: every variant)."""
        self.vision, self.embed  # noqa: B018  (properties create on first access)
        for name in names if names is not None else self.manifest.variant_names:
            self.decoder(name)

    def _shared_session(self, key: str, ref: FileRef) -> ort.InferenceSession:
        with self._lock:
            if key not in self._shared:
                self._shared[key] = self._create(ref, key)
            return self._shared[key]

    def _check_cuda_graph(self, variant: Variant) -> None:
        layout = self.manifest.model.decoder_layout
        if variant.dtype is not DType.FP16 or layout != DecoderLayout.GQA.value:
            raise ProviderError(
                f"{variant.name}: cuda_graph=True needs an fp16 gqa decoder "
                f"(`vlmprune export --dtype fp16`); this variant is {variant.dtype.value} "
                f"{layout} (onnxruntime's CUDA GroupQueryAttention has fp16/bf16 kernels "
                "only, so an fp32 graph splits between CUDA and CPU and cannot be captured)",
                variant.name,
            )

    def _create(
        self,
        graph: FileRef,
        owner: str,
        extra: tuple[FileRef, ...] = (),
        prepack: bool = False,
        variant: Variant | None = None,
    ) -> ort.InferenceSession:
        """Verify the graph and the files it reads, then open it; errors name the file.
        `variant`: a decoder's (its providers and dtype decide how a refusal is reported)."""
        for ref in (self.manifest.shared.weights, *extra, graph):
            try:
                self.verifier.check(ref)
            except FileNotFoundError as exc:
                raise VariantUnavailableError(f"{owner}: {exc}", owner) from None
            except IntegrityError as exc:
                raise IntegrityError(f"{owner}: {exc}", exc.path) from None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ORT's own provider warning; ours is clearer
                providers = self.config.decoder_providers() if variant else self.config.providers
                session = ort.InferenceSession(
                    str(graph.path), sess_options=self._options(graph, owner, prepack),
                    providers=list(providers),
                )  # fmt: skip
        except VariantUnavailableError:
            raise
        except Exception as exc:  # onnxruntime's pybind errors share no useful base class
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise self._refusal(graph, owner, variant, first_line) from exc
        self._check_providers(session, owner)
        if variant is not None and self.config.cuda_graph and session.get_providers()[0] != CUDA:
            raise ProviderError(
                f"{owner}: cuda_graph=True but the decoder runs on "
                f"{', '.join(session.get_providers())}: {CUDA} is not in use{_CUDA_HINT}",
                owner,
            )
        return session

    def _options(self, graph: FileRef, owner: str, prepack: bool) -> ort.SessionOptions:
        options = session_options(self.config, prepack)
        if self.store is not None:
            try:
                self.store.add_to(options, graph.path)
            except ValueError as exc:  # the store's findings (GraphFormatError too) name the file
                raise VariantUnavailableError(f"{owner}: {exc}", owner) from None
        return options

    def _refusal(
        self, graph: FileRef, owner: str, variant: Variant | None, first_line: str
    ) -> VariantUnavailableError:
        """onnxruntime refused a graph: a ProviderError where the provider is the cause."""
        first = self.config.provider_names[0]
        if variant is not None and variant.dtype is DType.FP16 and first == CPU:
            return ProviderError(
                f"{owner}: an fp16 variant; onnxruntime {ort.__version__}'s {CPU} cannot "
                f"run it ({first_line}): run it with {CUDA}, or export with --dtype fp32",
                owner,
            )
        if variant is not None and self.config.cuda_graph:
            return ProviderError(
                f"{owner}: {CUDA} refused a CUDA graph for {graph.path.name}: {first_line}",
                owner,
            )
        return VariantUnavailableError(
            f"{owner}: onnxruntime cannot load {graph.path} ({graph.where}): {first_line}",
            owner,
        )

    def _check_providers(self, session: ort.InferenceSession, owner: str) -> None:
        active = tuple(session.get_providers())
        self.active_providers = active
        missing = [p for p in self.config.provider_names if p not in active and p != CPU]
        if missing and not self._warned:
            self._warned = True
            hint = _CUDA_HINT if CUDA in missing else ""
            warnings.warn(
                f"{', '.join(missing)} requested but not in use: {owner} runs on "
                f"{', '.join(active)}{hint}",
                ProviderWarning,
                stacklevel=4,
            )


_CUDA_HINT = (
    " (is onnxruntime-gpu installed, with CUDA and cuDNN libraries it can load? "
    "the CPU wheel installed after it replaces it)"
)


def default_store(config: SessionConfig) -> WeightStore | None:
    """One GPU copy of the weights in the shared mode when CUDA runs the sessions; none on the
    CPU (the memory map already shares) or where this onnxruntime has no CUDA (the session
    falls back to the CPU, with a ProviderWarning)."""
    first = config.providers[0]
    name, options = (first, {}) if isinstance(first, str) else first
    if config.mode is not WeightsMode.SHARED or name != CUDA:
        return None
    if CUDA not in ort.get_available_providers():
        return None
    device_id = int(options.get("device_id", 0))
    try:  # listed is not loadable (a CPU-only package, no driver): the session then says so
        ort.OrtValue.ortvalue_from_numpy(np.zeros(1, np.float32), "cuda", device_id)
    except Exception:  # onnxruntime's pybind errors share no useful base class
        return None
    return WeightStore("cuda", device_id)


def _other_files(variant: Variant) -> tuple[FileRef, ...]:
    return tuple(f for f in variant.files if f is not variant.decoder)


def normalize_providers(providers: Sequence[Provider] | str | None) -> tuple[Provider, ...]:
    """None -> CPU only; a single name -> a one-element tuple."""
    if providers is None:
        return (CPU,)
    if isinstance(providers, str):
        return (providers,)
    return tuple(providers)
