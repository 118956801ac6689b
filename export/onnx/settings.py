"""What an export is asked to do, where its files go, and how it reports: shared by every
stage of `run_export` (pipeline.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from ...runtime.decoders import DecoderLayout, DType
from ..errors import VlmpruneError
from ..tasks.base import TaskDataset
from . import graphs
from .parity import ParityConfig
from .quantize import Precision

MANIFEST_FILE = "manifest.json"
MARKER_FILE = "vlmprune_export.json"
TOKENIZER_FILE = "tokenizer.json"
VISION_FILE = f"{graphs.VISION_ENCODER}.onnx"
EMBED_FILE = f"{graphs.EMBED_TOKENS}.onnx"

Log = Callable[[str], None]


class ExportError(VlmpruneError):
    """The export cannot proceed; nothing was changed in the output folder."""


class GenaiMode(str, Enum):
    AUTO = "auto"  # write the folders when onnxruntime-genai is installed and runs the model
    ON = "on"  # write them; refuse the export when onnxruntime-genai is not installed
    OFF = "off"


@dataclass(frozen=True)
class ExportSettings:
    out: Path
    manifest: Path
    # Parity inputs and measured scores come from these: built-in names or dataset objects
    # (a suite file's tables, whose names are not in the built-in registry).
    datasets: tuple[str | TaskDataset, ...]
    parity_examples: int = 200
    score_examples: int = 200
    batch_size: int = 32
    parity: ParityConfig = field(default_factory=ParityConfig)
    progress: bool = True
    genai: GenaiMode = GenaiMode.AUTO  # onnxruntime-genai folders (genai.py)
    layout: DecoderLayout | None = None  # None: gqa where the fused graph fits (graphs.py)
    precision: Precision = Precision.FP32  # decoder MatMul weights (quantize.py)
    dtype: DType = DType.FP32  # decoder weights and activations (half.py)

    @property
    def lowered(self) -> bool:
        """The written decoders are not the fp32 graphs that passed parity."""
        return self.precision is not Precision.FP32 or self.dtype is not DType.FP32


def stderr_log(message: str) -> None:
    print(message, file=sys.stderr)


def progress(items: list, enabled: bool, desc: str, unit: str) -> Iterable:
    if not enabled or len(items) < 2:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit=unit, file=sys.stderr)
