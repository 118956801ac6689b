"""Fixtures for the export tests: one tiny `export --all-tasks`, a fast task detector."""

import json

import pytest
from export_helpers import FAST, run_cli, small_detector, write_scores


@pytest.fixture(autouse=True)
def fast_detector(monkeypatch):
    monkeypatch.setattr("vlmprune.export.manifest.detector.fit_task_detector", small_detector)


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory, tiny_model_dir):
    """`vlmprune export --all-tasks --include-full` on the tiny model: (out, manifest, summary)."""
    root = tmp_path_factory.mktemp("tiny_export")
    write_scores(root / "scores", tiny_model_dir)
    out = root / "variants" / "tiny"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("vlmprune.export.manifest.detector.fit_task_detector", small_detector)
        result = run_cli(
            "export",
            "--all-tasks",
            "--include-full",
            "--model",
            tiny_model_dir,
            "--scores-dir",
            root / "scores",
            "--out",
            out,
            "--json",
            *FAST,
        )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    return out, out / "manifest.json", summary
