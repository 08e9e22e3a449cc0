"""Pure-Python safetensors reader and writer (struct + json + numpy + torch).

Independent of the C++ in src/model: this is what the reference fixtures are
written with, and what the reference reads checkpoints with.

File layout (Hugging Face safetensors):
  bytes [0, 8)       header length N, unsigned 64-bit little-endian
  bytes [8, 8+N)     JSON header: {"__metadata__": {str: str},
                                   name: {"dtype": "F32", "shape": [..],
                                          "data_offsets": [begin, end]}, ...}
                     padded with spaces so that 8 + N is a multiple of 8
  bytes [8+N, ...)   the byte buffer; data_offsets are relative to its start,
                     tensors are little-endian, row-major, contiguous.

BF16 has no numpy dtype, so it moves through int16 bit patterns with
torch's same-size Tensor.view(dtype).
"""

import json
import mmap
import os
import struct

import numpy as np
import torch

# dtype name -> (torch dtype, bytes per element)
DTYPES = {
    "F64": (torch.float64, 8),
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "I64": (torch.int64, 8),
    "I32": (torch.int32, 4),
    "I16": (torch.int16, 2),
    "I8": (torch.int8, 1),
    "U8": (torch.uint8, 1),
    "BOOL": (torch.bool, 1),
}
_NAME_OF = {tdtype: name for name, (tdtype, _) in DTYPES.items()}
# Same-size integer view used to move bytes through numpy.
_BITS_VIEW = {torch.bfloat16: torch.int16}

MAX_HEADER_BYTES = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    pass


def _tensor_bytes(t):
    """Little-endian row-major bytes of a CPU tensor."""
    t = t.detach().cpu().contiguous()
    if t.dtype in _BITS_VIEW:
        t = t.view(_BITS_VIEW[t.dtype])
    a = t.numpy()
    if a.dtype.byteorder == ">":
        a = a.byteswap().newbyteorder()
    return a.tobytes(order="C")


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def build_header(specs, metadata=None):
    """specs: list of (name, dtype_name, shape). Returns (header bytes incl. the
    8-byte length prefix, {name: (begin, end)}), data placed in the given order."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offsets = {}
    pos = 0
    for name, dtype_name, shape in specs:
        if name == "__metadata__":
            raise SafetensorsError("'__metadata__' is reserved and cannot name a tensor")
        if name in header:
            raise SafetensorsError(f"duplicate tensor name {name!r}")
        size = _numel(shape) * DTYPES[dtype_name][1]
        header[name] = {"dtype": dtype_name, "shape": list(shape), "data_offsets": [pos, pos + size]}
        offsets[name] = (pos, pos + size)
        pos += size
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    return struct.pack("<Q", len(text)) + text, offsets


def write_safetensors(path, tensors, metadata=None):
    """Write {name: torch.Tensor} (in dict order) atomically: temp file, fsync, rename.

    metadata defaults to {"format": "pt"} as Hugging Face writes it."""
    if metadata is None:
        metadata = {"format": "pt"}
    specs = []
    for name, t in tensors.items():
        if t.dtype not in _NAME_OF:
            raise SafetensorsError(f"tensor {name!r}: dtype {t.dtype} is not supported")
        specs.append((name, _NAME_OF[t.dtype], tuple(t.shape)))
    write_safetensors_streaming(path, specs, lambda name: tensors[name], metadata)


def write_safetensors_streaming(path, specs, produce, metadata=None):
    """Write tensors one at a time so a multi-GB file never sits in memory.

    specs: list of (name, dtype_name, shape); produce(name) -> torch.Tensor of that
    dtype and shape, called once per tensor in spec order."""
    if metadata is None:
        metadata = {"format": "pt"}
    header, offsets = build_header(specs, metadata)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(header)
            for name, dtype_name, shape in specs:
                t = produce(name)
                if _NAME_OF.get(t.dtype) != dtype_name or tuple(t.shape) != tuple(shape):
                    raise SafetensorsError(
                        f"tensor {name!r}: produced {t.dtype} {tuple(t.shape)}, "
                        f"header says {dtype_name} {tuple(shape)}")
                data = _tensor_bytes(t)
                begin, end = offsets[name]
                if len(data) != end - begin:
                    raise SafetensorsError(f"tensor {name!r}: {len(data)} bytes, expected {end - begin}")
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def parse_header(buf, file_size, path="<buffer>"):
    """Validate the header of a safetensors file; returns (metadata, {name: info}, data start)."""
    if file_size < 8:
        raise SafetensorsError(f"{path}: {file_size} bytes, too short for the 8-byte header length")
    (n,) = struct.unpack("<Q", bytes(buf[:8]))
    if n > MAX_HEADER_BYTES or 8 + n > file_size:
        raise SafetensorsError(f"{path}: header length {n} does not fit in a file of {file_size} bytes")
    try:
        header = json.loads(bytes(buf[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    data_start = 8 + n
    data_size = file_size - data_start
    ranges = []
    for name, info in header.items():
        if not isinstance(info, dict) or info.get("dtype") not in DTYPES:
            raise SafetensorsError(f"{path}: tensor {name!r}: missing or unknown dtype")
        shape, offs = info.get("shape"), info.get("data_offsets")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise SafetensorsError(f"{path}: tensor {name!r}: bad shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) for o in offs)):
            raise SafetensorsError(f"{path}: tensor {name!r}: bad data_offsets {offs!r}")
        begin, end = offs
        if not 0 <= begin <= end <= data_size:
            raise SafetensorsError(
                f"{path}: tensor {name!r}: bytes [{begin}, {end}) outside the data ({data_size} bytes)")
        want = _numel(shape) * DTYPES[info["dtype"]][1]
        if end - begin != want:
            raise SafetensorsError(
                f"{path}: tensor {name!r}: {end - begin} bytes for {info['dtype']} {shape} (needs {want})")
        ranges.append((begin, end, name))
    ranges.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(ranges, ranges[1:]):
        if b1 < e0:
            raise SafetensorsError(f"{path}: tensors {n0!r} and {n1!r} overlap")
    return metadata, header, data_start


def _decode(buf, start, info):
    tdtype, _ = DTYPES[info["dtype"]]
    begin, end = info["data_offsets"]
    view_dtype = _BITS_VIEW.get(tdtype, tdtype)
    np_dtype = torch.empty(0, dtype=view_dtype).numpy().dtype.newbyteorder("<")
    a = np.frombuffer(buf, dtype=np_dtype, count=(end - begin) // np_dtype.itemsize, offset=start + begin)
    t = torch.from_numpy(a.astype(np_dtype.newbyteorder("="), copy=True)).reshape(info["shape"])
    return t.view(tdtype) if view_dtype != tdtype else t


def read_safetensors(path, with_metadata=False):
    """Read a whole file: {name: torch.Tensor} (own memory, file order of offsets)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if size == 0:
            raise SafetensorsError(f"{path}: empty file")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            metadata, header, start = parse_header(buf, size, path)
            names = sorted(header, key=lambda k: header[k]["data_offsets"][0])
            tensors = {name: _decode(buf, start, header[name]) for name in names}
    return (tensors, metadata) if with_metadata else tensors


def read_checkpoint_tensors(directory):
    """All tensors of a Hugging Face checkpoint dir: model.safetensors, or the shards
    that model.safetensors.index.json lists."""
    index = os.path.join(directory, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        tensors = {}
        for shard in sorted(set(weight_map.values())):
            tensors.update(read_safetensors(os.path.join(directory, shard)))
        return tensors
    return read_safetensors(os.path.join(directory, "model.safetensors"))
