"""benchmarks/qwen_gpu_decode.py: bad arguments stop before the model is built (the run itself
builds a 0.4 B model, so it is measured on the GPU machine, docs/performance.md)."""

import importlib.util
import sys
from pathlib import Path

import pytest

_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(_DIR))
    spec = importlib.util.spec_from_file_location("qwen_gpu_decode", _DIR / "qwen_gpu_decode.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.path.remove(str(_DIR))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--runs", "fp8"], "--runs 'fp8'"),
        (["--runs", ""], "--runs ''"),
        (["--provider", "cpu", "--runs", "fp16,fp16_cuda_graph"], "CUDA graphs need"),
    ],
)
def test_bad_arguments_are_one_line_and_build_nothing(bench, monkeypatch, tmp_path, capsys,
                                                      argv, message):  # fmt: skip
    monkeypatch.setattr(bench, "build", lambda *a: pytest.fail("the model was built"))
    with pytest.raises(SystemExit) as exit_info:
        bench.main([*argv, "--out", str(tmp_path / "q.json")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "q.json").exists()
