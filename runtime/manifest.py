"""Read and validate a manifest (docs/contracts.md) without jsonschema: typed, frozen, safe.

`load_manifest` checks structure and paths eagerly, so a malformed manifest is refused at
once with the field that is wrong. File contents are checked lazily: `FileVerifier` hashes
a file the first time a session needs it, so a broken variant file is reported when (and
only when) that variant is used, and the other variants keep working.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import MappingProxyType
from typing import Any

from .arch import architecture_class, supported
from .arch.base import Architecture, PreprocessingError
from .decoders import DType, Precision
from .detect import OutdatedDetectorError, TaskDetector
from .errors import (
    IntegrityError,
    ManifestError,
    UnsafePathError,
    UnsupportedSchemaError,
    VariantUnavailableError,
)

SCHEMA_VERSION = 1  # the newest manifest schema this runtime reads
GENERIC = "generic"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileRef:
    """A file named by the manifest: where it is, what it must hash to, where it was named."""

    path: Path  # absolute, inside the manifest's folder
    relpath: str  # as written in the manifest
    sha256: str | None  # None: the manifest gives no hash (nothing to verify)
    where: str  # the manifest field, for messages: "variants[2].files[0]"
    size: int | None = None  # bytes, when the manifest gives it (a cheap truncation check)


@dataclass(frozen=True)
class ModelInfo:
    id: str
    hash: str
    architecture: str
    num_blocks: int
    decoder_layout: str = "traced"  # "gqa" or "traced" (decoders.DecoderLayout); absent: traced


@dataclass(frozen=True)
class GenerationDefaults:
    eos_token_id: int
    pad_token_id: int
    max_new_tokens: int
    context_length: int | None = None  # max positions; None: the manifest does not say
    eos_token_ids: tuple[int, ...] = ()  # every stop token, eos_token_id first; () = just it

    @property
    def stop_ids(self) -> tuple[int, ...]:
        return self.eos_token_ids or (self.eos_token_id,)


@dataclass(frozen=True)
class SharedFiles:
    weights: FileRef  # the one external-data file every graph points into
    vision_encoder: FileRef
    embed_tokens: FileRef


@dataclass(frozen=True)
class Variant:
    name: str
    objective: str  # a dataset name or "generic" (or "full")
    task_type: str | None
    removed_blocks: tuple[int, ...]  # numbered in the unpruned model
    kept_blocks: tuple[int, ...]
    files: tuple[FileRef, ...]
    scores: Mapping[str, float]  # measured test-split score per dataset
    expected_drop: float | None
    latency: Mapping[str, Any] | None  # filled by `vlmprune profile` (a future latency budget)
    genai_dir: Path | None = None  # a folder onnxruntime-genai opens (inside the manifest's)
    precision: Precision = Precision.FP32  # of the decoder's MatMul weights
    dtype: DType = DType.FP32  # of the decoder's weights and activations

    @property
    def decoder(self) -> FileRef:
        """The variant's decoder graph: its only `.onnx` file (or its first file)."""
        graphs = [f for f in self.files if f.relpath.endswith(".onnx")]
        return graphs[0] if len(graphs) == 1 else self.files[0]


@dataclass(frozen=True)
class Manifest:
    path: Path  # the manifest file, absolute
    schema_version: int
    model: ModelInfo
    arch: Architecture  # preprocessing, prompt and positions of `model.architecture`
    tokenizer: FileRef
    image_token_id: int
    generation: GenerationDefaults
    shared: SharedFiles
    default_variant: str
    variants: tuple[Variant, ...]
    dataset_to_variant: Mapping[str, str]
    task_type_to_variant: Mapping[str, str]
    task_detector: TaskDetector | None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    # Why `task_detector` is None although the manifest has one (an outdated format).
    task_detector_note: str | None = None

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def variant_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise VariantUnavailableError(
            f"no variant '{name}' in {self.path.name} (variants: {', '.join(self.variant_names)})",
            name,
        )

    def all_files(self) -> tuple[FileRef, ...]:
        shared = (self.shared.weights, self.shared.vision_encoder, self.shared.embed_tokens)
        return (*shared, self.tokenizer, *(f for v in self.variants for f in v.files))


# --- loading -------------------------------------------------------------------------


def load_manifest(path: str | Path) -> Manifest:
    """Parse and validate `path`; raise a ManifestError subclass naming the field."""
    path = Path(path).absolute()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"manifest not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"manifest {path} is unreadable: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"manifest {path} is not valid JSON: {exc}") from None
    return parse_manifest(raw, path)


def parse_manifest(raw: object, path: Path) -> Manifest:
    """Validate an already-decoded manifest that lives at `path` (paths resolve against it)."""
    r = _Reader(path)
    top = r.obj(raw, "manifest")
    version = r.int_(top, "schema_version", minimum=1)
    if version > SCHEMA_VERSION:
        raise UnsupportedSchemaError(
            f"{path}: schema_version {version} is newer than this runtime reads "
            f"(up to {SCHEMA_VERSION}); upgrade vlmprune or re-export with this version"
        )
    model = _model(r, r.obj(r.get(top, "model"), "model"))
    pre = r.obj(r.get(top, "preprocessing"), "preprocessing")
    variants = tuple(
        _variant(r, v, f"variants[{i}]") for i, v in enumerate(r.list_(top, "variants"))
    )
    detector, detector_note = _detector(r, top.get("task_detector"))
    manifest = Manifest(
        path=path,
        schema_version=version,
        model=model,
        arch=_architecture(r, model, pre),
        tokenizer=_tokenizer(r, pre),
        image_token_id=r.int_(pre, "image_token_id", where="preprocessing", minimum=0),
        generation=_generation(r, r.obj(r.get(top, "generation"), "generation")),
        shared=_shared(r, r.obj(r.get(top, "shared"), "shared")),
        default_variant=r.str_(top, "default_variant"),
        variants=variants,
        dataset_to_variant=_name_map(r, top, "dataset_to_variant"),
        task_type_to_variant=_name_map(r, top, "task_type_to_variant"),
        task_detector=detector,
        provenance=MappingProxyType(dict(r.obj(top.get("provenance", {}), "provenance"))),
        task_detector_note=detector_note,
    )
    _check_consistency(r, manifest)
    return manifest


def _model(r: _Reader, m: dict) -> ModelInfo:
    return ModelInfo(
        id=r.str_(m, "id", where="model"),
        hash=r.str_(m, "hash", where="model"),
        architecture=str(m.get("architecture", "unknown")),
        num_blocks=r.int_(m, "num_blocks", where="model", minimum=1),
        decoder_layout=str(m.get("decoder_layout", "traced")),
    )


def _architecture(r: _Reader, model: ModelInfo, pre: dict) -> Architecture:
    cls = architecture_class(model.architecture)
    if cls is None:
        raise r.error(
            "model.architecture",
            f"'{model.architecture}' is not an architecture this runtime runs "
            f"(supported: {', '.join(supported())})",
        )
    try:
        return cls.from_preprocessing(pre)
    except PreprocessingError as exc:
        raise r.error(exc.field, exc.problem) from None


def _tokenizer(r: _Reader, pre: dict) -> FileRef:
    # Either {"tokenizer": {"path", "sha256"}} or "tokenizer_file" (+ "tokenizer_sha256").
    if isinstance(pre.get("tokenizer"), dict):
        return r.file(pre["tokenizer"], "preprocessing.tokenizer")
    rel = r.str_(pre, "tokenizer_file", where="preprocessing")
    sha = pre.get("tokenizer_sha256")
    return r.file({"path": rel, "sha256": sha}, "preprocessing.tokenizer_file", need_hash=False)


def _generation(r: _Reader, g: dict) -> GenerationDefaults:
    context_key = next((k for k in ("context_length", "max_position_embeddings") if k in g), None)
    eos = r.int_(g, "eos_token_id", where="generation", minimum=0)
    stops = g.get("eos_token_ids", [eos])
    if not (
        isinstance(stops, list)
        and stops
        and stops[0] == eos
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in stops)
    ):
        raise r.error(
            "generation.eos_token_ids", "must be a list of token ids starting with eos_token_id"
        )
    return GenerationDefaults(
        eos_token_id=eos,
        pad_token_id=r.int_(g, "pad_token_id", where="generation", minimum=0),
        max_new_tokens=r.int_(g, "max_new_tokens", where="generation", minimum=1),
        context_length=r.int_(g, context_key, where="generation", minimum=1)
        if context_key
        else None,
        eos_token_ids=tuple(stops),
    )


def _shared(r: _Reader, s: dict) -> SharedFiles:
    return SharedFiles(
        weights=r.file(r.get(s, "weights", where="shared"), "shared.weights"),
        vision_encoder=r.file(r.get(s, "vision_encoder", where="shared"), "shared.vision_encoder"),
        embed_tokens=r.file(r.get(s, "embed_tokens", where="shared"), "shared.embed_tokens"),
    )


def _variant(r: _Reader, raw: object, where: str) -> Variant:
    v = r.obj(raw, where)
    files = r.list_(v, "files", where=where)
    if not files:
        raise r.error(f"{where}.files", "is empty: a variant needs its decoder graph")
    task_type = v.get("task_type")
    if task_type is not None and not isinstance(task_type, str):
        raise r.error(f"{where}.task_type", "must be a string or null")
    scores = r.obj(v.get("scores", {}), f"{where}.scores")
    drop = v.get("expected_drop")
    latency = v.get("latency")
    genai = v.get("genai_dir")
    if genai is not None and not (isinstance(genai, str) and genai):
        raise r.error(f"{where}.genai_dir", "must be a non-empty string or absent")
    precision = v.get("precision", Precision.FP32.value)
    if precision not in {p.value for p in Precision}:
        known = ", ".join(p.value for p in Precision)
        raise r.error(
            f"{where}.precision", f"is '{precision}', not one this runtime runs ({known})"
        )
    dtype = v.get("dtype", DType.FP32.value)
    if dtype not in {d.value for d in DType}:
        known = ", ".join(d.value for d in DType)
        raise r.error(f"{where}.dtype", f"is '{dtype}', not one this runtime runs ({known})")
    return Variant(
        name=r.str_(v, "name", where=where),
        objective=r.str_(v, "objective", where=where),
        task_type=task_type,
        removed_blocks=r.blocks(v, "removed_blocks", where),
        kept_blocks=r.blocks(v, "kept_blocks", where),
        files=tuple(r.file(f, f"{where}.files[{i}]") for i, f in enumerate(files)),
        scores=MappingProxyType({str(k): float(x) for k, x in scores.items() if _is_number(x)}),
        expected_drop=float(drop) if _is_number(drop) else None,
        latency=MappingProxyType(latency) if isinstance(latency, dict) else None,
        genai_dir=r.inside(genai, f"{where}.genai_dir") if genai else None,
        precision=Precision(precision),
        dtype=DType(dtype),
    )


def _name_map(r: _Reader, top: dict, key: str) -> Mapping[str, str]:
    m = r.obj(top.get(key, {}), key)
    for k, x in m.items():
        if not isinstance(x, str):
            raise r.error(f"{key}.{k}", "must name a variant (a string)")
    return MappingProxyType(dict(m))


def _detector(r: _Reader, raw: object) -> tuple[TaskDetector | None, str | None]:
    """(detector, why there is none). A detector of an outdated format leaves the manifest
    usable: hints and the generic variant work, and detection falls back to generic
    saying why. A malformed one of the current format is refused with the field."""
    if raw is None:
        return None, None
    try:
        return TaskDetector.from_dict(r.obj(raw, "task_detector")), None
    except OutdatedDetectorError as exc:
        return None, f"{r.path.name}: its task detector is not usable here ({exc})"
    except KeyError as exc:
        raise r.error("task_detector", f"invalid (missing {exc})") from None
    except (TypeError, ValueError) as exc:
        raise r.error("task_detector", f"invalid ({exc})") from None


def _check_consistency(r: _Reader, m: Manifest) -> None:
    names = [v.name for v in m.variants]
    if not names:
        raise r.error("variants", "is empty")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise r.error("variants", f"duplicate names {dupes}")
    if m.default_variant not in names:
        raise r.error(
            "default_variant", f"'{m.default_variant}' is not a variant ({', '.join(names)})"
        )
    for key, mapping in (
        ("dataset_to_variant", m.dataset_to_variant),
        ("task_type_to_variant", m.task_type_to_variant),
    ):
        for k, name in mapping.items():
            if name not in names:
                raise r.error(f"{key}.{k}", f"names variant '{name}', which is not in variants")
    every_block = set(range(m.model.num_blocks))
    for i, v in enumerate(m.variants):
        removed, kept = set(v.removed_blocks), set(v.kept_blocks)
        if removed & kept or removed | kept != every_block or not kept:
            raise r.error(
                f"variants[{i}]",
                f"removed_blocks and kept_blocks must partition 0..{m.model.num_blocks - 1} "
                "(kept non-empty)",
            )


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


class _Reader:
    """Typed field access with messages that name the manifest and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.folder = path.parent.resolve()

    def error(self, where: str, problem: str) -> ManifestError:
        return ManifestError(f"{self.path}: field '{where}' {problem}")

    def get(self, d: dict, key: str, where: str = "") -> object:
        if key not in d:
            raise self.error(f"{where}.{key}" if where else key, "is missing")
        return d[key]

    def obj(self, x: object, where: str) -> dict:
        if not isinstance(x, dict):
            raise self.error(where, f"must be an object, not {type(x).__name__}")
        return x

    def list_(self, d: dict, key: str, where: str = "") -> list:
        x = self.get(d, key, where)
        if not isinstance(x, list):
            raise self.error(f"{where}.{key}" if where else key, "must be a list")
        return x

    def str_(self, d: dict, key: str, where: str = "") -> str:
        x = self.get(d, key, where)
        if not isinstance(x, str) or not x:
            raise self.error(f"{where}.{key}" if where else key, "must be a non-empty string")
        return x

    def int_(self, d: dict, key: str, where: str = "", minimum: int | None = None) -> int:
        x = self.get(d, key, where)
        if not isinstance(x, int) or isinstance(x, bool) or (minimum is not None and x < minimum):
            bound = f" >= {minimum}" if minimum is not None else ""
            raise self.error(
                f"{where}.{key}" if where else key, f"must be an integer{bound}, not {x!r}"
            )
        return x

    def blocks(self, d: dict, key: str, where: str) -> tuple[int, ...]:
        xs = self.list_(d, key, where)
        if not all(isinstance(b, int) and not isinstance(b, bool) and b >= 0 for b in xs):
            raise self.error(f"{where}.{key}", "must be a list of block indices >= 0")
        if len(set(xs)) != len(xs):
            raise self.error(f"{where}.{key}", "has duplicate blocks")
        return tuple(xs)

    def file(self, raw: object, where: str, need_hash: bool = True) -> FileRef:
        d = self.obj(raw, where)
        rel = self.str_(d, "path", where)
        sha = d.get("sha256")
        if (sha is not None or need_hash) and not (isinstance(sha, str) and _SHA256.match(sha)):
            raise self.error(f"{where}.sha256", "must be 64 lowercase hex digits (a sha256)")
        size = d.get("size", d.get("bytes"))
        return FileRef(
            path=self.inside(rel, f"{where}.path"),
            relpath=rel,
            sha256=sha,
            where=where,
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        )

    def inside(self, rel: str, where: str) -> Path:
        """`rel` resolved against the manifest's folder; refused if it could leave it."""
        if (
            PurePosixPath(rel).is_absolute()
            or PureWindowsPath(rel).is_absolute()
            or PureWindowsPath(rel).drive
        ):
            raise UnsafePathError(
                f"{self.path}: field '{where}' is an absolute path ({rel}); manifest paths must be relative"
            )
        if ".." in PurePosixPath(rel.replace("\\", "/")).parts:
            raise UnsafePathError(
                f"{self.path}: field '{where}' ({rel}) leaves the manifest's folder with '..'"
            )
        resolved = (self.folder / rel).resolve()  # follows symlinks: a link out is refused too
        if not resolved.is_relative_to(self.folder):
            raise UnsafePathError(
                f"{self.path}: field '{where}' ({rel}) resolves outside the manifest's folder"
            )
        return resolved


# --- integrity -------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class FileVerifier:
    """Checks each file once per process before first use: present, size, sha256.

    With `verify=False` only presence is checked (and the size, when the manifest gives
    one): faster start for large models, at the cost of trusting the files.
    """

    def __init__(self, verify: bool = True) -> None:
        self.verify = verify
        self._ok: set[Path] = set()

    def check(self, ref: FileRef) -> Path:
        """The file's path once it is known good; FileNotFoundError or IntegrityError if not."""
        if ref.path in self._ok:
            return ref.path
        if not ref.path.is_file():
            raise FileNotFoundError(f"{ref.relpath} ({ref.where}) is missing: {ref.path}")
        actual_size = ref.path.stat().st_size
        if ref.size is not None and actual_size != ref.size:
            raise IntegrityError(
                f"{ref.path}: {actual_size} bytes, the manifest ({ref.where}) says {ref.size}: "
                "truncated or replaced",
                str(ref.path),
            )
        if self.verify and ref.sha256 is not None:
            actual = sha256_file(ref.path)
            if actual != ref.sha256:
                raise IntegrityError(
                    f"{ref.path}: sha256 {actual[:12]}... does not match the manifest's "
                    f"{ref.sha256[:12]}... ({ref.where}): the file is tampered, truncated or stale",
                    str(ref.path),
                )
        self._ok.add(ref.path)
        return ref.path
