"""A check of each model file before ONNX Runtime sees it: there, no LFS pointer, whole, the right model.

A failed check is a ModelFileError (faceswap.errors) that names the fault and the fix.

A file is checked by walking its protobuf wire format: the model's and the graph's fields are visited
by their headers and the weights are skipped, so the 528 MiB swapper is checked without reading its
weights (``onnx.load`` would parse all of them), and a file cut short is told apart from one that is
no ONNX model at all (a field that runs past the end of the file).
"""

from __future__ import annotations

import hashlib
import mmap
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from faceswap.errors import ModelFileError
from faceswap.models.registry import (
    GUARD_MODEL_SPECS,
    MODEL_SPECS,
    OPTIONAL_MODEL_SPECS,
    SYNTHETIC_PRODUCER,
    ModelRole,
    ModelSpec,
    download_command,
)

__all__ = [
    "Dims",
    "FileSignature",
    "GraphSummary",
    "ModelCheck",
    "check_model_file",
    "file_crc32",
    "file_sha256",
    "file_signature",
    "first_node_names",
    "graph_summary",
    "last_initializer",
    "swapper_crop",
    "verify_model_dir",
]

Dims = tuple[int | None, ...]
"""A tensor's shape; None for a symbolic dimension, () when the rank is unknown."""

LFS_POINTER_PREFIX = b"version https://git-lfs"
IR_VERSION_KEY = 1 << 3  # field 1, wire type 0
MAX_IR_VERSION = 100


@dataclass(frozen=True)
class GraphSummary:
    """What tells the models apart: the graph's inputs (initializers excluded), outputs, last initializer."""

    inputs: tuple[Dims, ...]
    outputs: tuple[Dims, ...]
    last_initializer: Dims | None
    producer: str = ""


@dataclass(frozen=True)
class ModelCheck:
    """One file's state as `verify` and the doctor report it; size None when there is no file."""

    spec: ModelSpec
    size: int | None
    fault: ModelFileError | None
    sha256: str | None = None
    synthetic: bool = False

    @property
    def ok(self) -> bool:
        """True when the file passed every check."""
        return self.fault is None

    @property
    def official(self) -> bool | None:
        """Whether the file is the published one (None when its SHA-256 was not computed)."""
        if self.sha256 is None or self.spec.sha256 is None:
            return None
        return self.sha256 == self.spec.sha256


class FileSignature(NamedTuple):
    """What tells one version of a file from another without reading it."""

    inode: int
    size: int
    mtime_ns: int


class _TruncatedError(ValueError):
    """The bytes end inside a field."""


class _MalformedError(ValueError):
    """The bytes are not an ONNX model's protobuf."""


Buffer = bytes | mmap.mmap
_Field = tuple[int, int, int, int]


def file_sha256(path: Path) -> str:
    """The file's SHA-256, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_crc32(path: Path) -> str:
    """The file's CRC32 as FaceFusion's `.hash` files give it: 8 lower-case hex digits."""
    checksum = 0
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            checksum = zlib.crc32(chunk, checksum)
    return f"{checksum:08x}"


def file_signature(path: Path) -> FileSignature:
    """The file's inode, size and modification time; OSError when it cannot be stat'ed."""
    stat = path.stat()
    return FileSignature(stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _varint(buf: Buffer, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while shift < 70:
        if pos >= end:
            raise _TruncatedError
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise _MalformedError


def _fields(buf: Buffer, pos: int, end: int, *, top: bool) -> Iterator[_Field]:
    """(field number, wire type, value start, value end) of each field in buf[pos:end]."""
    overrun = _TruncatedError if top else _MalformedError
    while pos < end:
        try:
            key, pos = _varint(buf, pos, end)
            number, wire = key >> 3, key & 7
            start = pos
            if wire == 0:
                _, pos = _varint(buf, pos, end)
            elif wire == 2:
                length, start = _varint(buf, pos, end)
                pos = start + length
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
            else:
                raise _MalformedError
        except _TruncatedError:
            raise overrun from None
        if number == 0:
            raise _MalformedError
        if pos > end:
            raise overrun
        yield number, wire, start, pos


def _tensor_header(buf: Buffer, start: int, end: int) -> tuple[str, Dims]:
    """An initializer's name and dims, its data skipped."""
    name, dims = "", []
    for number, wire, value_start, value_end in _fields(buf, start, end, top=False):
        if number == 1 and wire == 0:
            dims.append(_varint(buf, value_start, value_end)[0])
        elif number == 1 and wire == 2:
            pos = value_start
            while pos < value_end:
                dim, pos = _varint(buf, pos, value_end)
                dims.append(dim)
        elif number == 8 and wire == 2:
            name = bytes(buf[value_start:value_end]).decode("utf-8", "replace")
    return name, tuple(dims)


def _signed(value: int) -> int:
    """A varint read as protobuf's int64."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _last_message(buf: Buffer, start: int, end: int, number: int) -> tuple[int, int] | None:
    """(start, end) of the last length-delimited field `number` in buf[start:end]; None when absent."""
    found = None
    for field_number, wire, value_start, value_end in _fields(buf, start, end, top=False):
        if field_number == number and wire == 2:
            found = (value_start, value_end)
    return found


def _dimension(buf: Buffer, start: int, end: int) -> int | None:
    """One TensorShapeProto.Dimension: its fixed size, None when symbolic (the last of the oneof wins)."""
    size = None
    for number, wire, value_start, value_end in _fields(buf, start, end, top=False):
        if number == 1 and wire == 0:
            value = _signed(_varint(buf, value_start, value_end)[0])
            size = value if value > 0 else None
        elif number == 2 and wire == 2:
            size = None
    return size


def _value_info(buf: Buffer, start: int, end: int) -> tuple[str, Dims]:
    """A graph input's or output's name and shape (ValueInfoProto: name 1, type 2; TypeProto: tensor_type
    1; its shape 2; the shape's dims 1), read as the wire format without onnx's classes."""
    name = ""
    type_span = None
    for number, wire, value_start, value_end in _fields(buf, start, end, top=False):
        if number == 1 and wire == 2:
            name = bytes(buf[value_start:value_end]).decode("utf-8", "replace")
        elif number == 2 and wire == 2:
            type_span = (value_start, value_end)
    tensor = _last_message(buf, *type_span, 1) if type_span else None
    shape = _last_message(buf, *tensor, 2) if tensor else None
    if shape is None:
        return name, ()
    return name, tuple(
        _dimension(buf, value_start, value_end)
        for number, wire, value_start, value_end in _fields(buf, *shape, top=False)
        if number == 1 and wire == 2
    )


def _summarize_graph(buf: Buffer, start: int, end: int) -> GraphSummary:
    initializers: set[str] = set()
    last_initializer: Dims | None = None
    inputs: list[tuple[str, Dims]] = []
    outputs: list[Dims] = []
    for number, wire, value_start, value_end in _fields(buf, start, end, top=False):
        if wire != 2:
            continue
        if number == 5:
            name, last_initializer = _tensor_header(buf, value_start, value_end)
            initializers.add(name)
        elif number == 11:
            inputs.append(_value_info(buf, value_start, value_end))
        elif number == 12:
            outputs.append(_value_info(buf, value_start, value_end)[1])
    return GraphSummary(
        inputs=tuple(dims for name, dims in inputs if name not in initializers),
        outputs=tuple(outputs),
        last_initializer=last_initializer,
    )


def _summarize_model(buf: Buffer) -> GraphSummary:
    # Serializers write fields in number order, so an ONNX model opens with ir_version (field 1, varint).
    try:
        key, pos = _varint(buf, 0, len(buf))
        ir_version, _ = _varint(buf, pos, len(buf))
    except _TruncatedError:
        raise _MalformedError from None
    if key != IR_VERSION_KEY or not 0 < ir_version <= MAX_IR_VERSION:
        raise _MalformedError
    graph: tuple[int, int] | None = None
    has_opset = False
    producer = ""
    for number, wire, start, end in _fields(buf, 0, len(buf), top=True):
        if number == 2 and wire == 2:
            producer = bytes(buf[start:end]).decode("utf-8", "replace")
        elif number == 7 and wire == 2:
            graph = (start, end)
        elif number == 8 and wire == 2:
            has_opset = True
    if graph is None or not has_opset:
        raise _TruncatedError
    return replace(_summarize_graph(buf, *graph), producer=producer)


def _last_field(buf: Buffer, start: int, end: int, number: int, *, top: bool) -> tuple[int, int]:
    """(start, end) of the last length-delimited field `number` in buf[start:end]."""
    found = None
    for field_number, wire, value_start, value_end in _fields(buf, start, end, top=top):
        if field_number == number and wire == 2:
            found = (value_start, value_end)
    if found is None:
        raise _MalformedError
    return found


def last_initializer(path: Path) -> np.ndarray:
    """The graph's last initializer (inswapper's emap), read without parsing the rest of the file.

    ``INSwapper`` reads it with ``onnx.load`` of the whole file: about 0.8 s and the file's size in memory
    again for the 528 MiB swapper; skipping the other fields takes about 2 ms. A float tensor whose bytes
    are in the file is read straight from the wire format; any other is handed to onnx (imported then
    only: the import costs about 0.7 s of CPU). ValueError when the file is truncated or no ONNX model.
    """
    with path.open("rb") as stream, mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        graph = _last_field(buf, 0, len(buf), 7, top=True)
        start, end = _last_field(buf, *graph, 5, top=False)
        tensor = _float_tensor(buf, start, end)
        if tensor is not None:
            return tensor
        from onnx import TensorProto, numpy_helper

        return numpy_helper.to_array(TensorProto.FromString(bytes(buf[start:end])))


_FLOAT = 1  # TensorProto.DataType.FLOAT


def _float_tensor(buf: Buffer, start: int, end: int) -> np.ndarray | None:
    """A FLOAT TensorProto held in its raw_data (field 9) or packed float_data (field 4) as an array;
    None for any other (another type, external data, a segment, unpacked floats)."""
    dims: list[int] = []
    data_type = 0
    raw: tuple[int, int] | None = None
    floats: tuple[int, int] | None = None
    for number, wire, value_start, value_end in _fields(buf, start, end, top=False):
        if number == 1 and wire == 0:
            dims.append(_signed(_varint(buf, value_start, value_end)[0]))
        elif number == 1 and wire == 2:
            pos = value_start
            while pos < value_end:
                dim, pos = _varint(buf, pos, value_end)
                dims.append(_signed(dim))
        elif number == 2 and wire == 0:
            data_type = _varint(buf, value_start, value_end)[0]
        elif number == 9 and wire == 2:
            raw = (value_start, value_end)
        elif number == 4 and wire == 2:
            floats = (value_start, value_end)
        elif number in (3, 13, 14):  # segment, external_data, data_location
            return None
    data = raw or floats
    count = int(np.prod(dims)) if all(dim >= 0 for dim in dims) else -1
    if data_type != _FLOAT or data is None or count < 0 or data[1] - data[0] != 4 * count:
        return None
    return np.frombuffer(bytearray(buf[data[0] : data[1]]), dtype="<f4").reshape(dims)


def first_node_names(path: Path, count: int) -> list[str]:
    """The names of the graph's first `count` nodes, the rest of the file not read; ValueError when the
    file is truncated or no ONNX model."""
    names: list[str] = []
    with path.open("rb") as stream, mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        graph = _last_field(buf, 0, len(buf), 7, top=True)
        for number, wire, start, end in _fields(buf, *graph, top=False):
            if len(names) == count:
                break
            if number == 1 and wire == 2:
                name = _last_message(buf, start, end, 3)
                names.append(bytes(buf[name[0] : name[1]]).decode("utf-8", "replace") if name else "")
    return names


def graph_summary(path: Path) -> GraphSummary:
    """The graph summary of the ONNX file at `path`; ValueError when it is truncated or no ONNX model."""
    with path.open("rb") as stream, mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        return _summarize_model(buf)


def _matches(dims: Dims, pattern: Dims) -> bool:
    """Same rank, and every fixed dimension equal (a symbolic one matches anything)."""
    return len(dims) == len(pattern) and all(
        want is None or have is None or have == want for have, want in zip(dims, pattern, strict=True)
    )


def _role_of(graph: GraphSummary) -> ModelRole | None:
    """Which slot a graph fits, by the contract of each real model."""
    ins, outs = graph.inputs, graph.outputs
    if len(ins) == 1 and _matches(ins[0], (None, 3, None, None)) and len(outs) in (6, 9, 10, 15):
        return "detector"
    if (
        len(ins) == 1
        and _matches(ins[0], (None, 3, 112, 112))
        and len(outs) == 1
        and _matches(outs[0], (None, 512))
    ):
        return "recognizer"
    if _is_inswapper(graph) or swapper_crop(graph) is not None:
        return "swapper"
    if len(ins) == 1 and _matches(ins[0], (None, 512)) and len(outs) == 1 and _matches(outs[0], (None, 512)):
        return "converter"
    return _optional_role_of(graph)


def _is_inswapper(graph: GraphSummary) -> bool:
    ins, outs = graph.inputs, graph.outputs
    return (
        len(ins) == 2
        and _matches(ins[0], (1, 3, 128, 128))
        and _matches(ins[1], (1, 512))
        and len(outs) == 1
        and _matches(outs[0], (1, 3, 128, 128))
        and graph.last_initializer == (512, 512)
    )


def swapper_crop(graph: GraphSummary) -> int | None:
    """The crop side of a swapper graph: a `target` image and a `source` (identity or image) in, the
    swapped image first out; 0 when the graph leaves the side symbolic; inswapper's 128 has its own rule
    (its emap). None for any other graph."""
    ins, outs = graph.inputs, graph.outputs
    image = (None, 3, None, None)
    if len(ins) != 2 or not outs or not _matches(outs[0], image):
        return None
    images = [dims for dims in ins if _matches(dims, image)]
    others = [dims for dims in ins if not _matches(dims, image)]
    if not images or not all(_matches(dims, (None, 512)) for dims in others):
        return None
    sides = {dim for dims in (outs[0], images[0]) for dim in dims[2:] if dim is not None}
    if len(sides) > 1 or not sides <= {256, 512}:
        return None
    return sides.pop() if sides else 0


def _optional_role_of(graph: GraphSummary) -> ModelRole | None:
    """Which optional model a graph fits: an enhancer, the occluder or the face parser."""
    ins, outs = graph.inputs, graph.outputs
    if not ins or not outs:
        return None
    if len(ins) == 1 and _matches(ins[0], (None, 256, 256, 3)) and _matches(outs[0], (None, 256, 256, 1)):
        return "occluder"
    if len(ins) == 1 and _matches(ins[0], (None, 3, 512, 512)) and _matches(outs[0], (None, 19, 512, 512)):
        return "parser"
    if len(ins) in (1, 2) and _matches(ins[0], (1, 3, 512, 512)) and _matches(outs[0], (1, 3, 512, 512)):
        return "enhancer"
    if len(ins) == 1 and any(_matches(ins[0], (1, 3, side, side)) for side in (640, 384, 448)):
        return "guard"
    return None


def _shape_text(dims: Dims) -> str:
    return "x".join("?" if dim is None else str(dim) for dim in dims) if dims else "unknown shape"


def _describe(graph: GraphSummary) -> str:
    ins = ", ".join(_shape_text(dims) for dims in graph.inputs) or "none"
    outs = ", ".join(_shape_text(dims) for dims in graph.outputs) or "none"
    return f"has inputs {ins} and outputs {outs}"


def _wrong_kind_reason(spec: ModelSpec, graph: GraphSummary, fix: str) -> str:
    role = _role_of(graph)
    known = (*MODEL_SPECS, *OPTIONAL_MODEL_SPECS, *GUARD_MODEL_SPECS)
    other = next((s for s in known if s.role == role), None)
    looks = f"looks like the {other.label} ({other.path})" if other else _describe(graph)
    return (
        f"{spec.path} holds the wrong model: it {looks}, but the {spec.label} needs {spec.shape}; "
        f"put the right file there or {fix}."
    )


def check_model_file(path: Path, spec: ModelSpec, model_dir: Path) -> GraphSummary:
    """The model's graph summary; ModelFileError unless `path` fits `spec`'s slot in `model_dir`."""
    command = download_command(model_dir) + (f" --with {spec.name}" if spec.name else "")
    fix = f"run `{command}`"
    try:
        if not path.exists():
            raise ModelFileError(
                spec.path, "missing", f"{spec.path} is missing: {fix} to fetch the model files."
            )
        if not path.is_file():
            raise ModelFileError(spec.path, "missing", f"{spec.path} is not a file: remove it and {fix}.")
        size = path.stat().st_size
        if size == 0:
            raise ModelFileError(spec.path, "truncated", f"{spec.path} is empty: {fix} to download it again.")
        with path.open("rb") as stream:
            head = stream.read(len(LFS_POINTER_PREFIX))
        if head == LFS_POINTER_PREFIX:
            raise ModelFileError(
                spec.path,
                "lfs_pointer",
                f"{spec.path} is a Git LFS pointer ({size} bytes of text), not the model: run `git lfs pull` "
                f"in the repository it came from, or {fix} to fetch the real file.",
            )
        try:
            graph = graph_summary(path)
        except _TruncatedError:
            reason = f"{spec.path} is truncated (it ends after {size:,} bytes, inside the model): {fix}."
            raise ModelFileError(spec.path, "truncated", reason) from None
        except _MalformedError:
            reason = f"{spec.path} is not an ONNX model (its content does not parse as one): {fix}."
            raise ModelFileError(spec.path, "corrupt", reason) from None
    except OSError as exc:
        reason = f"{spec.path} cannot be read ({exc.strerror}): let the service's user read it, or {fix}."
        raise ModelFileError(spec.path, "missing", reason) from exc
    fits = _role_of(graph) == spec.role
    if spec.role == "swapper":
        fits = _is_inswapper(graph) if spec.crop == 128 else swapper_crop(graph) in (spec.crop, 0)
    if not fits:
        raise ModelFileError(spec.path, "wrong_kind", _wrong_kind_reason(spec, graph, fix))
    return graph


def _check_one(model_dir: Path, spec: ModelSpec, checksums: bool) -> ModelCheck:
    path = model_dir / spec.path
    fault, synthetic = None, False
    try:
        synthetic = check_model_file(path, spec, model_dir).producer == SYNTHETIC_PRODUCER
    except ModelFileError as exc:
        fault = exc
    if not path.is_file():
        return ModelCheck(spec, None, fault)
    sha256 = file_sha256(path) if checksums else None
    return ModelCheck(spec, path.stat().st_size, fault, sha256, synthetic)


def verify_model_dir(model_dir: Path, *, checksums: bool = False) -> list[ModelCheck]:
    """Check every model file under `model_dir`; with `checksums`, also hash each file (slow: ~700 MiB)."""
    return [_check_one(model_dir, spec, checksums) for spec in MODEL_SPECS]
