"""An independent GGUF reader, written from the GGUF specification (ggml's
docs/gguf.md) with struct only, to check what flywheel's writer produces.

    /usr/bin/python3 tests/reference/gguf_reference.py FILE.gguf > out.json

prints {"version", "alignment", "data_offset", "metadata": {key: {"type", "value"}},
"tensors": [{"name", "dims", "type", "offset", "hex"}]} where an array value is
{"element_type", "items"} and "hex" is the tensor's bytes (read from the data
section at its offset, size from the ggml type's block layout). Exits 1 with a
message on any violation of the format (the checks are the spec's, not
flywheel's code).
"""

import json
import struct
import sys

VALUE_TYPES = {
    0: ("uint8", "<B"), 1: ("int8", "<b"), 2: ("uint16", "<H"), 3: ("int16", "<h"),
    4: ("uint32", "<I"), 5: ("int32", "<i"), 6: ("float32", "<f"), 7: ("bool", "<?"),
    8: ("string", None), 9: ("array", None), 10: ("uint64", "<Q"), 11: ("int64", "<q"),
    12: ("float64", "<d"),
}
# ggml type id -> (name, values per block, bytes per block), from ggml-common.h.
GGML_TYPES = {
    0: ("f32", 1, 4), 1: ("f16", 1, 2), 2: ("q4_0", 32, 18), 8: ("q8_0", 32, 34),
    12: ("q4_K", 256, 144), 13: ("q5_K", 256, 176), 14: ("q6_K", 256, 210),
    15: ("q8_K", 256, 292), 30: ("bf16", 1, 2),
}


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n, what):
        if self.pos + n > len(self.data):
            raise ValueError(f"{what} past the end of the file")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt, what):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what):
        n = self.unpack("<Q", what + " length")
        return self.take(n, what).decode("utf-8")

    def value(self, vtype, what):
        if vtype not in VALUE_TYPES:
            raise ValueError(f"{what}: unknown value type {vtype}")
        name, fmt = VALUE_TYPES[vtype]
        if name == "string":
            return self.string(what)
        if name == "array":
            etype = self.unpack("<I", what + " element type")
            count = self.unpack("<Q", what + " count")
            return {"element_type": VALUE_TYPES[etype][0],
                    "items": [self.value(etype, what) for _ in range(count)]}
        return self.unpack(fmt, what)


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    r = Reader(data)
    if r.take(4, "magic") != b"GGUF":
        raise ValueError("bad magic")
    version = r.unpack("<I", "version")
    if version not in (2, 3):
        raise ValueError(f"version {version}")
    n_tensors = r.unpack("<Q", "tensor_count")
    n_kv = r.unpack("<Q", "metadata_kv_count")
    metadata = {}
    for _ in range(n_kv):
        key = r.string("key")
        vtype = r.unpack("<I", key + " type")
        if key in metadata:
            raise ValueError(f"duplicate key {key}")
        metadata[key] = {"type": VALUE_TYPES[vtype][0] if vtype in VALUE_TYPES else vtype,
                         "value": r.value(vtype, key)}
    alignment = metadata.get("general.alignment", {"value": 32})["value"]
    infos = []
    for _ in range(n_tensors):
        name = r.string("tensor name")
        n_dims = r.unpack("<I", name + " n_dims")
        dims = [r.unpack("<Q", name + " dim") for _ in range(n_dims)]
        ttype = r.unpack("<I", name + " type")
        offset = r.unpack("<Q", name + " offset")
        if ttype not in GGML_TYPES:
            raise ValueError(f"{name}: unknown type {ttype}")
        if offset % alignment:
            raise ValueError(f"{name}: offset {offset} not aligned")
        infos.append((name, dims, ttype, offset))
    data_offset = (r.pos + alignment - 1) // alignment * alignment
    if any(b != 0 for b in data[r.pos:data_offset]):
        raise ValueError("padding before the data section is not zero")
    tensors = []
    end = 0
    for name, dims, ttype, offset in sorted(infos, key=lambda t: t[3]):
        _, block, block_bytes = GGML_TYPES[ttype]
        count = 1
        for d in dims:
            count *= d
        if dims[0] % block:
            raise ValueError(f"{name}: ne0 {dims[0]} not a multiple of {block}")
        size = count // block * block_bytes
        if offset < end:
            raise ValueError(f"{name} overlaps the tensor before it")
        if data_offset + offset + size > len(data):
            raise ValueError(f"{name} past the end of the file")
        end = offset + size
    for name, dims, ttype, offset in infos:
        _, block, block_bytes = GGML_TYPES[ttype]
        count = 1
        for d in dims:
            count *= d
        size = count // block * block_bytes
        begin = data_offset + offset
        tensors.append({"name": name, "dims": dims, "type": GGML_TYPES[ttype][0], "offset": offset,
                        "hex": data[begin:begin + size].hex()})
    return {"version": version, "alignment": alignment, "data_offset": data_offset,
            "metadata": metadata, "tensors": tensors}


def main():
    try:
        out = read(sys.argv[1])
    except (ValueError, UnicodeDecodeError, KeyError) as e:
        print(f"gguf_reference: {e}", file=sys.stderr)
        sys.exit(1)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
