"""Write the manifest (docs/contracts.md): validated against its JSON Schema, written atomically.

The schema (manifest_schema.py) is Python data, so an installed builder has it without the
source tree; `manifests/schema.json` is a copy for readers and other tools (`vlmprune
manifest schema` prints it; a test keeps the two equal).

Task type -> variant: a task type maps to the variant of its dataset. When several datasets
share a type, the candidates are those datasets' variants, and the one whose removal set has
the lowest mean calib relative drop over all of that type's datasets wins (ties: suite order).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import VlmpruneError
from ..io import atomic_write_json
from .schema import MANIFEST_SCHEMA, SCHEMA_VERSION

if TYPE_CHECKING:
    from .variants import VariantSpec


class ManifestSchemaError(VlmpruneError):
    """A manifest that does not satisfy the schema (the message lists the first problems)."""


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the manifest's folder, '/'-separated
    sha256: str
    size: int

    @classmethod
    def of(cls, file: Path, manifest_dir: Path) -> FileEntry:
        rel = Path(file).resolve().relative_to(Path(manifest_dir).resolve()).as_posix()
        return cls(rel, sha256_file(file), Path(file).stat().st_size)

    def to_json(self) -> dict:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True)
class VariantEntry:
    spec: VariantSpec
    files: tuple[FileEntry, ...]
    scores: Mapping[str, float]  # measured on the test split, per dataset
    parity: Mapping[str, object]
    genai: Mapping[str, object] = field(default_factory=dict)  # genai_dir, genai_parity
    precision: str = "fp32"  # of the decoder's MatMul weights
    quantization: Mapping[str, object] | None = None  # a quantized variant's measurements
    dtype: str = "fp32"  # of the decoder's weights and activations
    fp16: Mapping[str, object] | None = None  # an fp16 variant's measurements

    def to_json(self, num_blocks: int) -> dict:
        s = self.spec
        return {
            "name": s.name,
            "objective": s.objective,
            "task_type": s.task_type,
            "removed_blocks": list(s.removed_blocks),
            "kept_blocks": s.kept_blocks(num_blocks),
            "files": [f.to_json() for f in self.files],
            "scores": dict(self.scores),
            "expected_drop": s.expected_drop,
            "parity": dict(self.parity),
            "latency": None,
            "precision": self.precision,
            **({"quantization": dict(self.quantization)} if self.quantization else {}),
            "dtype": self.dtype,
            **({"fp16": dict(self.fp16)} if self.fp16 else {}),
            **self.genai,
        }


@dataclass(frozen=True)
class ManifestInputs:
    model: Mapping[str, object]  # id, hash, architecture, num_blocks, dims
    preprocessing: Mapping[str, object]  # PreprocessSpec fields + image_token_id, tokenizer
    generation: Mapping[str, int]
    shared: Mapping[str, FileEntry]  # weights, vision_encoder, embed_tokens
    variants: Sequence[VariantEntry]
    default_variant: str
    dataset_to_variant: Mapping[str, str]
    task_type_to_variant: Mapping[str, str]
    provenance: Mapping[str, object]
    task_type_selection: Mapping[str, object] = field(default_factory=dict)


def build_manifest(inputs: ManifestInputs, task_detector: dict | None = None) -> dict:
    """The manifest as a dict (not yet validated; `write_manifest` validates)."""
    num_blocks = int(inputs.model["num_blocks"])
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "model": dict(inputs.model),
        "preprocessing": dict(inputs.preprocessing),
        "generation": dict(inputs.generation),
        "shared": {key: entry.to_json() for key, entry in inputs.shared.items()},
        "default_variant": inputs.default_variant,
        "variants": [v.to_json(num_blocks) for v in inputs.variants],
        "dataset_to_variant": dict(inputs.dataset_to_variant),
        "task_type_to_variant": dict(inputs.task_type_to_variant),
        "task_type_selection": dict(inputs.task_type_selection),
        "provenance": dict(inputs.provenance),
    }
    if task_detector is not None:
        manifest["task_detector"] = task_detector
    return manifest


def schema_problems(manifest: object) -> list[str]:
    """One line per schema violation, naming the field ('variants[0].files[1].sha256')."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(MANIFEST_SCHEMA)
    problems = []
    for error in sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path)):
        where = _field_path(error.absolute_path)
        problems.append(f"field '{where}': {error.message}" if where else error.message)
    return problems


def semantic_problems(manifest: dict) -> list[str]:
    """What the schema cannot say: names resolve, blocks partition 0..N-1."""
    problems = []
    names = [v.get("name") for v in manifest.get("variants", [])]
    for dupe in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"field 'variants': name '{dupe}' appears more than once")
    if manifest.get("default_variant") not in names:
        problems.append(
            f"field 'default_variant': '{manifest.get('default_variant')}' is not a variant"
        )
    for key in ("dataset_to_variant", "task_type_to_variant"):
        for k, name in manifest.get(key, {}).items():
            if name not in names:
                problems.append(f"field '{key}.{k}': '{name}' is not a variant")
    n = manifest.get("model", {}).get("num_blocks", 0)
    for i, v in enumerate(manifest.get("variants", [])):
        removed, kept = v.get("removed_blocks", []), v.get("kept_blocks", [])
        if sorted([*removed, *kept]) != list(range(n)) or kept != sorted(kept):
            problems.append(
                f"field 'variants[{i}]': removed_blocks and kept_blocks must partition 0..{n - 1} "
                "(kept_blocks ascending)"
            )
    return problems


def write_manifest(path: str | Path, manifest: dict) -> Path:
    """Validate, then write atomically; nothing is written if validation fails."""
    problems = schema_problems(manifest) or semantic_problems(manifest)
    if problems:
        shown = "; ".join(problems[:3]) + (
            f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        )
        raise ManifestSchemaError(f"refusing to write an invalid manifest {path}: {shown}")
    return atomic_write_json(path, manifest)


def choose_task_type_variants(
    dataset_variant: Mapping[str, str],
    dataset_type: Mapping[str, str],
    calib_drop: Mapping[str, Mapping[str, float]],
) -> tuple[dict[str, str], dict[str, dict]]:
    """task type -> variant, and the evidence for types with several datasets.

    `dataset_variant`: dataset -> its variant (suite order); `dataset_type`: dataset -> task
    type; `calib_drop[variant][dataset]`: calib relative drop of the variant's removal set.
    """
    by_type: dict[str, list[str]] = {}
    for dataset, task_type in dataset_type.items():
        by_type.setdefault(task_type, []).append(dataset)
    mapping, evidence = {}, {}
    for task_type, datasets in by_type.items():
        candidates = list(
            dict.fromkeys(dataset_variant[d] for d in datasets if d in dataset_variant)
        )
        if not candidates:
            continue
        if len(candidates) == 1:
            mapping[task_type] = candidates[0]
            continue
        means = {v: sum(calib_drop[v][d] for d in datasets) / len(datasets) for v in candidates}
        mapping[task_type] = min(candidates, key=lambda v: means[v])  # min keeps the first on ties
        evidence[task_type] = {
            "datasets": datasets,
            "mean_calib_relative_drop": means,
            "chosen": mapping[task_type],
        }
    return mapping, evidence


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _field_path(parts: Sequence[object]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
