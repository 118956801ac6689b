"""One external-data file for every graph of an export: each tensor stored once.

Tensors are identified by the sha256 of their bytes, never by name: the same weight is
called `layers.5...` in the full decoder and `layers.4...` in a decoder with a block
removed, and the TorchScript exporter names transposed weights `onnx::MatMul_123`.

Layout of `weights.bin` (offsets are what onnxruntime memory-maps; DESIGN.md):
- a tensor of >= ALIGN_MIN_BYTES starts at a multiple of ALIGNMENT (64 KiB, the mmap
  allocation granularity on every OS onnxruntime supports), so sessions can share its pages;
- a smaller tensor starts at a multiple of PACK_ALIGNMENT, preferably inside the padding
  that aligning a large tensor left behind, so alignment costs almost no disk;
- a tensor under EXTERNAL_MIN_BYTES (norm scales of tiny models, shape constants) stays
  inside its graph, as `onnx.save(..., size_threshold=1024)` would leave it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

ALIGNMENT = 64 * 1024
ALIGN_MIN_BYTES = 64 * 1024
PACK_ALIGNMENT = 64
EXTERNAL_MIN_BYTES = 1024
WEIGHTS_FILE = "weights.bin"

_TYPED_FIELDS = ("float_data", "int32_data", "int64_data", "double_data", "uint64_data")


@dataclass(frozen=True)
class ExternalRef:
    """Where one initializer of a graph lives in the shared file."""

    name: str
    location: str
    offset: int
    length: int


@dataclass(frozen=True)
class WeightsStats:
    unique_tensors: int  # tensors written to the file
    references: int  # initializers pointing into the file, over all graphs
    data_bytes: int  # sum of the unique tensors' sizes
    referenced_bytes: int  # what the graphs would hold without deduplication
    file_bytes: int  # size of weights.bin, padding included

    @property
    def padding_bytes(self) -> int:
        return self.file_bytes - self.data_bytes


def _align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


class SharedWeightsWriter:
    """Moves the initializers of each added graph into one deduplicated file, then saves it.

    Use as a context manager; graphs are handled one at a time, so memory holds one graph.
    """

    def __init__(self, folder: str | Path, file_name: str = WEIGHTS_FILE) -> None:
        self.folder = Path(folder)
        self.file_name = file_name
        self.path = self.folder / file_name
        self._fh = self.path.open("wb")
        self._stored: dict[str, tuple[int, int]] = {}  # sha256 -> (offset, length)
        self._gaps: list[tuple[int, int]] = []  # free [start, end) left by alignment
        self._end = 0
        self._references = 0
        self._referenced_bytes = 0

    def __enter__(self) -> SharedWeightsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.truncate(self._end)
            self._fh.close()

    def add_graph(self, model: onnx.ModelProto, file_name: str) -> Path:
        """Externalize `model`'s initializers into the shared file; save it as `file_name`."""
        for tensor in model.graph.initializer:
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                raise ValueError(
                    f"{file_name}: initializer {tensor.name} already has external data"
                )
            if tensor.data_type == onnx.TensorProto.STRING:
                continue
            data = _tensor_bytes(tensor)
            if len(data) < EXTERNAL_MIN_BYTES:
                continue
            offset = self._store(data)
            _point_to(tensor, self.file_name, offset, len(data))
            self._references += 1
            self._referenced_bytes += len(data)
        path = self.folder / file_name
        onnx.save(model, str(path))
        return path

    def stats(self) -> WeightsStats:
        return WeightsStats(
            unique_tensors=len(self._stored),
            references=self._references,
            data_bytes=sum(length for _, length in self._stored.values()),
            referenced_bytes=self._referenced_bytes,
            file_bytes=self._end,
        )

    def _store(self, data: bytes) -> int:
        key = hashlib.sha256(data).hexdigest()
        if key not in self._stored:
            offset = self._place(len(data))
            self._fh.seek(offset)
            self._fh.write(data)
            self._stored[key] = (offset, len(data))
        return self._stored[key][0]

    def _place(self, size: int) -> int:
        if size >= ALIGN_MIN_BYTES:
            start = _align(self._end, ALIGNMENT)
            if start > self._end:
                self._gaps.append((self._end, start))
            self._end = start + size
            return start
        for i, (gap_start, gap_end) in enumerate(self._gaps):
            start = _align(gap_start, PACK_ALIGNMENT)
            if start + size <= gap_end:
                self._gaps[i] = (start + size, gap_end)
                return start
        start = _align(self._end, PACK_ALIGNMENT)
        self._end = start + size
        return start


def _tensor_bytes(tensor: onnx.TensorProto) -> bytes:
    if tensor.HasField("raw_data"):
        return tensor.raw_data
    # Typed fields (int64_data, ...): the raw little-endian layout external data must use.
    array = numpy_helper.to_array(tensor)
    return np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()


def _point_to(tensor: onnx.TensorProto, location: str, offset: int, length: int) -> None:
    tensor.ClearField("raw_data")
    for field in _TYPED_FIELDS:
        tensor.ClearField(field)
    del tensor.external_data[:]
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value


def external_refs(model: onnx.ModelProto) -> Iterator[ExternalRef]:
    """The external-data references of a graph loaded with `load_external_data=False`."""
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        yield ExternalRef(
            name=tensor.name,
            location=info.get("location", ""),
            offset=int(info.get("offset", 0)),
            length=int(info.get("length", -1)),
        )
