"""benchmarks/scale_plan.py: counts checked by hand on small searches, costs by arithmetic."""

import contextlib
import importlib.util
import io
import json
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "scale_plan.py"
_spec = importlib.util.spec_from_file_location("scale_plan", _PATH)
scale_plan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scale_plan)


def _plan(*argv: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert scale_plan.main(list(argv)) == 0
    return json.loads(out.getvalue())


def test_one_dataset_greedy_counts_by_hand() -> None:
    # 4 blocks, greedy, k <= 2: 4 singles, then 3 pairs extending the best single. The generic
    # objective over one dataset is that dataset's loss: it asks for the same pairs (cached).
    doc = _plan(
        "--blocks",
        "4",
        "--datasets",
        "1",
        "--max-remove",
        "2",
        "--beam-width",
        "1",
        "--examples",
        "10",
        "--gen-s",
        "0.36",
        "--tf-s",
        "0.036",
        "--verify-top",
        "1",
        "--gpus",
        "1",
        "2",
    )
    assert doc["exact"]["evaluations"] == 7
    assert doc["screened"]["teacher_forced_jobs"] == 7
    assert doc["screened"]["evaluations"] == 4  # 1 per objective per step, 2 objectives, 2 steps
    assert doc["exact"]["gpu_hours"] == pytest.approx(7 * 10 * 0.36 / 3600)
    # 2 GPUs: steps of 4 and 3 jobs take 2 and 2 rounds
    assert doc["exact"]["wall_hours"]["2"] == pytest.approx(4 * 10 * 0.36 / 3600)
    assert doc["screened"]["gpu_hours"] == pytest.approx((7 * 0.036 + 4 * 0.36) * 10 / 3600)


def test_exact_count_is_within_the_beams_size() -> None:
    steps = scale_plan.search_steps(num_blocks=10, datasets=3, max_remove=3, width=2, seed=1)
    # the first step asks every dataset for every single block; later steps at most
    # width * (blocks - k + 1) per objective, the generic one on all 3 datasets
    assert len(steps[0]["pairs"]) == 3 * 10
    for k, step in enumerate(steps[1:], start=2):
        assert 0 < len(step["pairs"]) <= 3 * 2 * (10 - k + 1) * 2


def test_verify_top_covering_every_candidate_costs_as_much_as_exact() -> None:
    args = ["--blocks", "8", "--datasets", "2", "--max-remove", "3", "--gen-s", "1", "--tf-s", "0"]
    doc = _plan(*args, "--verify-top", "100")
    assert doc["screened"]["evaluations"] == doc["exact"]["evaluations"]
    cheap = _plan(*args, "--verify-top", "1")
    assert cheap["screened"]["evaluations"] < doc["exact"]["evaluations"]


def test_bad_verify_top_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--blocks", "8", "--gen-s", "1", "--tf-s", "0", "--verify-top", "0"]
    assert scale_plan.main(argv) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
