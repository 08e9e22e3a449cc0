"""Independent reference forward pass of the Hugging Face Llama / Qwen2 / Mistral
decoder, written from the published modeling math (not from flywheel's C++).

Everything is computed in fp32 on CPU, one sequence at a time or a batch of
equal-length sequences, with no KV cache: generation recomputes the whole
sequence each step so that it shares nothing with an incremental decoder.

Parameters use Hugging Face names:
  model.embed_tokens.weight                          [V, H]
  model.layers.N.input_layernorm.weight              [H]
  model.layers.N.self_attn.q_proj.weight             [heads*D, H]   (+ .bias [heads*D] for qwen2)
  model.layers.N.self_attn.k_proj.weight             [kv*D, H]      (+ .bias [kv*D])
  model.layers.N.self_attn.v_proj.weight             [kv*D, H]      (+ .bias [kv*D])
  model.layers.N.self_attn.o_proj.weight             [H, heads*D]
  model.layers.N.post_attention_layernorm.weight     [H]
  model.layers.N.mlp.gate_proj.weight                [I, H]
  model.layers.N.mlp.up_proj.weight                  [I, H]
  model.layers.N.mlp.down_proj.weight                [H, I]
  model.norm.weight                                  [H]
  lm_head.weight                                     [V, H]  (absent when tie_word_embeddings)
with H = hidden_size, I = intermediate_size, V = vocab_size, D = head_dim.
"""

import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_checkpoint_tensors  # noqa: E402

SUPPORTED_MODEL_TYPES = ("llama", "qwen2", "mistral")


class Config:
    """The fields of a Hugging Face config.json that the forward pass reads."""

    def __init__(self, d):
        self.raw = dict(d)
        self.model_type = d.get("model_type", "llama")
        if self.model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(f"model_type {self.model_type!r} is not one of {SUPPORTED_MODEL_TYPES}")
        self.hidden_size = int(d["hidden_size"])
        self.intermediate_size = int(d["intermediate_size"])
        self.num_hidden_layers = int(d["num_hidden_layers"])
        self.num_attention_heads = int(d["num_attention_heads"])
        self.num_key_value_heads = int(d.get("num_key_value_heads") or self.num_attention_heads)
        head_dim = d.get("head_dim")
        self.head_dim = int(head_dim) if head_dim else self.hidden_size // self.num_attention_heads
        self.rope_theta = float(d.get("rope_theta", 10000.0))
        self.rope_scaling = d.get("rope_scaling")
        self.rms_norm_eps = float(d.get("rms_norm_eps", 1e-6))
        self.tie_word_embeddings = bool(d.get("tie_word_embeddings", False))
        self.vocab_size = int(d["vocab_size"])
        self.max_position_embeddings = int(d.get("max_position_embeddings", 2048))
        # Qwen2 always has q/k/v bias; Llama has it when attention_bias is set.
        self.attention_bias = self.model_type == "qwen2" or bool(d.get("attention_bias", False))
        self.bos_token_id = d.get("bos_token_id")
        self.eos_token_id = d.get("eos_token_id")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")

    @staticmethod
    def load(directory):
        with open(os.path.join(directory, "config.json")) as f:
            return Config(json.load(f))


# ---------------------------------------------------------------- rotary

def rope_inv_freq(config):
    """inv_freq [D/2] (fp32) and the factor positions are divided by.

    inv_freq[i] = 1 / theta^(2i/D). rope_scaling:
      none / default  unchanged
      linear          positions / factor (returned as position_scale)
      llama3          per-frequency: wavelengths longer than
                      original_max_position_embeddings / low_freq_factor are divided by
                      factor, shorter than original / high_freq_factor kept, in between
                      interpolated with smooth = (original / wavelength - low) / (high - low).
    """
    d = config.head_dim
    exponents = torch.arange(0, d, 2, dtype=torch.int64).to(torch.float32) / d
    inv_freq = 1.0 / (config.rope_theta ** exponents)
    position_scale = 1.0
    scaling = config.rope_scaling
    kind = None
    if scaling:
        kind = scaling.get("rope_type", scaling.get("type"))
    if kind in (None, "default"):
        pass
    elif kind == "linear":
        position_scale = float(scaling["factor"])
    elif kind == "llama3":
        factor = float(scaling["factor"])
        low = float(scaling["low_freq_factor"])
        high = float(scaling["high_freq_factor"])
        original = float(scaling["original_max_position_embeddings"])
        low_freq_wavelen = original / low
        high_freq_wavelen = original / high
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth = (original / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
        inv_freq = torch.where(medium, smoothed, scaled)
    else:
        raise ValueError(f"rope_scaling type {kind!r} is not supported (none, linear, llama3)")
    return inv_freq.to(torch.float32), position_scale


def rope_cos_sin(config, positions):
    """cos, sin [T, D] for integer positions [T]: angle = (pos / scale) * inv_freq,
    duplicated over both halves (rotate-half convention)."""
    inv_freq, scale = rope_inv_freq(config)
    pos = positions.to(torch.float32)
    if scale != 1.0:
        pos = pos / scale
    freqs = pos[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x, cos, sin):
    """x [..., T, D] -> x*cos + rotate_half(x)*sin."""
    return x * cos + rotate_half(x) * sin


# ---------------------------------------------------------------- blocks

def rms_norm(x, weight, eps):
    """x [.., H]: x * rsqrt(mean(x^2) + eps) * weight, in fp32."""
    x = x.to(torch.float32)
    return weight.to(torch.float32) * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def linear(x, weight, bias=None):
    """x [.., in] @ weight[out, in]^T (+ bias)."""
    y = torch.matmul(x, weight.t())
    return y + bias if bias is not None else y


def repeat_kv(x, n_rep):
    """[B, kv, T, D] -> [B, kv*n_rep, T, D]; head h reads kv head h // n_rep."""
    if n_rep == 1:
        return x
    b, kv, t, d = x.shape
    return x[:, :, None, :, :].expand(b, kv, n_rep, t, d).reshape(b, kv * n_rep, t, d)


def attention(p, prefix, config, x, cos, sin):
    """x [B, T, H] (already normed) -> [B, T, H], causal, grouped-query."""
    b, t, _ = x.shape
    nh, nkv, d = config.num_attention_heads, config.num_key_value_heads, config.head_dim
    bias = (lambda n: p[f"{prefix}.{n}.bias"]) if config.attention_bias else (lambda n: None)
    q = linear(x, p[f"{prefix}.q_proj.weight"], bias("q_proj")).view(b, t, nh, d).transpose(1, 2)
    k = linear(x, p[f"{prefix}.k_proj.weight"], bias("k_proj")).view(b, t, nkv, d).transpose(1, 2)
    v = linear(x, p[f"{prefix}.v_proj.weight"], bias("v_proj")).view(b, t, nkv, d).transpose(1, 2)
    q = apply_rope(q, cos, sin)
    k = apply_rope(k, cos, sin)
    k = repeat_kv(k, nh // nkv)
    v = repeat_kv(v, nh // nkv)
    scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(d))
    causal = torch.ones(t, t, dtype=torch.bool).tril()
    scores = scores.masked_fill(~causal, float("-inf"))
    probs = torch.softmax(scores.to(torch.float32), dim=-1)
    out = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, nh * d)
    return linear(out, p[f"{prefix}.o_proj.weight"])


def mlp(p, prefix, x):
    """SwiGLU: down(silu(gate(x)) * up(x))."""
    gate = linear(x, p[f"{prefix}.gate_proj.weight"])
    up = linear(x, p[f"{prefix}.up_proj.weight"])
    return linear(torch.nn.functional.silu(gate) * up, p[f"{prefix}.down_proj.weight"])


def lm_head_weight(params, config):
    if config.tie_word_embeddings:
        return params["model.embed_tokens.weight"]
    return params["lm_head.weight"]


def final_hidden(params, config, input_ids):
    """input_ids [T] or [B, T] (int) -> final-normed hidden states [B, T, H] (fp32)."""
    ids = torch.as_tensor(input_ids, dtype=torch.int64)
    if ids.dim() == 1:
        ids = ids[None, :]
    p = {k: v.to(torch.float32) for k, v in params.items()}
    t = ids.shape[1]
    if t == 0:
        raise ValueError("empty sequence")
    if int(ids.min()) < 0 or int(ids.max()) >= config.vocab_size:
        raise ValueError("token id outside the vocabulary")
    cos, sin = rope_cos_sin(config, torch.arange(t))
    h = p["model.embed_tokens.weight"][ids]
    for i in range(config.num_hidden_layers):
        pre = f"model.layers.{i}"
        h = h + attention(p, f"{pre}.self_attn", config,
                          rms_norm(h, p[f"{pre}.input_layernorm.weight"], config.rms_norm_eps), cos, sin)
        h = h + mlp(p, f"{pre}.mlp", rms_norm(h, p[f"{pre}.post_attention_layernorm.weight"], config.rms_norm_eps))
    return rms_norm(h, p["model.norm.weight"], config.rms_norm_eps)


@torch.inference_mode()
def forward(params, config, input_ids):
    """Logits [T, V] for ids [T], or [B, T, V] for ids [B, T] (fp32)."""
    ids = torch.as_tensor(input_ids, dtype=torch.int64)
    h = final_hidden(params, config, ids)
    logits = linear(h, lm_head_weight(params, config).to(torch.float32))
    return logits[0] if ids.dim() == 1 else logits


@torch.inference_mode()
def greedy_generate(params, config, prompt, n_new, stop_at_eos=False):
    """Greedy decode by full recomputation. Returns (new tokens, top-1 minus top-2
    logit margin at each step) so callers can reject near-ties."""
    ids = [int(i) for i in prompt]
    new, margins = [], []
    for _ in range(n_new):
        last = forward(params, config, torch.tensor(ids))[-1]
        top2 = torch.topk(last, 2)
        token = int(torch.argmax(last))
        new.append(token)
        margins.append(float(top2.values[0] - top2.values[1]))
        ids.append(token)
        if stop_at_eos and token == config.eos_token_id:
            break
    return new, margins


def load_checkpoint(directory):
    """(params {HF name: fp32 tensor}, Config) from a checkpoint directory. Stored
    bf16/fp16 weights are upcast to fp32 exactly."""
    config = Config.load(directory)
    params = {k: v.to(torch.float32) for k, v in read_checkpoint_tensors(directory).items()}
    check_params(params, config)
    return params, config


def expected_shapes(config):
    """{HF name: shape} of every parameter the config implies."""
    h, i, v, d = config.hidden_size, config.intermediate_size, config.vocab_size, config.head_dim
    nh, nkv = config.num_attention_heads, config.num_key_value_heads
    shapes = {"model.embed_tokens.weight": (v, h)}
    for n in range(config.num_hidden_layers):
        pre = f"model.layers.{n}"
        shapes[f"{pre}.input_layernorm.weight"] = (h,)
        shapes[f"{pre}.self_attn.q_proj.weight"] = (nh * d, h)
        shapes[f"{pre}.self_attn.k_proj.weight"] = (nkv * d, h)
        shapes[f"{pre}.self_attn.v_proj.weight"] = (nkv * d, h)
        if config.attention_bias:
            shapes[f"{pre}.self_attn.q_proj.bias"] = (nh * d,)
            shapes[f"{pre}.self_attn.k_proj.bias"] = (nkv * d,)
            shapes[f"{pre}.self_attn.v_proj.bias"] = (nkv * d,)
        shapes[f"{pre}.self_attn.o_proj.weight"] = (h, nh * d)
        shapes[f"{pre}.post_attention_layernorm.weight"] = (h,)
        shapes[f"{pre}.mlp.gate_proj.weight"] = (i, h)
        shapes[f"{pre}.mlp.up_proj.weight"] = (i, h)
        shapes[f"{pre}.mlp.down_proj.weight"] = (h, i)
    shapes["model.norm.weight"] = (h,)
    if not config.tie_word_embeddings:
        shapes["lm_head.weight"] = (v, h)
    return shapes


def check_params(params, config):
    want = expected_shapes(config)
    missing = sorted(set(want) - set(params))
    if missing:
        raise ValueError(f"missing tensors: {missing[:5]}")
    for name, shape in want.items():
        if tuple(params[name].shape) != tuple(shape):
            raise ValueError(f"{name}: shape {tuple(params[name].shape)}, config implies {shape}")


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Reference logits / greedy tokens for a checkpoint directory.")
    ap.add_argument("model_dir")
    ap.add_argument("ids", nargs="+", type=int, help="prompt token ids")
    ap.add_argument("--greedy", type=int, default=0, help="generate this many tokens greedily")
    a = ap.parse_args()
    prm, cfg = load_checkpoint(a.model_dir)
    if a.greedy:
        print(json.dumps(greedy_generate(prm, cfg, a.ids, a.greedy)[0]))
    else:
        lg = forward(prm, cfg, torch.tensor(a.ids))
        print(json.dumps({"argmax": lg.argmax(-1).tolist(), "last_logits_head": lg[-1, :8].tolist()}))
