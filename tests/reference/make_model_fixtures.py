"""Create small random models in Hugging Face checkpoint layout and the logits and
greedy tokens that the reference (llama_reference.py) computes for them.

    /usr/bin/python3 tests/reference/make_model_fixtures.py DIR

writes DIR/<variant>/{config.json, generation_config.json, model.safetensors,
expected.safetensors, expected.json} for every variant in VARIANTS, and
DIR/manifest.json. Deterministic for FIXTURE_SEED; see README.md for what each
variant covers and the tolerances.
"""

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_reference as ref  # noqa: E402
from safetensors_io import write_safetensors  # noqa: E402

FIXTURE_VERSION = 1
FIXTURE_SEED = 20240611
VOCAB = 512
BOS, EOS = 1, 2
SEQ_LENGTHS = (17, 11)
GREEDY_PROMPT_LEN = 7
GREEDY_NEW = 64
# A greedy step whose top-1 / top-2 logits are closer than this could flip under
# the 1e-4 logits tolerance; such prompts are skipped (deterministically).
MIN_GREEDY_MARGIN = 2e-3
# ... and a run that repeats a few tokens tests little.
MIN_GREEDY_DISTINCT = 24

TOLERANCES = {
    "logits_fp32_abs": 1e-4,       # C++ fp32 forward vs expected logits
    "kv_cache_vs_full_abs": 1e-5,  # C++ incremental decode vs C++ full recomputation
    # llama_gqa_bf16 logits vs llama_gqa's (the fp32 original): max |diff| and RMS of the
    # diff. Measured on 40 random models of these shapes: max 0.19, RMS 0.015 (README).
    "bf16_weights_vs_fp32_abs": 0.25,
    "bf16_weights_vs_fp32_rms": 0.03,
}

BASE = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "vocab_size": VOCAB,
    "max_position_embeddings": 512,
    "rms_norm_eps": 1e-6,
    "bos_token_id": BOS,
    "eos_token_id": EOS,
    "hidden_act": "silu",
    "initializer_range": 0.02,
    "use_cache": True,
    "attention_dropout": 0.0,
}

# name -> (config overrides, what it covers)
VARIANTS = {
    "llama_gqa": ({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"],
        "intermediate_size": 160, "num_key_value_heads": 2, "head_dim": 16,
        "rope_theta": 10000.0, "rope_scaling": None, "tie_word_embeddings": False,
        "attention_bias": False, "mlp_bias": False, "torch_dtype": "float32",
    }, "Llama, grouped-query attention (4 heads, 2 kv heads), untied lm_head, rope_theta 1e4"),
    "qwen2_bias_tied": ({
        "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"],
        "intermediate_size": 176, "num_hidden_layers": 3, "num_key_value_heads": 2, "head_dim": 16,
        "rope_theta": 1000000.0, "rope_scaling": None, "tie_word_embeddings": True,
        "use_sliding_window": False, "sliding_window": None, "max_window_layers": 3,
        "rms_norm_eps": 1e-6, "torch_dtype": "float32",
    }, "Qwen2, q/k/v bias, tied embeddings (no lm_head.weight), rope_theta 1e6, 3 layers"),
    "llama3_rope_scaling": ({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"],
        "intermediate_size": 160, "num_key_value_heads": 2, "head_dim": 16,
        "rope_theta": 500000.0, "tie_word_embeddings": False, "rms_norm_eps": 1e-5,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
        "attention_bias": False, "mlp_bias": False, "torch_dtype": "float32",
    }, "Llama 3 rope scaling (factor 8, low 1, high 4, original 64): with head_dim 16 and theta 5e5 "
       "the 8 frequencies fall in all three regions (kept, smoothed, divided by 8)"),
    "mistral_mha": ({
        "model_type": "mistral", "architectures": ["MistralForCausalLM"],
        "intermediate_size": 176, "num_key_value_heads": 4, "head_dim": 32,
        "rope_theta": 10000.0, "rope_scaling": None, "tie_word_embeddings": False,
        "sliding_window": None, "torch_dtype": "float32",
    }, "Mistral, multi-head attention (kv heads == heads), explicit head_dim 32 != hidden/heads "
       "(q_proj is [128, 64], o_proj [64, 128])"),
    "llama_linear_rope": ({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"],
        "intermediate_size": 160, "num_key_value_heads": 1, "head_dim": 16,
        "rope_theta": 10000.0, "rope_scaling": {"type": "linear", "factor": 4.0},
        "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False, "torch_dtype": "float32",
    }, "Llama, linear rope scaling (positions / 4, written with the older \"type\" key, not "
       "\"rope_type\"), multi-query attention (1 kv head), tied embeddings"),
    "llama_gqa_bf16": (None, "llama_gqa with every weight stored as BF16 (torch_dtype bfloat16); "
                             "expected logits from the bf16-rounded weights upcast to fp32"),
}


def make_config(overrides):
    c = dict(BASE)
    c.update(overrides)
    c["transformers_version"] = "4.45.0"
    return c


def init_params(config, gen):
    """Random weights: projections N(0, 0.2^2), embeddings N(0, 0.1^2), lm_head
    N(0, 0.12^2) (logits of std ~1), norm weights 1 + N(0, 0.1^2), qkv bias N(0, 0.1^2).

    Projections this large give peaked attention and greedy runs that do not collapse
    into repeating one token (0.02, as in HF's initializer, makes every variant repeat),
    so 64 greedy tokens exercise positions and the cache."""
    def randn(*shape, std):
        return torch.randn(*shape, generator=gen, dtype=torch.float32) * std

    def norm_weight(n):
        return 1.0 + randn(n, std=0.1)

    params = {}
    for name, shape in ref.expected_shapes(config).items():
        if name.endswith("layernorm.weight") or name == "model.norm.weight":
            params[name] = norm_weight(*shape)
        elif name.endswith(".bias"):
            params[name] = randn(*shape, std=0.1)
        elif name == "model.embed_tokens.weight":
            params[name] = randn(*shape, std=0.1)
        elif name == "lm_head.weight":
            params[name] = randn(*shape, std=0.12)
        else:
            params[name] = randn(*shape, std=0.2)
    return params


def pick_greedy_prompt(params, config, gen):
    """First prompt (BOS + random ids, drawn from gen) whose 64 greedy tokens have no
    near-tie, no EOS (so C++ greedy is comparable token for token whether or not it
    stops at EOS) and at least MIN_GREEDY_DISTINCT distinct tokens."""
    for attempt in range(50):
        prompt = [BOS] + torch.randint(3, VOCAB, (GREEDY_PROMPT_LEN - 1,), generator=gen).tolist()
        tokens, margins = ref.greedy_generate(params, config, prompt, GREEDY_NEW)
        if min(margins) >= MIN_GREEDY_MARGIN and EOS not in tokens and len(set(tokens)) >= MIN_GREEDY_DISTINCT:
            return prompt, tokens, margins, attempt
    raise RuntimeError("no greedy prompt without near-ties found; change FIXTURE_SEED")


def _json_text(obj, indent=0):
    """JSON with one key per line but lists of numbers kept on one line."""
    pad = "  " * indent
    if isinstance(obj, dict) and obj:
        items = [f'{pad}  {json.dumps(k)}: {_json_text(v, indent + 1)}' for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        items = [f"{pad}  {_json_text(v, indent + 1)}" for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj)


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(_json_text(obj) + "\n")
    os.replace(tmp, path)


def write_variant(out_dir, name, config_dict, params, stored_dtype, description, gen):
    """Write the checkpoint and its expected values; returns the logits for bf16 comparison."""
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    config = ref.Config(config_dict)
    stored = {k: v.to(stored_dtype).contiguous() for k, v in params.items()}
    write_json(os.path.join(d, "config.json"), config_dict)
    write_json(os.path.join(d, "generation_config.json"), {
        "bos_token_id": BOS, "eos_token_id": EOS, "do_sample": False, "transformers_version": "4.45.0"})
    write_safetensors(os.path.join(d, "model.safetensors"), stored)

    # Expected values come from exactly what is stored (bf16 upcast to fp32 exactly).
    compute = {k: v.to(torch.float32) for k, v in stored.items()}
    seqs = [[BOS] + torch.randint(3, VOCAB, (n - 1,), generator=gen).tolist() for n in SEQ_LENGTHS]
    logits = [ref.forward(compute, config, torch.tensor(s)) for s in seqs]
    prompt, greedy, margins, attempts = pick_greedy_prompt(compute, config, gen)

    tensors = {}
    for i, (s, lg) in enumerate(zip(seqs, logits)):
        tensors[f"input_ids.{i}"] = torch.tensor(s, dtype=torch.int64)
        tensors[f"logits.{i}"] = lg.contiguous()
    tensors["greedy_prompt"] = torch.tensor(prompt, dtype=torch.int64)
    tensors["greedy_64"] = torch.tensor(greedy, dtype=torch.int64)
    meta = {"format": "pt", "fixture_version": str(FIXTURE_VERSION), "variant": name,
            "num_sequences": str(len(seqs))}
    write_safetensors(os.path.join(d, "expected.safetensors"), tensors, meta)
    write_json(os.path.join(d, "expected.json"), {
        "fixture_version": FIXTURE_VERSION,
        "variant": name,
        "description": description,
        "weights_dtype": {torch.float32: "float32", torch.bfloat16: "bfloat16"}[stored_dtype],
        "input_ids": seqs,
        "logits": "expected.safetensors: logits.<i> float32 [len(input_ids[i]), vocab_size]",
        "greedy_prompt": prompt,
        "greedy_64": greedy,
        "greedy_min_margin": min(margins),
        "greedy_prompt_attempts": attempts + 1,
        "tolerances": TOLERANCES,
    })
    return logits


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    args = ap.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads() or 1))
    os.makedirs(args.out_dir, exist_ok=True)
    started = time.time()
    manifest = {"fixture_version": FIXTURE_VERSION, "seed": FIXTURE_SEED, "torch": torch.__version__,
                "variants": {}, "tolerances": TOLERANCES}
    fp32_logits = {}
    for index, (name, (overrides, description)) in enumerate(VARIANTS.items()):
        gen = torch.Generator().manual_seed(FIXTURE_SEED + 1000 * index)
        if overrides is None:  # the bf16 copy of llama_gqa: same weights, same inputs
            base = "llama_gqa"
            base_index = list(VARIANTS).index(base)
            gen = torch.Generator().manual_seed(FIXTURE_SEED + 1000 * base_index)
            config_dict = make_config(dict(VARIANTS[base][0], torch_dtype="bfloat16"))
            params = init_params(ref.Config(config_dict), gen)
            logits = write_variant(args.out_dir, name, config_dict, params, torch.bfloat16, description, gen)
            diffs = [a - b for a, b in zip(logits, fp32_logits[base])]
            worst = max(float(x.abs().max()) for x in diffs)
            rms = max(float(x.pow(2).mean().sqrt()) for x in diffs)
            manifest["bf16_vs_fp32_logits"] = {"max_abs": worst, "rms": rms}
            if worst > TOLERANCES["bf16_weights_vs_fp32_abs"] or rms > TOLERANCES["bf16_weights_vs_fp32_rms"]:
                raise RuntimeError(f"bf16 vs fp32 logits differ by max {worst}, rms {rms}: over the stated tolerance")
        else:
            config_dict = make_config(overrides)
            params = init_params(ref.Config(config_dict), gen)
            fp32_logits[name] = write_variant(args.out_dir, name, config_dict, params, torch.float32,
                                              description, gen)
        manifest["variants"][name] = description
    write_json(os.path.join(args.out_dir, "manifest.json"), manifest)
    print(f"wrote {len(VARIANTS)} fixtures to {args.out_dir} in {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
