"""Parallel evaluation workers: the same scores, predictions and search as the serial path."""

import json
import multiprocessing

import pytest
from click.testing import CliRunner

from vlmprune.export.cli import main
from vlmprune.export.errors import VlmpruneError
from vlmprune.export.evaluation.pool import EvalPool, worker_devices
from vlmprune.export.tasks.catalog import get_dataset


def _search(model_dir, root, *extra):
    args = [
        "search",
        "--model",
        model_dir,
        "--datasets",
        "shapes_vqa,bar_charts",
        "--limit",
        4,
        "--batch-size",
        2,  # several batches per job
        "--max-remove",
        2,
        "--beam-width",
        2,
        "--scores-dir",
        root / "scores",
        "--cache-dir",
        root / "cache",
        "--json",
        *extra,
    ]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _cache_entries(root):
    """Entry file name (the key's digest) -> its body: per-example scores and predictions."""
    files = (root / "cache" / "evals").rglob("*.json")
    return {f.name: json.loads(f.read_text())["body"] for f in files}


def _scores_docs(root):
    files = (root / "scores").rglob("*.json")
    # Provenance holds the time of writing; everything else must match.
    return {f.name: {**json.loads(f.read_text()), "provenance": None} for f in files}


def test_two_cpu_workers_match_the_serial_search(tiny_model_dir, tmp_path):
    serial = _search(tiny_model_dir, tmp_path / "serial")
    pooled = _search(tiny_model_dir, tmp_path / "pooled", "--workers", 2)
    assert pooled == serial  # best sets, evaluations computed, forward passes
    entries = _cache_entries(tmp_path / "serial")
    assert len(entries) == serial["stats"]["computed"] > 10
    assert _cache_entries(tmp_path / "pooled") == entries
    assert _scores_docs(tmp_path / "pooled") == _scores_docs(tmp_path / "serial")
    assert not multiprocessing.active_children()  # the command shut its workers down


def test_a_worker_that_cannot_load_the_model_is_one_clear_error(tmp_path):
    missing = tmp_path / "no_model"
    with pytest.raises(VlmpruneError, match="failed to start: model path .* does not exist"):
        EvalPool(str(missing), [get_dataset("shapes_vqa")], "cpu", workers=2)
    assert not multiprocessing.active_children()


def test_workers_spread_round_robin_over_the_gpus(monkeypatch):
    monkeypatch.setattr("torch.cuda.device_count", lambda: 2)
    assert worker_devices("cuda", 5) == ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]
    assert worker_devices("cpu", 2) == ["cpu", "cpu"]
    monkeypatch.setattr("torch.cuda.device_count", lambda: 0)
    with pytest.raises(VlmpruneError, match="no CUDA device"):
        worker_devices("cuda", 2)
