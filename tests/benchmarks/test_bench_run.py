"""benchmarks/bench_run.py: stage errors recorded, budget skips, the JSON after every stage."""

import importlib.util
import json
import sys
import time
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_run.py"
_spec = importlib.util.spec_from_file_location("bench_run", _PATH)
bench_run = importlib.util.module_from_spec(_spec)
sys.modules["bench_run"] = bench_run  # dataclasses look their module up
_spec.loader.exec_module(bench_run)


def test_stages_run_record_and_skip(tmp_path) -> None:
    out = tmp_path / "report.json"
    report = {"settings": {"x": 1}}
    runner = bench_run.StageRunner(report, out, bench_run.Clock(budget_s=60))
    assert json.loads(out.read_text())["stages"] == {}

    def first(clock):
        return {"first": {"value": 3}}

    def broken(clock):
        assert json.loads(out.read_text())["first"] == {"value": 3}  # written before this ran
        raise ValueError("no GPU here")

    def capped(clock):
        assert clock.left() <= 0.5
        return {"capped": clock.run_left() > 50}

    assert runner.run("first", first, min_s=1, cap_s=None)
    assert not runner.run("broken", broken, min_s=1, cap_s=None)
    assert runner.run("capped", capped, min_s=1, cap_s=0.5)
    assert not runner.run("late", first, min_s=1000, cap_s=None)
    saved = json.loads(out.read_text())
    stages = saved["stages"]
    assert [stages[n]["status"] for n in ("first", "broken", "capped", "late")] == [
        "ok", "error", "ok", "skipped",
    ]  # fmt: skip
    assert stages["broken"]["error"] == "ValueError: no GPU here"
    assert "needs 1000 s" in stages["late"]["why"] and saved["capped"] is True
    assert saved["settings"] == {"x": 1}


def test_clock_counts_down() -> None:
    clock = bench_run.Clock(budget_s=10, started=time.perf_counter() - 4)
    assert 5.5 < clock.run_left() <= 6
    clock.stage_deadline = time.perf_counter() + 1
    assert clock.left() <= 1 < clock.run_left()
