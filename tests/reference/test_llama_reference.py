"""Self-checks of the reference (llama_reference.py, safetensors_io.py,
make_model_fixtures.py) that do not depend on flywheel's C++.

    /usr/bin/python3 tests/reference/test_llama_reference.py

Prints one line per check and exits 1 if any fails. The central check is a
second, deliberately different implementation below (numpy, float64, per-head
loops, rotary as complex multiplication of (x[i], x[i + D/2]) pairs, llama3
scaling one frequency at a time) that must agree with the torch reference.
"""

import copy
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import llama_reference as ref  # noqa: E402
import make_model_fixtures as fixtures  # noqa: E402
from safetensors_io import SafetensorsError, read_safetensors, write_safetensors  # noqa: E402

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def small_config(**overrides):
    d = fixtures.make_config(dict(fixtures.VARIANTS["llama_gqa"][0]))
    d.update(overrides)
    return ref.Config(d)


def random_model(config, seed=0):
    return fixtures.init_params(config, torch.Generator().manual_seed(seed))


def random_ids(n, seed=1, vocab=fixtures.VOCAB):
    return torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(seed))


def max_diff(a, b):
    return float((torch.as_tensor(a, dtype=torch.float64) - torch.as_tensor(b, dtype=torch.float64)).abs().max())


# ------------------------------------------------- second implementation (numpy, float64)

def np_inv_freq(c):
    d = c.head_dim
    out = []
    for i in range(d // 2):
        f = c.rope_theta ** (-2.0 * i / d)
        s = c.rope_scaling or {}
        kind = s.get("rope_type", s.get("type"))
        if kind == "llama3":
            orig, lo, hi, factor = (s["original_max_position_embeddings"], s["low_freq_factor"],
                                    s["high_freq_factor"], s["factor"])
            wavelength = 2 * math.pi / f
            if wavelength < orig / hi:
                pass                               # high frequency: kept
            elif wavelength > orig / lo:
                f = f / factor                     # low frequency: interpolated
            else:
                t = (orig / wavelength - lo) / (hi - lo)
                f = (1 - t) * f / factor + t * f   # in between: blended
        out.append(f)
    return np.array(out)


def np_forward(params, c, ids):
    p = {k: v.double().numpy() for k, v in params.items()}
    ids = [int(i) for i in ids]
    T, nh, nkv, D = len(ids), c.num_attention_heads, c.num_key_value_heads, c.head_dim
    s = c.rope_scaling or {}
    pos_div = s["factor"] if s.get("rope_type", s.get("type")) == "linear" else 1.0
    inv = np_inv_freq(c)
    rot = np.exp(1j * np.outer(np.arange(T) / pos_div, inv))          # [T, D/2]

    def norm(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + c.rms_norm_eps) * w

    def rope(x):                                                         # x [T, D]
        z = (x[:, :D // 2] + 1j * x[:, D // 2:]) * rot
        return np.concatenate([z.real, z.imag], axis=1)

    h = p["model.embed_tokens.weight"][ids]
    for n in range(c.num_hidden_layers):
        pre = f"model.layers.{n}"
        a = norm(h, p[f"{pre}.input_layernorm.weight"])
        proj = {}
        for name in "qkv":
            y = a @ p[f"{pre}.self_attn.{name}_proj.weight"].T
            if c.attention_bias:
                y = y + p[f"{pre}.self_attn.{name}_proj.bias"]
            proj[name] = y
        heads = []
        for hd in range(nh):
            kv = hd // (nh // nkv)
            q = rope(proj["q"][:, hd * D:(hd + 1) * D])
            k = rope(proj["k"][:, kv * D:(kv + 1) * D])
            v = proj["v"][:, kv * D:(kv + 1) * D]
            out = np.zeros((T, D))
            for t in range(T):
                sc = q[t] @ k[:t + 1].T / math.sqrt(D)
                w = np.exp(sc - sc.max())
                out[t] = (w / w.sum()) @ v[:t + 1]
            heads.append(out)
        h = h + np.concatenate(heads, axis=1) @ p[f"{pre}.self_attn.o_proj.weight"].T
        m = norm(h, p[f"{pre}.post_attention_layernorm.weight"])
        g = m @ p[f"{pre}.mlp.gate_proj.weight"].T
        u = m @ p[f"{pre}.mlp.up_proj.weight"].T
        h = h + (g / (1 + np.exp(-g)) * u) @ p[f"{pre}.mlp.down_proj.weight"].T
    head = p["model.embed_tokens.weight"] if c.tie_word_embeddings else p["lm_head.weight"]
    return norm(h, p["model.norm.weight"]) @ head.T


# ------------------------------------------------- checks

@check
def independent_float64_implementation_agrees():
    worst = 0.0
    for name, (overrides, _) in fixtures.VARIANTS.items():
        if overrides is None:
            continue
        c = ref.Config(fixtures.make_config(overrides))
        params = random_model(c, seed=3)
        ids = random_ids(40, seed=4)
        d = max_diff(ref.forward(params, c, ids), np_forward(params, c, ids))
        worst = max(worst, d)
        assert d < 2e-5, f"{name}: torch fp32 vs numpy fp64 differ by {d}"
    return f"max |torch fp32 - numpy fp64| = {worst:.2e} over {len(fixtures.VARIANTS) - 1} configs"


@check
def causal_prefix_logits_match():
    c = small_config()
    params = random_model(c)
    ids = random_ids(30)
    full = ref.forward(params, c, ids)
    for n in (1, 7, 29):
        d = max_diff(ref.forward(params, c, ids[:n]), full[:n])
        assert d < 1e-5, f"prefix {n}: {d}"
    changed = ids.clone()
    changed[20] = (changed[20] + 1) % c.vocab_size
    d = max_diff(ref.forward(params, c, changed)[:20], full[:20])
    assert d < 1e-5, f"changing token 20 moved earlier logits by {d}"
    assert max_diff(ref.forward(params, c, changed)[20:], full[20:]) > 1e-3, "changing a token did nothing"


@check
def batch_equals_single_sequences():
    c = small_config()
    params = random_model(c)
    a, b = random_ids(12, seed=5), random_ids(12, seed=6)
    batch = ref.forward(params, c, torch.stack([a, b]))
    assert max_diff(batch[0], ref.forward(params, c, a)) < 1e-5
    assert max_diff(batch[1], ref.forward(params, c, b)) < 1e-5


@check
def gqa_equals_mha_with_duplicated_kv_heads():
    c = small_config()  # 4 heads, 2 kv heads
    params = random_model(c)
    group = c.num_attention_heads // c.num_key_value_heads
    mha = ref.Config(dict(c.raw, num_key_value_heads=c.num_attention_heads))
    dup = dict(params)
    for n in range(c.num_hidden_layers):
        for proj in ("k_proj", "v_proj"):
            w = params[f"model.layers.{n}.self_attn.{proj}.weight"].view(c.num_key_value_heads, c.head_dim, -1)
            dup[f"model.layers.{n}.self_attn.{proj}.weight"] = w.repeat_interleave(group, 0).reshape(-1, w.shape[-1])
    ids = random_ids(20)
    d = max_diff(ref.forward(params, c, ids), ref.forward(dup, mha, ids))
    assert d < 1e-5, d


@check
def mha_matches_textbook_attention():
    """kv heads == heads: attention is softmax(QK^T/sqrt(d) + causal) V per head, one layer."""
    c = ref.Config(dict(small_config().raw, num_key_value_heads=4, num_hidden_layers=1))
    params = random_model(c)
    x = torch.randn(1, 9, c.hidden_size, generator=torch.Generator().manual_seed(8))
    cos, sin = ref.rope_cos_sin(c, torch.arange(9))
    got = ref.attention(params, "model.layers.0.self_attn", c, x, cos, sin)[0]
    q = x[0] @ params["model.layers.0.self_attn.q_proj.weight"].t()
    k = x[0] @ params["model.layers.0.self_attn.k_proj.weight"].t()
    v = x[0] @ params["model.layers.0.self_attn.v_proj.weight"].t()
    D, outs = c.head_dim, []
    for h in range(4):
        qh = ref.apply_rope(q[:, h * D:(h + 1) * D], cos, sin)
        kh = ref.apply_rope(k[:, h * D:(h + 1) * D], cos, sin)
        s = qh @ kh.t() / math.sqrt(D) + torch.full((9, 9), float("-inf")).triu(1)
        outs.append(torch.softmax(s, -1) @ v[:, h * D:(h + 1) * D])
    want = torch.cat(outs, 1) @ params["model.layers.0.self_attn.o_proj.weight"].t()
    assert max_diff(got, want) < 1e-5


@check
def tied_head_is_the_embedding_matrix():
    c = ref.Config(dict(small_config().raw, tie_word_embeddings=True))
    params = random_model(c)
    assert "lm_head.weight" not in params
    untied = ref.Config(dict(c.raw, tie_word_embeddings=False))
    with_head = dict(params, **{"lm_head.weight": params["model.embed_tokens.weight"].clone()})
    ids = random_ids(10)
    assert max_diff(ref.forward(params, c, ids), ref.forward(with_head, untied, ids)) == 0.0
    h = ref.final_hidden(params, c, ids)[0]
    assert max_diff(ref.forward(params, c, ids), h @ params["model.embed_tokens.weight"].t()) < 1e-5


@check
def qwen2_bias_is_used():
    c = ref.Config(fixtures.make_config(fixtures.VARIANTS["qwen2_bias_tied"][0]))
    params = random_model(c)
    zero = {k: (torch.zeros_like(v) if k.endswith(".bias") else v) for k, v in params.items()}
    ids = random_ids(10)
    assert max_diff(ref.forward(params, c, ids), ref.forward(zero, c, ids)) > 1e-2


@check
def rope_scaling_special_cases():
    none = small_config(rope_theta=500000.0)
    base, _ = ref.rope_inv_freq(none)

    def llama3(factor, original, low=1.0, high=4.0):
        return ref.rope_inv_freq(ref.Config(dict(none.raw, rope_scaling={
            "rope_type": "llama3", "factor": factor, "low_freq_factor": low, "high_freq_factor": high,
            "original_max_position_embeddings": original})))[0]

    assert max_diff(llama3(1.0, 64), base) < 1e-7 * float(base.max()), "factor 1 must change nothing"
    # Every wavelength (<= 2*pi*theta) below original/high: nothing is scaled.
    assert torch.equal(llama3(8.0, 4 * 2 * math.pi * 600000), base)
    # Every wavelength (>= 2*pi) above original/low: all divided by factor = linear scaling.
    assert max_diff(llama3(8.0, 1.0), base / 8) == 0.0
    # The fixture's config hits all three regions.
    c = ref.Config(fixtures.make_config(fixtures.VARIANTS["llama3_rope_scaling"][0]))
    got, _ = ref.rope_inv_freq(c)
    base3, _ = ref.rope_inv_freq(ref.Config(dict(c.raw, rope_scaling=None)))
    ratio = (base3 / got).tolist()
    kept = sum(abs(r - 1) < 1e-6 for r in ratio)
    divided = sum(abs(r - 8) < 1e-5 for r in ratio)
    assert kept >= 1 and divided >= 1 and kept + divided < len(ratio), ratio
    assert max_diff(got, np_inv_freq(c)) < 1e-6 * float(got.max())
    # linear: positions / factor gives the angles of factor-times smaller frequencies.
    lin = ref.Config(dict(none.raw, rope_scaling={"type": "linear", "factor": 4.0}))
    cos_l, _ = ref.rope_cos_sin(lin, torch.arange(0, 40, 4))
    cos_n, _ = ref.rope_cos_sin(none, torch.arange(10))
    assert max_diff(cos_l, cos_n) < 1e-5
    try:
        ref.rope_inv_freq(ref.Config(dict(none.raw, rope_scaling={"rope_type": "yarn", "factor": 2.0})))
    except ValueError:
        pass
    else:
        raise AssertionError("unsupported rope_scaling accepted")
    return f"llama3 fixture ratios: {[round(r, 3) for r in ratio]}"


@check
def rope_depends_only_on_relative_position():
    c = small_config()
    g = torch.Generator().manual_seed(9)
    q, k = torch.randn(1, c.head_dim, generator=g), torch.randn(1, c.head_dim, generator=g)

    def dot(m, n):
        cm, sm = ref.rope_cos_sin(c, torch.tensor([m]))
        cn, sn = ref.rope_cos_sin(c, torch.tensor([n]))
        return float((ref.apply_rope(q, cm, sm) * ref.apply_rope(k, cn, sn)).sum())

    assert abs(dot(3, 1) - dot(12, 10)) < 1e-4 and abs(dot(5, 5) - float((q * k).sum())) < 1e-4
    cos, sin = ref.rope_cos_sin(c, torch.tensor([7]))
    assert abs(float(ref.apply_rope(q, cos, sin).norm() - q.norm())) < 1e-5


@check
def rms_norm_matches_formula():
    x = torch.randn(3, 64, generator=torch.Generator().manual_seed(2)) * 5
    w = torch.rand(64, generator=torch.Generator().manual_seed(3))
    want = x.double() / torch.sqrt((x.double() ** 2).mean(-1, keepdim=True) + 1e-6) * w.double()
    assert max_diff(ref.rms_norm(x, w, 1e-6), want) < 1e-5


@check
def safetensors_round_trip():
    g = torch.Generator().manual_seed(0)
    tensors = {
        "f32": torch.randn(3, 5, generator=g),
        "bf16": torch.randn(7, generator=g).bfloat16(),
        "f16": torch.randn(2, 2, 2, generator=g).half(),
        "f64": torch.randn(4, generator=g).double(),
        "i64": torch.tensor([0, -1, 2 ** 40], dtype=torch.int64),
        "i32": torch.tensor([[7, -8]], dtype=torch.int32),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False]),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 4),
        "odd_size": torch.arange(3, dtype=torch.int8),
    }
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "t.safetensors")
        write_safetensors(path, tensors)
        back, meta = read_safetensors(path, with_metadata=True)
        assert meta == {"format": "pt"}, meta
        assert set(back) == set(tensors)
        for k, v in tensors.items():
            assert back[k].dtype == v.dtype and back[k].shape == v.shape, k
            if v.dtype == torch.bfloat16:
                assert torch.equal(back[k].view(torch.int16), v.view(torch.int16)), k
            else:
                assert torch.equal(back[k], v), k
        raw = open(path, "rb").read()
        (n,) = struct.unpack("<Q", raw[:8])
        assert (8 + n) % 8 == 0, "header not padded to 8 bytes"
        header = json.loads(raw[8:8 + n])
        assert raw[8:9] == b"{" and raw[8 + n - 1:8 + n] in (b" ", b"}")
        begin, end = header["f32"]["data_offsets"]
        assert header["bf16"]["dtype"] == "BF16" and end - begin == 60
        assert header["__metadata__"] == {"format": "pt"}
        # bf16 bytes are the high half of the fp32 pattern (round to nearest even).
        one = torch.tensor([1.0, -2.5]).bfloat16()
        write_safetensors(path, {"x": one})
        raw = open(path, "rb").read()
        (n,) = struct.unpack("<Q", raw[:8])
        assert raw[8 + n:] == bytes.fromhex("803f20c0"), raw[8 + n:].hex()


@check
def safetensors_rejects_bad_files():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "t.safetensors")

        def write_raw(header_obj, data=b"", length=None):
            text = json.dumps(header_obj).encode()
            with open(path, "wb") as f:
                f.write(struct.pack("<Q", len(text) if length is None else length) + text + data)

        cases = [
            ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, None, "outside"),
            ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, None, "needs"),
            ({"a": {"dtype": "X9", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8, None, "dtype"),
            ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12, None, "overlap"),
            ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8, 1 << 40, "does not fit"),
        ]
        for header, data, length, words in cases:
            write_raw(header, data, length)
            try:
                read_safetensors(path)
            except SafetensorsError as e:
                assert words in str(e), f"{e!r} should mention {words!r}"
            else:
                raise AssertionError(f"accepted a bad file ({words})")
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", 4) + b"{no}")
        try:
            read_safetensors(path)
        except SafetensorsError as e:
            assert "JSON" in str(e)
        else:
            raise AssertionError("accepted bad JSON")


@check
def greedy_is_argmax_of_recomputed_logits():
    c = small_config()
    params = random_model(c)
    prompt = [1, 5, 9]
    tokens, margins = ref.greedy_generate(params, c, prompt, 6)
    seq = prompt + tokens
    logits = ref.forward(params, c, torch.tensor(seq))
    assert tokens == logits[len(prompt) - 1:-1].argmax(-1).tolist()
    assert all(m >= 0 for m in margins)


@check
def fixtures_are_deterministic_complete_and_reproducible():
    with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2:
        script = os.path.join(HERE, "make_model_fixtures.py")
        started = time.time()
        subprocess.run([sys.executable, script, d1], check=True, capture_output=True)
        elapsed = time.time() - started
        assert elapsed < 20, f"fixture generation took {elapsed:.1f} s (CI budget 20 s)"
        fixtures.main([d2])
        for variant in fixtures.VARIANTS:
            for f in ("config.json", "generation_config.json", "model.safetensors",
                      "expected.safetensors", "expected.json"):
                a, b = os.path.join(d1, variant, f), os.path.join(d2, variant, f)
                assert open(a, "rb").read() == open(b, "rb").read(), f"{variant}/{f} differs between runs"
        manifest = json.load(open(os.path.join(d1, "manifest.json")))
        for variant in fixtures.VARIANTS:
            vd = os.path.join(d1, variant)
            params, c = ref.load_checkpoint(vd)
            raw = read_safetensors(os.path.join(vd, "model.safetensors"))
            want_dtype = torch.bfloat16 if variant.endswith("bf16") else torch.float32
            assert all(t.dtype == want_dtype for t in raw.values()), variant
            assert ("lm_head.weight" in raw) != c.tie_word_embeddings, variant
            assert any(k.endswith("q_proj.bias") for k in raw) == (c.model_type == "qwen2"), variant
            cfg = json.load(open(os.path.join(vd, "config.json")))
            for key in ("model_type", "architectures", "hidden_size", "intermediate_size", "num_hidden_layers",
                        "num_attention_heads", "num_key_value_heads", "head_dim", "rope_theta", "rope_scaling",
                        "rms_norm_eps", "tie_word_embeddings", "vocab_size", "max_position_embeddings",
                        "bos_token_id", "eos_token_id", "torch_dtype"):
                assert key in cfg, f"{variant}: config.json lacks {key}"
            exp, meta = read_safetensors(os.path.join(vd, "expected.safetensors"), with_metadata=True)
            info = json.load(open(os.path.join(vd, "expected.json")))
            assert meta["fixture_version"] == str(fixtures.FIXTURE_VERSION) == str(info["fixture_version"])
            for i, ids in enumerate(info["input_ids"]):
                assert exp[f"input_ids.{i}"].tolist() == ids
                assert exp[f"logits.{i}"].shape == (len(ids), c.vocab_size)
                assert torch.equal(ref.forward(params, c, torch.tensor(ids)), exp[f"logits.{i}"]), variant
                assert float(exp[f"logits.{i}"].std()) > 0.3, f"{variant}: degenerate logits"
            assert [len(x) for x in info["input_ids"]] == list(fixtures.SEQ_LENGTHS)
            assert exp["greedy_64"].tolist() == info["greedy_64"] and len(info["greedy_64"]) == 64
            assert exp["greedy_prompt"].tolist() == info["greedy_prompt"]
            tokens, margins = ref.greedy_generate(params, c, info["greedy_prompt"], 64)
            assert tokens == info["greedy_64"] and min(margins) >= fixtures.MIN_GREEDY_MARGIN, variant
        bf = [read_safetensors(os.path.join(d1, v, "expected.safetensors")) for v in ("llama_gqa", "llama_gqa_bf16")]
        tol = fixtures.TOLERANCES
        for i in range(len(fixtures.SEQ_LENGTHS)):
            diff = bf[0][f"logits.{i}"] - bf[1][f"logits.{i}"]
            assert 0 < float(diff.abs().max()) <= tol["bf16_weights_vs_fp32_abs"]
            assert float(diff.pow(2).mean().sqrt()) <= tol["bf16_weights_vs_fp32_rms"]
    return f"generated in {elapsed:.1f} s; bf16 vs fp32 {manifest['bf16_vs_fp32_logits']}"


@check
def bf16_tolerance_holds_on_other_random_models():
    """The stated bf16 tolerance is not tuned to one seed."""
    worst, rms = 0.0, 0.0
    for seed in range(6):
        for name in ("llama_gqa", "qwen2_bias_tied", "mistral_mha"):
            c = ref.Config(fixtures.make_config(fixtures.VARIANTS[name][0]))
            params = random_model(c, seed=100 + seed)
            rounded = {k: v.bfloat16().float() for k, v in params.items()}
            ids = random_ids(24, seed=200 + seed)
            diff = ref.forward(params, c, ids) - ref.forward(rounded, c, ids)
            worst = max(worst, float(diff.abs().max()))
            rms = max(rms, float(diff.pow(2).mean().sqrt()))
    tol = fixtures.TOLERANCES
    assert worst <= tol["bf16_weights_vs_fp32_abs"] and rms <= tol["bf16_weights_vs_fp32_rms"], (worst, rms)
    return f"18 random models: max |diff| {worst:.3f}, max rms {rms:.4f}"


@check
def bad_configs_and_inputs_are_rejected():
    base = small_config().raw
    for bad in ({"model_type": "gpt2"}, {"num_key_value_heads": 3}):
        try:
            ref.Config(dict(base, **bad))
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad}")
    c = small_config()
    params = random_model(c)
    for ids in ([], [c.vocab_size]):
        try:
            ref.forward(params, c, torch.tensor(ids, dtype=torch.int64))
        except ValueError:
            continue
        raise AssertionError(f"accepted ids {ids}")
    broken = copy.copy(params)
    del broken["model.norm.weight"]
    try:
        ref.check_params(broken, c)
    except ValueError:
        pass
    else:
        raise AssertionError("accepted a checkpoint without model.norm.weight")


def main():
    torch.set_num_threads(min(2, torch.get_num_threads() or 1))
    failed = 0
    for fn in CHECKS:
        started = time.time()
        try:
            note = fn()
            print(f"ok    {fn.__name__} ({time.time() - started:.1f} s){': ' + note if note else ''}")
        except Exception:
            failed += 1
            print(f"FAIL  {fn.__name__}")
            traceback.print_exc()
    print(f"{len(CHECKS) - failed}/{len(CHECKS)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
