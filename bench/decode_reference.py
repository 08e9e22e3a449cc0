"""PyTorch eager decode baseline for bench/decode: the same checkpoint, the same
thread count, measured with a simple preallocated KV cache.

    /usr/bin/python3 bench/decode_reference.py --model DIR [--threads 2]
        [--prompt-len 128] [--decode-tokens 32] [--batch-sizes 1,8] [--dtypes fp32,bf16]

prints one JSON object (see `report` below). Figures:
  prefill_tokens_per_s  batch * prompt_len / seconds for the prompt forward
                        (lm_head applied to the last position only)
  decode_tokens_per_s   batch * decode_tokens / seconds for the greedy steps after it
                        (one token per sequence per step, cache of prompt_len + step)
Each figure is the best of --repeats runs after one warm-up run.

dtypes:
  fp32              weights and activations fp32
  bf16              every weight bf16 and activations bf16 (HF `torch_dtype=bfloat16`:
                    RMSNorm and softmax in fp32, matmuls in bf16)
  bf16-fp32compute  weights kept bf16, each matmul upcasts its weight to fp32

    /usr/bin/python3 bench/decode_reference.py --create-qwen05b DIR [--create-dtype fp32]

writes a random-init model shaped like Qwen2.5-Coder-0.5B (hidden 896, FFN 4864, 24
layers, 14 heads, 2 KV heads, head_dim 64, vocab 151936, tied embeddings, qkv bias,
rope_theta 1e6) in checkpoint layout (config.json, generation_config.json,
model.safetensors: ~2.0 GB fp32) so that bench/decode and this script read the same
weights. Add --model DIR as well to benchmark it in the same call.

--verify checks this script's cached forward against tests/reference/llama_reference.py
(full recomputation, fp32) before timing, and reports the max logit difference.
"""

import argparse
import json
import math
import os
import platform
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import llama_reference as ref  # noqa: E402
from safetensors_io import read_checkpoint_tensors, write_safetensors_streaming  # noqa: E402

QWEN05B_CONFIG = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rope_scaling": None,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
    "hidden_act": "silu",
    "initializer_range": 0.02,
    "use_sliding_window": False,
    "sliding_window": None,
    "max_window_layers": 24,
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151643,
    "use_cache": True,
    "torch_dtype": "float32",
    "transformers_version": "4.45.0",
}


# ---------------------------------------------------------------- model creation

def create_qwen05b(directory, dtype_name="fp32", seed=0):
    """Random-init Qwen2.5-Coder-0.5B-shaped checkpoint, written one tensor at a time."""
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    os.makedirs(directory, exist_ok=True)
    config_dict = dict(QWEN05B_CONFIG, torch_dtype={"fp32": "float32", "bf16": "bfloat16"}[dtype_name])
    config = ref.Config(config_dict)
    shapes = ref.expected_shapes(config)
    gen = torch.Generator().manual_seed(seed)

    def produce(name):
        shape = shapes[name]
        if name.endswith("norm.weight"):
            t = 1.0 + 0.1 * torch.randn(*shape, generator=gen)
        elif name.endswith(".bias"):
            t = 0.1 * torch.randn(*shape, generator=gen)
        else:
            t = 0.02 * torch.randn(*shape, generator=gen)
        return t.to(dtype)

    name_of = {torch.float32: "F32", torch.bfloat16: "BF16"}[dtype]
    specs = [(name, name_of, shape) for name, shape in shapes.items()]
    started = time.time()
    write_safetensors_streaming(os.path.join(directory, "model.safetensors"), specs, produce)
    for fname, obj in (("config.json", config_dict),
                       ("generation_config.json", {"bos_token_id": config_dict["bos_token_id"],
                                                   "eos_token_id": config_dict["eos_token_id"],
                                                   "do_sample": False})):
        with open(os.path.join(directory, fname), "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
    params = sum(math.prod(s) for s in shapes.values())
    print(f"wrote {directory}: {params / 1e6:.1f} M parameters, {dtype_name}, "
          f"{time.time() - started:.1f} s", file=sys.stderr)


# ---------------------------------------------------------------- cached model

class CachedModel:
    """Llama/Qwen2/Mistral decoder with a preallocated KV cache per layer:
    k, v [B, kv_heads, max_len, D]. forward(ids [B, T], start) appends T positions."""

    def __init__(self, params, config, mode):
        self.c = config
        self.mode = mode
        wdtype = torch.float32 if mode == "fp32" else torch.bfloat16
        self.act = torch.bfloat16 if mode == "bf16" else torch.float32
        self.p = {k: v.to(wdtype).contiguous() for k, v in params.items()}
        # Norm weights and biases are small; keep them in the activation dtype.
        for k in self.p:
            if k.endswith("norm.weight") or k.endswith(".bias"):
                self.p[k] = self.p[k].to(torch.float32 if k.endswith("norm.weight") else self.act)
        self.head = self.p["model.embed_tokens.weight"] if config.tie_word_embeddings else self.p["lm_head.weight"]
        self.cache = None

    def weight_bytes_per_token(self):
        """Bytes of weights a decode step reads: all matrices except the embedding rows
        (one row per token), plus the head (the embedding itself when tied)."""
        total = 0
        for k, v in self.p.items():
            if k == "model.embed_tokens.weight" and not self.c.tie_word_embeddings:
                continue
            total += v.numel() * v.element_size()
        return total

    def linear(self, x, w, b=None):
        if self.mode == "bf16-fp32compute":
            w = w.to(torch.float32)
        return F.linear(x, w, b)

    def reset(self, batch, max_len):
        c = self.c
        shape = (batch, c.num_key_value_heads, max_len, c.head_dim)
        self.cache = [(torch.zeros(shape, dtype=self.act), torch.zeros(shape, dtype=self.act))
                      for _ in range(c.num_hidden_layers)]
        cos, sin = ref.rope_cos_sin(c, torch.arange(max_len))
        self.cos, self.sin = cos.to(self.act), sin.to(self.act)

    def norm(self, x, w):
        x32 = x.to(torch.float32)
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.c.rms_norm_eps)
        return (w * x32).to(self.act)

    def attention(self, layer, x, start):
        c = self.c
        b, t, _ = x.shape
        nh, nkv, d = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        g = nh // nkv
        pre = f"model.layers.{layer}.self_attn"
        bias = (lambda n: self.p[f"{pre}.{n}.bias"]) if c.attention_bias else (lambda n: None)
        q = self.linear(x, self.p[f"{pre}.q_proj.weight"], bias("q_proj")).view(b, t, nh, d).transpose(1, 2)
        k = self.linear(x, self.p[f"{pre}.k_proj.weight"], bias("k_proj")).view(b, t, nkv, d).transpose(1, 2)
        v = self.linear(x, self.p[f"{pre}.v_proj.weight"], bias("v_proj")).view(b, t, nkv, d).transpose(1, 2)
        cos, sin = self.cos[start:start + t], self.sin[start:start + t]
        q = ref.apply_rope(q, cos, sin)
        k = ref.apply_rope(k, cos, sin)
        kc, vc = self.cache[layer]
        kc[:, :, start:start + t] = k
        vc[:, :, start:start + t] = v
        end = start + t
        keys, values = kc[:, :, :end], vc[:, :, :end]
        # Grouped-query attention without copying K/V: [B, kv, g*T, D] queries per kv head.
        qg = q.reshape(b, nkv, g * t, d)
        scores = torch.matmul(qg, keys.transpose(-1, -2)).to(torch.float32) * (1.0 / math.sqrt(d))
        if t > 1:
            mask = torch.ones(t, end, dtype=torch.bool).tril(diagonal=start)
            scores = scores.view(b, nkv, g, t, end).masked_fill(~mask, float("-inf")).view(b, nkv, g * t, end)
        probs = torch.softmax(scores, dim=-1).to(self.act)
        out = torch.matmul(probs, values).view(b, nh, t, d).transpose(1, 2).reshape(b, t, nh * d)
        return self.linear(out, self.p[f"{pre}.o_proj.weight"])

    def mlp(self, layer, x):
        pre = f"model.layers.{layer}.mlp"
        gate = self.linear(x, self.p[f"{pre}.gate_proj.weight"])
        up = self.linear(x, self.p[f"{pre}.up_proj.weight"])
        return self.linear(F.silu(gate) * up, self.p[f"{pre}.down_proj.weight"])

    def forward(self, ids, start, all_logits=False):
        """ids [B, T] at positions start..start+T-1 -> logits [B, V] of the last position
        (or [B, T, V] with all_logits), fp32."""
        h = self.p["model.embed_tokens.weight"][ids].to(self.act)
        for layer in range(self.c.num_hidden_layers):
            pre = f"model.layers.{layer}"
            h = h + self.attention(layer, self.norm(h, self.p[f"{pre}.input_layernorm.weight"]), start)
            h = h + self.mlp(layer, self.norm(h, self.p[f"{pre}.post_attention_layernorm.weight"]))
        if not all_logits:
            h = h[:, -1:]
        logits = self.linear(self.norm(h, self.p["model.norm.weight"]), self.head).to(torch.float32)
        return logits if all_logits else logits[:, 0]


# ---------------------------------------------------------------- measurement

def verify(params, config, prompt_len=12, steps=4):
    """Cached prefill + decode (fp32) vs the reference's full recomputation."""
    model = CachedModel(params, config, "fp32")
    ids = torch.randint(0, config.vocab_size, (1, prompt_len), generator=torch.Generator().manual_seed(0))
    model.reset(1, prompt_len + steps)
    with torch.inference_mode():
        got = [model.forward(ids, 0, all_logits=True)[0]]
        seq = ids[0].tolist()
        for i in range(steps):
            token = int(got[-1][-1].argmax())
            seq.append(token)
            got.append(model.forward(torch.tensor([[token]]), prompt_len + i, all_logits=True)[0])
    got = torch.cat(got)
    want = ref.forward(params, config, torch.tensor(seq))
    return float((got - want).abs().max())


def measure(model, batch, prompt_len, decode_tokens, repeats, seed=0):
    gen = torch.Generator().manual_seed(seed)
    prompt = torch.randint(0, model.c.vocab_size, (batch, prompt_len), generator=gen)
    best_prefill, best_decode = float("inf"), float("inf")
    with torch.inference_mode():
        for run in range(repeats + 1):  # run 0 warms up
            model.reset(batch, prompt_len + decode_tokens)
            t0 = time.perf_counter()
            logits = model.forward(prompt, 0)
            t1 = time.perf_counter()
            for step in range(decode_tokens):
                token = logits.argmax(-1, keepdim=True)
                logits = model.forward(token, prompt_len + step)
            t2 = time.perf_counter()
            if run:
                best_prefill, best_decode = min(best_prefill, t1 - t0), min(best_decode, t2 - t1)
    return {
        "batch": batch,
        "prefill_s": best_prefill,
        "prefill_tokens_per_s": batch * prompt_len / best_prefill,
        "decode_s": best_decode,
        "decode_tokens_per_s": batch * decode_tokens / best_decode if decode_tokens else None,
        "decode_ms_per_step": 1e3 * best_decode / decode_tokens if decode_tokens else None,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description="PyTorch eager prefill/decode baseline (JSON on stdout).")
    ap.add_argument("--model", help="checkpoint dir (config.json + model.safetensors)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--decode-tokens", type=int, default=32)
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--dtypes", default="fp32,bf16", help="comma list of fp32, bf16, bf16-fp32compute")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs after one warm-up; best is reported")
    ap.add_argument("--verify", action="store_true", help="check the cached forward against the reference first")
    ap.add_argument("--create-qwen05b", metavar="DIR", help="write the random-init 0.5B-shaped model to DIR")
    ap.add_argument("--create-dtype", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    if args.create_qwen05b:
        create_qwen05b(args.create_qwen05b, args.create_dtype, args.seed)
    if not args.model:
        if args.create_qwen05b:
            return 0
        ap.error("--model DIR is required (or --create-qwen05b DIR)")

    torch.set_num_threads(args.threads)
    started = time.time()
    config = ref.Config.load(args.model)
    params = {k: v for k, v in read_checkpoint_tensors(args.model).items()}
    ref.check_params(params, config)
    load_s = time.time() - started
    stored = sorted({str(v.dtype).replace("torch.", "") for v in params.values()})
    report = {
        "reference": "pytorch-eager",
        "torch": torch.__version__,
        "model": os.path.abspath(args.model),
        "model_type": config.model_type,
        "parameters": sum(v.numel() for v in params.values()),
        "stored_dtypes": stored,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "prompt_len": args.prompt_len,
        "decode_tokens": args.decode_tokens,
        "load_s": load_s,
        "results": [],
    }
    if args.verify:
        report["verify_max_abs_logit_diff_fp32"] = verify({k: v.to(torch.float32) for k, v in params.items()},
                                                          config)
    for mode in args.dtypes.split(","):
        if mode not in ("fp32", "bf16", "bf16-fp32compute"):
            ap.error(f"unknown dtype {mode!r}")
        model = CachedModel(params, config, mode)
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            row = {"dtype": mode, "weight_bytes_per_decode_step": model.weight_bytes_per_token()}
            row.update(measure(model, batch, args.prompt_len, args.decode_tokens, args.repeats, args.seed))
            if row["decode_ms_per_step"]:
                # Weight bytes read per step over its time: compare with the machine's bandwidth.
                row["decode_weight_GB_per_s"] = row["weight_bytes_per_decode_step"] / row["decode_ms_per_step"] / 1e6
            report["results"].append(row)
            print(f"{mode:>16} batch {batch}: prefill {row['prefill_tokens_per_s']:.1f} tok/s, "
                  f"decode {row['decode_tokens_per_s'] or 0:.2f} tok/s", file=sys.stderr)
        del model
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
