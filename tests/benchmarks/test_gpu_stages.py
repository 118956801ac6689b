"""benchmarks/gpu_stages.py: the fp16 export is detected from ExportSettings' fields."""

import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import gpu_stages  # noqa: E402


class Dtype(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"


@dataclass(frozen=True)
class WithDtype:
    out: Path
    dtype: Dtype = Dtype.FP32


def test_without_a_dtype_field_fp16_is_not_available() -> None:
    from vlmprune.export.onnx.settings import ExportSettings

    if "dtype" in ExportSettings.__dataclass_fields__:  # the export has it: nothing to refuse
        assert gpu_stages.fp16_support() == {"available": True}
        return
    support = gpu_stages.fp16_support()
    assert support["available"] is False and "fp16 not available" in support["why"]
    assert gpu_stages.dtype_setting("fp16") == {}


def test_a_dtype_field_gets_its_own_enum(monkeypatch) -> None:
    import vlmprune.export.onnx.settings as settings

    monkeypatch.setattr(settings, "ExportSettings", WithDtype)
    assert gpu_stages.fp16_support() == {"available": True}
    assert gpu_stages.dtype_setting("fp16") == {"dtype": Dtype.FP16}
