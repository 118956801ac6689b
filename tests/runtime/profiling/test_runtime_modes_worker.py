"""benchmarks/runtime_modes.py's worker on the toy export: both modes load every variant and
give the same tokens (the benchmark's own check), so the script keeps running on the exports
the runtime reads today."""

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[3] / "benchmarks" / "runtime_modes.py"


def test_both_modes_answer_alike_on_every_variant(toy_manifest) -> None:
    spec = importlib.util.spec_from_file_location("runtime_modes", _PATH)
    modes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(modes)
    shared, fast = (modes.worker(str(toy_manifest), m, 1, 3, 1) for m in ("shared", "fast"))
    assert shared["variants"] == fast["variants"] > 1
    assert shared["tokens"] == fast["tokens"] and len(shared["tokens"]) == shared["variants"]
    for report in (shared, fast):
        assert report["memory_mib"]["all_variants"]["pss"] > 0
