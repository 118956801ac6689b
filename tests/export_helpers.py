"""Helpers of the export tests: synthetic scores files, the CLI, a quickly fitted detector."""

import copy
import functools
import json
from pathlib import Path

from click.testing import CliRunner

from vlmprune.export.cli import main
from vlmprune.export.manifest.detector import DetectorFitConfig
from vlmprune.export.manifest.detector import fit_task_detector as _real_fit
from vlmprune.export.models.loading import hash_model_dir
from vlmprune.export.tasks.catalog import get_dataset

# Three datasets with short answers (fast greedy loops): two of one task type (vqa), so the
# task-type rule has to choose. Removal sets per k for the 4-block tiny model: shapes_vqa's
# equals generic's (like the seed's occasional matches), the others differ.
DATASETS = ("shapes_vqa", "count_vqa", "code_match")
GENERIC_SETS = {1: [1], 2: [1, 2]}
DATASET_SETS = {
    "shapes_vqa": {1: [1], 2: [1, 2]},
    "count_vqa": {1: [2], 2: [2, 3]},
    "code_match": {1: [3], 2: [1, 3]},
}
FAST = ["--parity-examples", "6", "--score-examples", "2", "--batch-size", "8"]


def scores_doc(objective, task_type, model_hash, best, num_blocks=4, model="tiny"):
    return {
        "kind": "vlmprune.scores",
        "format_version": 1,
        "provenance": {
            "tool_version": "0.1.0",
            "model": model,
            "model_hash": model_hash,
            "split": "calib",
            "n": 50,
            "seed": 0,
            "created": "2026-11-26T12:00:00Z",
        },
        "objective": objective,
        "task_type": task_type,
        "metric": None,
        "num_blocks": num_blocks,
        "base_score": 0.5,
        "leave_one_out": [],
        "search": {"beam_width": 2, "max_remove": 2, "generic_objective": "mean", "best": best},
    }


def write_scores(root: Path, model_dir: Path, model_hash: str | None = None) -> Path:
    """scores/<model>/<dataset>.json for DATASETS plus generic.json (covering DATASETS)."""
    model_hash = model_hash or hash_model_dir(model_dir)
    folder = root / model_dir.resolve().name
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(DATASETS):
        best = [
            {
                "k": k,
                "removed_blocks": DATASET_SETS[name][k],
                "score": 0.4,
                "relative_drop": 0.02 * k + 0.01 * i,
            }
            for k in (1, 2)
        ]
        task_type = get_dataset(name).task_type.value
        (folder / f"{name}.json").write_text(
            json.dumps(scores_doc(name, task_type, model_hash, best))
        )
    best = [
        {
            "k": k,
            "removed_blocks": GENERIC_SETS[k],
            "score": None,
            "relative_drop": 0.015 * k,
            "per_dataset": {n: 0.015 * k for n in DATASETS},
        }
        for k in (1, 2)
    ]
    (folder / "generic.json").write_text(json.dumps(scores_doc("generic", None, model_hash, best)))
    return folder


@functools.cache
def small_detector() -> dict:
    """The runtime's task detector fitted on few prompts (the real fit takes much longer)."""
    return _real_fit(
        DetectorFitConfig(prompts_per_dataset=30, steps=10, per_type=200, validation_per_type=100)
    )


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def fresh_with_kept(model, kept, prefix="model.language_model.layers."):
    """A new model of the same class with `len(kept)` decoder blocks holding the kept blocks'
    weights (per-layer `layer_types` sliced alike): what exact removal must equal. `prefix`
    names the decoder blocks in the state dict."""
    config = copy.deepcopy(model.config)
    text = config.text_config
    text.num_hidden_layers = len(kept)
    if getattr(text, "layer_types", None):
        text.layer_types = [text.layer_types[b] for b in kept]
    fresh = type(model)(config).eval()
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith(prefix):
            idx, rest = key[len(prefix) :].split(".", 1)
            if int(idx) not in kept:
                continue
            key = f"{prefix}{kept.index(int(idx))}.{rest}"
        state[key] = value
    fresh.load_state_dict(state)
    return fresh
