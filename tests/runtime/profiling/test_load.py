"""runtime/profiling/load.py and benchmarks/load_test.py on the toy export (no torch)."""

import importlib.util
import json
import time
from pathlib import Path

from vlmprune.runtime import Runtime
from vlmprune.runtime.profiling.load import (
    LoadConfig,
    PoolExample,
    load_test,
    make_plan,
    random_pool,
    serve,
    summarise,
)

_PATH = Path(__file__).resolve().parents[3] / "benchmarks" / "load_test.py"
_spec = importlib.util.spec_from_file_location("load_test", _PATH)
load_cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(load_cli)

HINTS = [None, "vqa", "generic", "code_match", "shapes_vqa"]


def _opener(manifest: Path):
    return lambda bound: Runtime.from_manifest(manifest, max_resident=bound)


def test_plan_is_seeded_and_sized() -> None:
    config = LoadConfig(threads=3, requests=7, seed=1)
    plan = make_plan(5, HINTS, config)
    assert [len(t) for t in plan] == [7, 7, 7]
    assert plan == make_plan(5, HINTS, config)
    assert plan != make_plan(5, HINTS, LoadConfig(threads=3, requests=7, seed=2))
    assert {r.example for t in plan for r in t} <= set(range(5))


def test_load_identical_under_eviction(toy_manifest) -> None:
    report = load_test(
        _opener(toy_manifest),
        random_pool(4, 16),
        HINTS,
        LoadConfig(threads=4, requests=10, max_new_tokens=3),
        max_resident=1,
    )
    assert report.identical and report.requests == report.planned == 40
    assert report.max_resident_seen == 1 and len(report.variants_asked) == 3
    data = report.to_json()
    assert data["error_count"] == 0 and data["tokens_per_s"] > 0
    assert data["active_providers"] == ["CPUExecutionProvider"]
    assert data["latency_ms"]["p50"] <= data["latency_ms"]["p90"] <= data["latency_ms"]["max"]


def test_errors_are_counted_not_raised(toy_manifest) -> None:
    runtime = Runtime.from_manifest(toy_manifest)
    pool = [PoolExample(random_pool(1, 16)[0].image, "What color?"), PoolExample(42, "bad")]
    plan = make_plan(2, [None], LoadConfig(threads=2, requests=6, seed=3))
    assert {r.example for t in plan for r in t} == {0, 1}
    served, wall = serve(runtime, pool, plan, 2)
    pairs = [p for t, s in zip(plan, served, strict=True) for p in zip(t, s, strict=True)]
    expected = {r: x.answer for r, x in pairs if x.error is None}
    report = summarise(plan, served, wall, expected, runtime, 2)
    bad = sum(r.example == 1 for t in plan for r in t)
    assert len(report.errors) == bad and "InputError" in report.errors[0]
    assert report.mismatches == 0 and not report.identical


def test_deadline_stops_new_requests(toy_manifest) -> None:
    runtime = Runtime.from_manifest(toy_manifest)
    plan = make_plan(2, HINTS, LoadConfig(threads=2, requests=5))
    served, _ = serve(runtime, random_pool(2, 16), plan, 2, deadline=time.perf_counter() - 1)
    assert served == [[], []]


def test_cli_json_and_exit_status(toy_manifest, tmp_path, capsys) -> None:
    out = tmp_path / "load.json"
    argv = ["--manifest", str(toy_manifest), "--threads", "3", "--requests", "5", "--out", str(out)]
    assert load_cli.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["identical_answers"] and report["requests"] == 15
    assert (
        report["max_resident"] == report["variants"] - 1
        and report["provider"] == "CPUExecutionProvider"
    )
    assert "identical" in capsys.readouterr().out


def test_cli_bad_manifest_is_one_line(tmp_path, capsys) -> None:
    assert load_cli.main(["--manifest", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1
