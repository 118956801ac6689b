"""One device copy of the weights for every session (`SessionOptions.add_initializer`).

A CUDA session copies each initializer of its graph to the GPU, so N resident variants hold
N copies of the blocks they share (3.09x one model's GPU memory with five variants of the
realistic preset, docs/performance.md). onnxruntime uses an initializer handed to
`add_initializer` as is, with no copy, when it lies on the device the session planned for it
(onnxruntime/core/framework/session_state_utils.cc, `use_user_supplied_initializer`). The
store keeps one OrtValue per stored tensor (file, offset, length, type, shape) on the
device and hands the same value to every session whose graph points at those bytes.

onnxruntime only takes a value whose buffer it does not own ("Buffer containing the
initializer must be owned by the user"), and an OrtValue made on a device owns its buffer;
re-wrapping it through DLPack gives a value over the same memory whose buffer the original
value keeps alive. An initializer the session plans for another device (an fp32
GroupQueryAttention node falls back to the CPU) is not taken: onnxruntime loads its own copy
from the file, as without the store.

Thread-safe: values are created under one lock, so two sessions loading at once never create
a tensor twice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import _pybind_state as C

from .onnx_tensors import ExternalTensor, external_initializers

# onnx TensorProto.DataType -> numpy; a type not listed (bfloat16, 4-bit, strings) is left to
# onnxruntime's own loading.
NUMPY_TYPES = {
    1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32,
    7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64,
}  # fmt: skip


class WeightStore:
    """Device OrtValues of stored tensors, created on first use and kept for the store's life."""

    def __init__(self, device: str = "cuda", device_id: int = 0) -> None:
        self.device, self.device_id = device, device_id
        # key -> (the value that owns the device buffer, the value handed to sessions)
        self._values: dict[tuple, tuple[ort.OrtValue, ort.OrtValue]] = {}
        self._maps: dict[Path, np.memmap] = {}
        self._lock = threading.Lock()
        self.bytes = 0  # device bytes the store holds
        self.hits = 0  # initializers handed out that another session already had

    def __len__(self) -> int:
        return len(self._values)

    def add_to(self, options: ort.SessionOptions, graph: str | Path) -> int:
        """Hand every external initializer of `graph` that the store can hold to `options`;
        returns how many."""
        folder = Path(graph).parent
        tensors = [t for t in external_initializers(graph) if t.data_type in NUMPY_TYPES]
        for tensor, value in zip(tensors, self._get(folder, tensors), strict=True):
            options.add_initializer(tensor.name, value)
        return len(tensors)

    def _get(self, folder: Path, tensors: Iterable[ExternalTensor]) -> list[ort.OrtValue]:
        out = []
        with self._lock:
            for tensor in tensors:
                key = tensor.key(folder)
                pair = self._values.get(key)
                if pair is None:
                    pair = self._values[key] = self._create(key[0], tensor)
                    self.bytes += _nbytes(tensor)
                else:
                    self.hits += 1
                out.append(pair[1])
        return out

    def _create(self, path: Path, tensor: ExternalTensor) -> tuple[ort.OrtValue, ort.OrtValue]:
        dtype = np.dtype(NUMPY_TYPES[tensor.data_type])
        size = _nbytes(tensor)
        if tensor.length is not None and tensor.length != size:
            raise ValueError(
                f"{path}: initializer {tensor.name!r} records {tensor.length} bytes but its "
                f"shape {list(tensor.dims)} of {dtype} needs {size}"
            )
        data = self._map(path)
        if tensor.offset + size > data.size:
            raise ValueError(
                f"{path}: initializer {tensor.name!r} lies past the end of the file "
                f"(offset {tensor.offset} + {size} bytes > {data.size})"
            )
        host = data[tensor.offset : tensor.offset + size].view(dtype).reshape(tensor.dims)
        owner = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(host), self.device,
                                                 self.device_id)  # fmt: skip
        # Same memory, buffer not owned by the new value: what add_initializer accepts.
        return owner, ort.OrtValue(C.OrtValue.from_dlpack(owner._get_c_value().to_dlpack()))

    def _map(self, path: Path) -> np.memmap:
        if path not in self._maps:
            self._maps[path] = np.memmap(path, dtype=np.uint8, mode="r")
        return self._maps[path]


def _nbytes(tensor: ExternalTensor) -> int:
    itemsize = np.dtype(NUMPY_TYPES[tensor.data_type]).itemsize
    return int(np.prod(tensor.dims, dtype=np.int64)) * itemsize
