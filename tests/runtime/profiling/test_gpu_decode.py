"""benchmarks/gpu_decode.py on the toy export, CPU: the stages that need no torch export,
the JSON's shape, bad arguments."""

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

_BENCH = Path(__file__).resolve().parents[3] / "benchmarks"
sys.path.insert(0, str(_BENCH))  # gpu_decode imports its sibling modules
_spec = importlib.util.spec_from_file_location("gpu_decode", _BENCH / "gpu_decode.py")
gpu_decode = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_decode)


def test_stages_on_the_toy_export(toy_manifest, tmp_path) -> None:
    work, out = tmp_path / "work", tmp_path / "report.json"
    shutil.copytree(toy_manifest.parent, work / "export-fp32")
    argv = ["--provider", "cpu", "--size", "demo", "--work", str(work), "--out", str(out),
            "--stages", "runtime,throughput,load,memory", "--runs", "2", "--warmup", "0",
            "--new-tokens", "3", "--prompt-length", "12", "--batches", "1,2",
            "--load-threads", "2", "--load-requests", "4", "--dtypes", "fp32"]  # fmt: skip
    assert gpu_decode.main(argv) == 0
    r = json.loads(out.read_text())
    assert {n: s["status"] for n, s in r["stages"].items()} == dict.fromkeys(
        ["runtime", "throughput", "load", "memory"], "ok"
    )
    variants = r["runtime"]["fp32"]["variants"]
    assert (
        sorted(v["k"] for v in variants) == [1, 1, 1]
        and r["runtime"]["fp32"]["prompt_length"] == 12
    )
    steps = r["runtime"]["fp32"]["decode_steps"]["variants"]
    assert all(v["steps"] == 2 * 2 for v in steps.values())  # 2 requests x (3 - 1) steps
    assert steps["generic"]["speedup"] == 1.0 and steps["generic"]["ideal"] == 1.0
    assert [row["batch"] for row in r["throughput"]["fp32"]["rows"]] == [1, 2]
    assert all(row["tokens"] == 3 * row["batch"] for row in r["throughput"]["fp32"]["rows"])
    assert r["load"]["identical_answers"] and r["load"]["requests"] == 8
    assert "shared" in r["memory"]["fp32"]
    assert r["summary"]["load"]["error_count"] == 0 and "fp32" in r["summary"]["runtime"]
    assert r["provenance"]["versions"]["onnxruntime"] and r["settings"]["new_tokens"] == 3


def test_a_failing_stage_is_recorded(tmp_path) -> None:
    out = tmp_path / "report.json"
    argv = ["--provider", "cpu", "--work", str(tmp_path / "empty"), "--out", str(out),
            "--stages", "load,runtime", "--dtypes", "fp32"]  # fmt: skip
    assert gpu_decode.main(argv) == 0
    r = json.loads(out.read_text())
    assert r["stages"]["load"]["status"] == "error" and "no export" in r["stages"]["load"]["error"]
    assert r["stages"]["runtime"]["status"] == "ok" and r["runtime"] == {}


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--stages", "export,warp"], "unknown stage 'warp'"),
        (["--stage-cap", "load=abc"], "STAGE=SECONDS"),
        (["--dtypes", "int4"], "fp32 and/or fp16"),
    ],
)
def test_bad_arguments(extra, message, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        gpu_decode.parse_args(["--out", str(tmp_path / "x.json"), *extra])
    assert message in capsys.readouterr().err


def test_greedy_decode_times_each_step(toy_manifest) -> None:
    import math

    from vlmprune.runtime import Runtime
    from vlmprune.runtime.generation import greedy_decode
    from vlmprune.runtime.profiling.config import ProfileConfig
    from vlmprune.runtime.profiling.profiler import synthetic_request

    runtime = Runtime.from_manifest(toy_manifest)
    r = synthetic_request(runtime.manifest, runtime.tokenizer, ProfileConfig(prompt_tokens=3))
    s, arch = runtime.sessions, runtime.manifest.arch
    embeds = arch.inputs_embeds(s.embed, r.input_ids, arch.image_features(s.vision, r.images))
    out = greedy_decode(s.decoder("generic"), s.embed, embeds, r.mask,
                        arch.position_ids(r.input_ids, r.mask, r.images), -1, 5)  # fmt: skip
    assert out.steps == 5 and len(out.step_s) == 4
    assert math.isclose(sum(out.step_s), out.decode_s)
