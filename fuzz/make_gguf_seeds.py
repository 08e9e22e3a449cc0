#!/usr/bin/env python3
"""Writes the seed corpus of gguf_fuzz (fuzz/gguf_corpus/): small GGUF files
with every metadata value type, nested arrays, f32/f16/q8_0/q4_K tensors and a
non-default alignment, made with struct from the GGUF specification.

usage: fuzz/make_gguf_seeds.py OUT_DIR
"""
import os
import struct
import sys


def s(text):
    b = text.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, payload):
    return s(key) + struct.pack("<I", vtype) + payload


def gguf(kvs, tensors, alignment=32, version=3):
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)) + b"".join(kvs)
    data = b""
    for name, dims, ttype, blob in tensors:
        while len(data) % alignment:
            data += b"\0"
        out += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ttype, len(data))
        data += blob
    while len(out) % alignment:
        out += b"\0"
    return out + data


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    scalars = [kv("u8", 0, b"\x07"), kv("i8", 1, b"\xff"), kv("u16", 2, b"\x01\x02"), kv("i16", 3, b"\xfe\xff"),
               kv("u32", 4, struct.pack("<I", 9)), kv("i32", 5, struct.pack("<i", -9)),
               kv("f32", 6, struct.pack("<f", 0.5)), kv("bool", 7, b"\x01"), kv("general.name", 8, s("seed")),
               kv("u64", 10, struct.pack("<Q", 2**63 + 5)), kv("i64", 11, struct.pack("<q", -5)),
               kv("f64", 12, struct.pack("<d", 1e-300))]
    arrays = [kv("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 3) + s("a") + s("<s>") + s("\u0120t")),
              kv("tokenizer.ggml.scores", 9, struct.pack("<IQ", 6, 2) + struct.pack("<ff", -1, -2)),
              kv("nested", 9, struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 5, 2) + struct.pack("<ii", 1, 2))]
    seeds = {
        "empty.seed": gguf([], []),
        "v2.seed": gguf([kv("general.architecture", 8, s("llama"))], [], version=2),
        "values.seed": gguf(scalars + arrays, []),
        "tensors.seed": gguf([kv("general.architecture", 8, s("llama"))],
                             [("token_embd.weight", [4, 2], 0, bytes(32)), ("b", [3], 1, bytes(6)),
                              ("blk.0.attn_q.weight", [32, 1], 8, bytes(34))]),
        "aligned64.seed": gguf([kv("general.alignment", 4, struct.pack("<I", 64))],
                               [("a", [8], 0, bytes(32)), ("k", [256], 12, bytes(144))], alignment=64),
    }
    for name, blob in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    main()
