"""Read and write `scores/<model>/<dataset>.json` and `generic.json` (docs/contracts.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from ..errors import VlmpruneError
from ..io import atomic_write_json, provenance
from ..tasks.suites import describe_suite

KIND = "vlmprune.scores"
FORMAT_VERSION = 1
GENERIC = "generic"
DEFAULT_SCORES_ROOT = Path("scores")


def scores_dir(root: str | Path, model: str) -> Path:
    return Path(root) / model


def suite_scores_root(root: str | Path, suite: object) -> Path:
    """Where a suite's scores go when --scores-dir is left at its default: a suite file's
    beside the built-in suite's, in `scores/<suite file stem>/`, so that searching a suite
    never overwrites the built-in suite's files (e.g. the committed `scores/demo/`)."""
    root = Path(root)
    if root != DEFAULT_SCORES_ROOT or getattr(suite, "is_builtin", True):
        return root
    return root / Path(suite.path).stem


def new_scores_doc(
    objective: str,
    model: str,
    model_hash: str,
    num_blocks: int,
    split: str,
    n: int | dict,
    task_type: str | None = None,
    metric: str | None = None,
    **extra: object,
) -> dict:
    return {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "provenance": provenance(model=model, model_hash=model_hash, split=split, n=n, **extra),
        "objective": objective,
        "task_type": task_type,
        "metric": metric,
        "num_blocks": num_blocks,
    }


def write_scores(root: str | Path, model: str, doc: dict) -> Path:
    return atomic_write_json(scores_dir(root, model) / f"{doc['objective']}.json", doc)


class ScoresError(VlmpruneError):
    """A scores file that is missing, malformed, or computed for another model."""


def read_scores(
    path: str | Path,
    expected_hash: str | None = None,
    rerun: str = "vlmprune search",
    expected_suite: Mapping[str, object] | None = None,
) -> dict:
    """Load one scores file, or raise one clear line naming the file and the field.

    `expected_suite`: the provenance of the suite the caller runs on ({} for the built-in
    suite, else `suite` and `suite_hash`); a file computed on another suite is stale.
    """
    path = Path(path)
    if not path.is_file():
        raise ScoresError(f"scores file {path} is missing; create the scores with `{rerun}`")
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ScoresError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise ScoresError(f"{path}: field 'kind' must be '{KIND}'")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ScoresError(f"{path}: field 'format_version' must be {FORMAT_VERSION}")
    found = str((doc.get("provenance") or {}).get("model_hash"))
    if expected_hash is not None and found != expected_hash:
        raise ScoresError(
            f"{path} is stale: computed for model hash {found[:12]}…, but the model is "
            f"{expected_hash[:12]}…; rerun `{rerun}`"
        )
    if expected_suite is not None:
        _check_suite(path, doc.get("provenance") or {}, expected_suite, rerun)
    return doc


def _check_suite(
    path: Path, recorded: Mapping[str, object], expected: Mapping[str, object], rerun: str
) -> None:
    """The file's suite hash must be the caller's (none on either side: the built-in suite)."""
    if recorded.get("suite_hash") != expected.get("suite_hash"):
        raise ScoresError(
            f"{path} is stale: computed for {describe_suite(recorded)}, but this run uses "
            f"{describe_suite(expected)}; rerun `{rerun}`"
        )


def load_all(
    root: str | Path, model: str, datasets: list[str], expected_hash: str | None = None
) -> dict[str, dict]:
    """Every dataset's file plus generic.json, all for one model hash."""
    folder = scores_dir(root, model)
    docs = {
        name: read_scores(folder / f"{name}.json", expected_hash) for name in [*datasets, GENERIC]
    }
    hashes = {d["provenance"]["model_hash"] for d in docs.values()}
    if len(hashes) > 1:
        raise VlmpruneError(
            f"{folder}: scores files mix {len(hashes)} model hashes; rerun `vlmprune search`"
        )
    return docs
