"""Dequantize ggml Q8_0 / Q4_0 rows with numpy, written from the published layout.

Q8_0 block (34 bytes): float16 d, int8 q[32]; x[j] = d * q[j].
Q4_0 block (18 bytes): float16 d, uint8 qs[16]; x[j] = d * ((qs[j] & 15) - 8),
x[j + 16] = d * ((qs[j] >> 4) - 8) for j < 16.
Usage: ggml_blocks_reference.py q8_0|q4_0 IN.bin OUT.f32
"""
import sys

import numpy as np


def dequantize(kind, raw):
    if kind == "q8_0":
        blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("q", "i1", 32)]))
        return (blocks["d"].astype(np.float32)[:, None] * blocks["q"].astype(np.float32)).reshape(-1)
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]))
    lo = (blocks["qs"] & 15).astype(np.int32) - 8
    hi = (blocks["qs"] >> 4).astype(np.int32) - 8
    q = np.concatenate([lo, hi], axis=1).astype(np.float32)
    return (blocks["d"].astype(np.float32)[:, None] * q).reshape(-1)


if __name__ == "__main__":
    kind, src, dst = sys.argv[1:4]
    with open(src, "rb") as f:
        out = dequantize(kind, f.read())
    out.astype("<f4").tofile(dst)
