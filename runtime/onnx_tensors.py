"""The external-data initializers of an ONNX graph, read without the `onnx` package.

The runtime ships with onnxruntime and numpy only, and onnxruntime's Python API does not list
a graph's initializers. The weight store (weight_store.py) needs, for every initializer kept
in an external file, its name, element type, shape and where its bytes lie. This reads just
that from the protobuf wire format (ModelProto.graph.initializer), skipping everything else;
tests/runtime/test_onnx_tensors.py checks it against `onnx.load` on real exports.

Field numbers are those of onnx/onnx.proto3:
  ModelProto.graph = 7; GraphProto.initializer = 5;
  TensorProto: dims = 1, data_type = 2, name = 8, external_data = 13, data_location = 14;
  StringStringEntryProto: key = 1, value = 2; DataLocation.EXTERNAL = 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
_MODEL_GRAPH, _GRAPH_INITIALIZER = 7, 5
_DIMS, _DATA_TYPE, _NAME, _EXTERNAL_DATA, _DATA_LOCATION = 1, 2, 8, 13, 14
_EXTERNAL = 1


class GraphFormatError(ValueError):
    """The file is not a well-formed ONNX model (truncated or not protobuf)."""


@dataclass(frozen=True)
class ExternalTensor:
    name: str
    data_type: int  # onnx TensorProto.DataType
    dims: tuple[int, ...]
    location: str  # as written in the graph: relative to the graph's folder
    offset: int
    length: int | None  # None: not recorded (the whole tensor from `offset`)

    def key(self, folder: Path) -> tuple:
        """Identity of the bytes: two graphs naming the same stored tensor get the same key."""
        return ((folder / self.location).resolve(), self.offset, self.length, self.data_type,
                self.dims)  # fmt: skip


def external_initializers(path: str | Path) -> list[ExternalTensor]:
    """Every top-level initializer of the graph at `path` whose data is external."""
    data = memoryview(Path(path).read_bytes())
    out: list[ExternalTensor] = []
    try:
        for field, graph in _fields(data):
            if field != _MODEL_GRAPH or not isinstance(graph, memoryview):
                continue
            for gfield, tensor in _fields(graph):
                if gfield == _GRAPH_INITIALIZER and isinstance(tensor, memoryview):
                    parsed = _tensor(tensor)
                    if parsed is not None:
                        out.append(parsed)
    except (IndexError, UnicodeDecodeError, ValueError) as exc:
        raise GraphFormatError(f"{path}: not a readable ONNX model ({exc})") from None
    return out


def _tensor(buf: memoryview) -> ExternalTensor | None:
    dims: list[int] = []
    data_type, name, location_kind = 0, "", 0
    entries: dict[str, str] = {}
    for field, value in _fields(buf):
        if field == _DIMS:
            dims.extend(_packed_varints(value) if isinstance(value, memoryview) else [value])
        elif field == _DATA_TYPE:
            data_type = value
        elif field == _NAME:
            name = bytes(value).decode()
        elif field == _EXTERNAL_DATA:
            entry = {k: bytes(v).decode() for k, v in _fields(value) if k in (1, 2)}
            entries[entry.get(1, "")] = entry.get(2, "")
        elif field == _DATA_LOCATION:
            location_kind = value
    if location_kind != _EXTERNAL:
        return None
    if "location" not in entries:
        raise ValueError(f"initializer {name!r} is external but names no location")
    length = entries.get("length")
    return ExternalTensor(
        name=name,
        data_type=data_type,
        dims=tuple(_signed(d) for d in dims),
        location=entries["location"],
        offset=int(entries.get("offset", 0)),
        length=int(length) if length is not None else None,
    )


def _fields(buf: memoryview):  # noqa: ANN202  (yields (field number, int | memoryview))
    pos, end = 0, len(buf)
    while pos < end:
        tag, pos = _varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _BYTES:
            size, pos = _varint(buf, pos)
            if pos + size > end:
                raise ValueError("a field runs past the end of its message")
            value, pos = buf[pos : pos + size], pos + size
        elif wire == _FIXED64:
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == _FIXED32:
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield field, value


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]  # IndexError at a truncated varint
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _packed_varints(buf: memoryview) -> list[int]:
    out, pos = [], 0
    while pos < len(buf):
        value, pos = _varint(buf, pos)
        out.append(value)
    return out


def _signed(value: int) -> int:
    """int64 fields are two's complement in a varint (a symbolic -1 dim reads as 2**64 - 1)."""
    return value - (1 << 64) if value >= 1 << 63 else value
