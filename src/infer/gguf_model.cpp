// GGUF <-> ModelConfig, Tokenizer and ModelWeights; Hugging Face checkpoint <-> GGUF.
#include "infer/gguf_model.h"

#include <cmath>
#include <cstring>
#include <deque>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/atomic_writer.h"
#include "infer/gguf.h"
#include "infer/gguf_tokenizer.h"
#include "infer/kernels.h"
#include "model/safetensors.h"

namespace flywheel::infer {

namespace {

using Json = nlohmann::ordered_json;

// What the weights' views point into: the mapping, and rows copied out of it.
struct GgufStorage {
  explicit GgufStorage(GgufFile f) : file(std::move(f)) {}
  GgufFile file;
  std::deque<std::vector<std::byte>> buffers;
};

bool permutes_qk(const std::string& arch) { return arch == "llama" || arch == "mistral"; }

// llama3 rope: the factor that divides each frequency (what llama.cpp keeps
// in rope_freqs.weight), from Hugging Face's _compute_llama3_parameters.
std::vector<float> llama3_rope_factors(const ModelConfig& c) {
  const RopeScaling& s = c.rope_scaling;
  const double low_wavelen = s.original_max_position_embeddings / s.low_freq_factor;
  const double high_wavelen = s.original_max_position_embeddings / s.high_freq_factor;
  std::vector<float> out;
  for (int64_t i = 0; i < c.head_dim / 2; ++i) {
    const double freq = std::pow(c.rope_theta, -2.0 * i / c.head_dim);
    const double wavelen = 2 * M_PI / freq;
    double factor = 1.0;
    if (wavelen > low_wavelen) {
      factor = s.factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth =
          (s.original_max_position_embeddings / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      factor = 1.0 / ((1 - smooth) / s.factor + smooth);
    }
    out.push_back(static_cast<float>(factor));
  }
  return out;
}

std::string dims_text(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

class Reader {
 public:
  Reader(GgufStorage& storage, std::string arch) : s_(storage), f_(storage.file), arch_(std::move(arch)) {}

  std::string key(std::string_view name) const { return arch_ + "." + std::string(name); }

  Result<int64_t> required_int(std::string_view name) const {
    Result<int64_t> v = f_.get_int(key(name));
    if (!v.ok() && v.status().code() == StatusCode::kNotFound)
      return Status::corruption("GGUF " + f_.source() + ": missing metadata " + key(name));
    if (v.ok() && *v <= 0)
      return Status::corruption("GGUF " + f_.source() + ": metadata " + key(name) + " must be positive");
    return v;
  }
  Result<double> float_or(std::string_view name, double fallback) const {
    Result<double> v = f_.get_float(key(name));
    if (!v.ok() && v.status().code() == StatusCode::kNotFound) return fallback;
    return v;
  }

  Result<const GgufTensor*> tensor(const std::string& name, std::vector<int64_t> dims) const {
    const GgufTensor* t = f_.find_tensor(name);
    if (t == nullptr) return Status::corruption("GGUF " + f_.source() + ": missing tensor " + name);
    // Trailing dims of 1 are the same shape (some writers keep them).
    std::vector<int64_t> got = t->dims;
    while (got.size() > dims.size() && got.back() == 1) got.pop_back();
    if (got != dims)
      return Status::corruption("GGUF " + f_.source() + ": tensor " + name + " has dims " + dims_text(t->dims) +
                                ", expected " + dims_text(dims));
    return t;
  }

  Result<WeightMatrix> matrix(const std::string& name, int64_t rows, int64_t cols, int64_t permute_head_dim = 0) {
    FW_ASSIGN_OR_RETURN(const GgufTensor* t, tensor(name, {cols, rows}));
    WeightMatrix w{t->type, t->data.data(), rows, cols};
    if (permute_head_dim == 0) return w;
    // Back to rotate-half order: a row permutation, valid for any row type.
    std::vector<std::byte>& buffer = s_.buffers.emplace_back(static_cast<size_t>(w.bytes()));
    const int64_t stride = row_bytes(w.type, cols);
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(buffer.data() + r * stride, w.row(gguf_rope_row(r, permute_head_dim)), stride);
    w.data = buffer.data();
    return w;
  }

  // A vector (norm, bias) in f32, or empty when `optional` and absent.
  Result<std::vector<float>> vector(const std::string& name, int64_t n, bool optional = false,
                                    int64_t permute_head_dim = 0) {
    if (optional && f_.find_tensor(name) == nullptr) return std::vector<float>();
    FW_ASSIGN_OR_RETURN(const GgufTensor* t, tensor(name, {n}));
    std::vector<float> out(n);
    dequantize_row(t->type, t->data.data(), n, out.data());
    if (permute_head_dim == 0) return out;
    std::vector<float> back(n);
    for (int64_t r = 0; r < n; ++r) back[r] = out[gguf_rope_row(r, permute_head_dim)];
    return back;
  }

 private:
  GgufStorage& s_;
  const GgufFile& f_;
  std::string arch_;
};

Result<ModelConfig> read_config(const GgufFile& f, Reader& in, const std::string& arch) {
  ModelConfig c;
  c.model_type = arch;
  if (auto t = f.get_string("flywheel.model_type"); t.ok() && (*t == "llama" || *t == "mistral")) c.model_type = *t;
  FW_ASSIGN_OR_RETURN(c.hidden_size, in.required_int("embedding_length"));
  FW_ASSIGN_OR_RETURN(c.num_hidden_layers, in.required_int("block_count"));
  FW_ASSIGN_OR_RETURN(c.intermediate_size, in.required_int("feed_forward_length"));
  FW_ASSIGN_OR_RETURN(c.num_attention_heads, in.required_int("attention.head_count"));
  c.num_key_value_heads = f.int_or(in.key("attention.head_count_kv")).value_or(c.num_attention_heads);
  c.head_dim = f.int_or(in.key("attention.key_length")).value_or(c.hidden_size / c.num_attention_heads);
  c.max_position_embeddings = f.int_or(in.key("context_length")).value_or(2048);
  FW_ASSIGN_OR_RETURN(c.rope_theta, in.float_or("rope.freq_base", 10000.0));
  FW_ASSIGN_OR_RETURN(c.rms_norm_eps, in.float_or("attention.layer_norm_rms_epsilon", 1e-6));
  if (auto w = f.int_or(in.key("attention.sliding_window")); w && *w > 0) c.sliding_window = *w;

  // Rope scaling: linear from rope.scaling.*; llama3 as the factors tensor
  // llama.cpp writes (with flywheel's exact parameters when it wrote the file).
  const std::string scaling =
      f.get_string(in.key("rope.scaling.type")).ok() ? *f.get_string(in.key("rope.scaling.type")) : "none";
  if (scaling == "linear") {
    c.rope_scaling.type = "linear";
    FW_ASSIGN_OR_RETURN(c.rope_scaling.factor, in.float_or("rope.scaling.factor", 1.0));
  } else if (scaling != "none" && !scaling.empty()) {
    return Status::unsupported("GGUF " + f.source() + ": " + in.key("rope.scaling.type") + " \"" + scaling +
                               "\" is not supported (none, linear, llama3 factors)");
  }
  if (const GgufTensor* freqs = f.find_tensor("rope_freqs.weight")) {
    if (freqs->type != TensorType::kF32 || freqs->elements() != c.head_dim / 2)
      return Status::corruption("GGUF " + f.source() + ": tensor rope_freqs.weight must be f32 [head_dim / 2]");
    std::vector<float> factors(freqs->elements());
    std::memcpy(factors.data(), freqs->data.data(), freqs->data.size());
    RopeScaling& s = c.rope_scaling;
    s.type = "llama3";
    s.factor = f.get_float("flywheel.rope_scaling.factor").ok() ? *f.get_float("flywheel.rope_scaling.factor")
                                                                : *std::max_element(factors.begin(), factors.end());
    if (auto v = f.get_float("flywheel.rope_scaling.low_freq_factor"); v.ok()) s.low_freq_factor = *v;
    if (auto v = f.get_float("flywheel.rope_scaling.high_freq_factor"); v.ok()) s.high_freq_factor = *v;
    s.original_max_position_embeddings =
        f.int_or("flywheel.rope_scaling.original_max_position_embeddings")
            .value_or(f.int_or(in.key("rope.scaling.original_context_length")).value_or(8192));
    // The parameters must give the stored factors (float32 rounding: 1e-5 relative).
    const std::vector<float> expected = llama3_rope_factors(c);
    for (size_t i = 0; i < factors.size(); ++i)
      if (std::fabs(expected[i] - factors[i]) > 1e-5f * std::fabs(factors[i]))
        return Status::unsupported("GGUF " + f.source() +
                                   ": rope_freqs.weight does not match llama3 rope scaling with factor " +
                                   std::to_string(s.factor) + ", low/high 1/4 (other rope factors are not supported)");
  }
  c.qkv_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  c.o_bias = f.find_tensor("blk.0.attn_output.bias") != nullptr;
  c.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
  if (auto b = f.int_or("tokenizer.ggml.bos_token_id")) c.bos_token_id = *b;
  if (auto e = f.int_or("tokenizer.ggml.eos_token_id")) c.eos_token_ids.push_back(*e);
  if (auto e = f.int_or("tokenizer.ggml.eot_token_id"); e && (c.eos_token_ids.empty() || *e != c.eos_token_ids[0]))
    c.eos_token_ids.push_back(*e);
  const GgufTensor* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr) return Status::corruption("GGUF " + f.source() + ": missing tensor token_embd.weight");
  c.vocab_size = embd->rows();
  c.torch_dtype = "float32";
  Status valid = c.validate();
  if (!valid.ok()) return Status::corruption("GGUF " + f.source() + ": " + valid.message());
  return c;
}

Result<Tokenizer> read_tokenizer(const GgufFile& f, int64_t rows) {
  if (const GgufValue* hf = f.find("tokenizer.huggingface.json"); hf != nullptr && hf->type == GgufValueType::kString) {
    Result<Tokenizer> t = Tokenizer::from_json(hf->string);
    if (!t.ok()) return t.status().with_context("GGUF " + f.source() + ": tokenizer.huggingface.json");
    if (static_cast<int64_t>(t->vocab_size()) > rows)
      return Status::corruption("GGUF " + f.source() + ": tokenizer.huggingface.json has " +
                                std::to_string(t->vocab_size()) + " tokens but token_embd.weight has " +
                                std::to_string(rows) + " rows");
    return t;
  }
  const GgufValue* tokens = f.find("tokenizer.ggml.tokens");
  if (tokens == nullptr) return Status::corruption("GGUF " + f.source() + ": no tokenizer (tokenizer.ggml.tokens)");
  if (static_cast<int64_t>(tokens->array_size()) != rows)
    return Status::corruption("GGUF " + f.source() + ": tokenizer.ggml.tokens has " +
                              std::to_string(tokens->array_size()) + " tokens but token_embd.weight has " +
                              std::to_string(rows) + " rows");
  FW_ASSIGN_OR_RETURN(std::string json, tokenizer_json_from_gguf(f));
  Result<Tokenizer> t = Tokenizer::from_json(json);
  if (!t.ok()) return t.status().with_context("GGUF " + f.source() + ": tokenizer.ggml.*");
  return t;
}

}  // namespace

int64_t gguf_rope_row(int64_t hf_row, int64_t head_dim) {
  const int64_t half = head_dim / 2;
  const int64_t head = hf_row / head_dim, within = hf_row % head_dim;
  const int64_t s = within / half, i = within % half;
  return head * head_dim + 2 * i + s;
}

Result<GgufModel> open_gguf_model(const std::filesystem::path& path) {
  FW_ASSIGN_OR_RETURN(GgufFile opened, GgufFile::open(path));
  auto storage = std::make_shared<GgufStorage>(std::move(opened));
  const GgufFile& f = storage->file;
  FW_ASSIGN_OR_RETURN(std::string arch, f.get_string("general.architecture"));
  if (arch != "llama" && arch != "qwen2" && arch != "mistral")
    return Status::unsupported("GGUF " + f.source() + ": general.architecture \"" + arch +
                               "\" is not supported (llama, qwen2, mistral)");
  Reader in(*storage, arch);
  FW_ASSIGN_OR_RETURN(ModelConfig c, read_config(f, in, arch));
  FW_ASSIGN_OR_RETURN(Tokenizer tokenizer, read_tokenizer(f, c.vocab_size));
  std::string chat_template;
  if (auto t = f.get_string("tokenizer.chat_template"); t.ok()) chat_template = *t;

  ModelWeights w;
  const int64_t E = c.hidden_size, D = c.head_dim, H = c.num_attention_heads, K = c.num_key_value_heads,
                I = c.intermediate_size, V = c.vocab_size;
  const int64_t rope = permutes_qk(arch) ? D : 0;
  FW_ASSIGN_OR_RETURN(w.embedding, in.matrix("token_embd.weight", V, E));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights& L = w.layers.emplace_back();
    FW_ASSIGN_OR_RETURN(L.q, in.matrix(p + "attn_q.weight", H * D, E, rope));
    FW_ASSIGN_OR_RETURN(L.k, in.matrix(p + "attn_k.weight", K * D, E, rope));
    FW_ASSIGN_OR_RETURN(L.v, in.matrix(p + "attn_v.weight", K * D, E));
    FW_ASSIGN_OR_RETURN(L.o, in.matrix(p + "attn_output.weight", E, H * D));
    FW_ASSIGN_OR_RETURN(L.gate, in.matrix(p + "ffn_gate.weight", I, E));
    FW_ASSIGN_OR_RETURN(L.up, in.matrix(p + "ffn_up.weight", I, E));
    FW_ASSIGN_OR_RETURN(L.down, in.matrix(p + "ffn_down.weight", E, I));
    const bool qkv = c.qkv_bias, o = c.o_bias;
    FW_ASSIGN_OR_RETURN(L.q_bias, in.vector(p + "attn_q.bias", H * D, !qkv, rope));
    FW_ASSIGN_OR_RETURN(L.k_bias, in.vector(p + "attn_k.bias", K * D, !qkv, rope));
    FW_ASSIGN_OR_RETURN(L.v_bias, in.vector(p + "attn_v.bias", K * D, !qkv));
    FW_ASSIGN_OR_RETURN(L.o_bias, in.vector(p + "attn_output.bias", E, !o));
    FW_ASSIGN_OR_RETURN(L.input_norm, in.vector(p + "attn_norm.weight", E));
    FW_ASSIGN_OR_RETURN(L.post_attention_norm, in.vector(p + "ffn_norm.weight", E));
  }
  FW_ASSIGN_OR_RETURN(w.final_norm, in.vector("output_norm.weight", E));
  if (c.tie_word_embeddings) {
    w.lm_head = w.embedding;
  } else {
    FW_ASSIGN_OR_RETURN(w.lm_head, in.matrix("output.weight", V, E));
  }
  w.storage = storage;
  return GgufModel{std::move(c), std::move(tokenizer), std::move(w), std::move(chat_template)};
}

// ---- Hugging Face checkpoint -> GGUF ----

namespace {

uint32_t file_type(TensorType t) {
  switch (t) {
    case TensorType::kF32:
      return 0;
    case TensorType::kF16:
      return 1;
    case TensorType::kQ4_0:
      return 2;
    case TensorType::kQ8_0:
      return 7;
    case TensorType::kQ4_K:
      return 14;  // Q4_K_S: every matrix Q4_K
    case TensorType::kQ5_K:
      return 16;  // Q5_K_S
    case TensorType::kQ6_K:
      return 18;
    case TensorType::kBF16:
      return 32;
    default:
      return 0;
  }
}

// The type a matrix with rows of `cols` values is stored in.
TensorType storable(TensorType wanted, int64_t cols) {
  if (cols % traits(wanted).block_values == 0) return wanted;
  if (traits(wanted).block_values == 256 && cols % 32 == 0) return TensorType::kQ8_0;
  return TensorType::kF16;
}

class Converter {
 public:
  Converter(const SafetensorsCheckpoint& ckpt, TensorType type) : ckpt_(ckpt), type_(type) {}

  Result<std::vector<float>> f32(const std::string& name, std::vector<int64_t> shape) {
    const TensorView* t = ckpt_.find(name);
    if (t == nullptr) return Status::corruption("checkpoint: missing tensor " + name);
    if (t->shape != shape)
      return Status::corruption("checkpoint: tensor " + name + " has shape " + dims_text(t->shape) + ", expected " +
                                dims_text(shape));
    if (!dtype_is_float(t->dtype))
      return Status::unsupported("checkpoint: tensor " + name + " is " + std::string(dtype_name(t->dtype)));
    std::vector<float> out(static_cast<size_t>(t->numel()));
    convert_to_f32(t->dtype, t->data, out);
    return out;
  }

  // Rotate-half rows to llama.cpp's interleaved order.
  static std::vector<float> permute(const std::vector<float>& x, int64_t rows, int64_t cols, int64_t head_dim) {
    std::vector<float> out(x.size());
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(out.data() + gguf_rope_row(r, head_dim) * cols, x.data() + r * cols, 4 * cols);
    return out;
  }

  Status matrix(const std::string& hf, const std::string& gguf, int64_t rows, int64_t cols, int64_t rope = 0) {
    FW_ASSIGN_OR_RETURN(std::vector<float> x, f32(hf, {rows, cols}));
    if (rope) x = permute(x, rows, cols, rope);
    const TensorType t = storable(type_, cols);
    const int64_t stride = row_bytes(t, cols);
    std::vector<std::byte>& out = buffers_.emplace_back(static_cast<size_t>(stride * rows));
    for (int64_t r = 0; r < rows; ++r)
      FW_RETURN_IF_ERROR(quantize_row(t, x.data() + r * cols, cols, out.data() + r * stride));
    tensors_.push_back({gguf, t, {cols, rows}, out});
    return Status::OK();
  }

  Status vector(const std::string& hf, const std::string& gguf, int64_t n, int64_t rope = 0) {
    FW_ASSIGN_OR_RETURN(std::vector<float> x, f32(hf, {n}));
    if (rope) x = permute(x, n, 1, rope);
    add_f32(gguf, x);
    return Status::OK();
  }

  void add_f32(const std::string& gguf, const std::vector<float>& x) {
    std::vector<std::byte>& out = buffers_.emplace_back(x.size() * 4);
    std::memcpy(out.data(), x.data(), out.size());
    tensors_.push_back({gguf, TensorType::kF32, {static_cast<int64_t>(x.size())}, out});
  }

  const std::vector<GgufTensorToWrite>& tensors() const { return tensors_; }

 private:
  const SafetensorsCheckpoint& ckpt_;
  TensorType type_;
  std::deque<std::vector<std::byte>> buffers_;
  std::vector<GgufTensorToWrite> tensors_;
};

}  // namespace

Status write_gguf_from_checkpoint(const std::filesystem::path& hf_dir, TensorType type,
                                  const std::filesystem::path& out) {
  if (type == TensorType::kQ8_K) return Status::invalid_argument("q8_K is an activation type, not a weight type");
  FW_ASSIGN_OR_RETURN(ModelConfig c, ModelConfig::from_file((hf_dir / "config.json").string()));
  FW_ASSIGN_OR_RETURN(SafetensorsCheckpoint ckpt, SafetensorsCheckpoint::open(hf_dir));
  FW_ASSIGN_OR_RETURN(std::string tokenizer_json, read_file(hf_dir / "tokenizer.json"));
  const TensorView* embd = ckpt.find("model.embed_tokens.weight");
  if (embd == nullptr || embd->shape.size() != 2)
    return Status::corruption("checkpoint: missing 2-D tensor model.embed_tokens.weight");
  const int64_t V = embd->shape[0], E = c.hidden_size, D = c.head_dim, H = c.num_attention_heads,
                K = c.num_key_value_heads, I = c.intermediate_size;

  const std::string arch = c.model_type == "qwen2" ? "qwen2" : "llama";
  const int64_t rope = arch == "llama" ? D : 0;
  std::vector<std::pair<std::string, GgufValue>> md;
  auto a = [&](const std::string& k) { return arch + "." + k; };
  md.emplace_back("general.architecture", GgufValue::str(arch));
  md.emplace_back("general.name",
                  GgufValue::str(std::filesystem::absolute(hf_dir).lexically_normal().filename().string()));
  md.emplace_back("general.file_type", GgufValue::u32(file_type(type)));
  if (is_quantized(type)) md.emplace_back("general.quantization_version", GgufValue::u32(2));
  md.emplace_back(a("vocab_size"), GgufValue::u32(static_cast<uint32_t>(V)));
  md.emplace_back(a("context_length"), GgufValue::u32(static_cast<uint32_t>(c.max_position_embeddings)));
  md.emplace_back(a("embedding_length"), GgufValue::u32(static_cast<uint32_t>(E)));
  md.emplace_back(a("block_count"), GgufValue::u32(static_cast<uint32_t>(c.num_hidden_layers)));
  md.emplace_back(a("feed_forward_length"), GgufValue::u32(static_cast<uint32_t>(I)));
  md.emplace_back(a("attention.head_count"), GgufValue::u32(static_cast<uint32_t>(H)));
  md.emplace_back(a("attention.head_count_kv"), GgufValue::u32(static_cast<uint32_t>(K)));
  md.emplace_back(a("attention.key_length"), GgufValue::u32(static_cast<uint32_t>(D)));
  md.emplace_back(a("attention.value_length"), GgufValue::u32(static_cast<uint32_t>(D)));
  md.emplace_back(a("rope.dimension_count"), GgufValue::u32(static_cast<uint32_t>(D)));
  md.emplace_back(a("rope.freq_base"), GgufValue::f32(static_cast<float>(c.rope_theta)));
  md.emplace_back(a("attention.layer_norm_rms_epsilon"), GgufValue::f32(static_cast<float>(c.rms_norm_eps)));
  if (c.sliding_window)
    md.emplace_back(a("attention.sliding_window"), GgufValue::u32(static_cast<uint32_t>(*c.sliding_window)));
  if (c.model_type == "mistral") md.emplace_back("flywheel.model_type", GgufValue::str("mistral"));
  if (c.rope_scaling.type == "linear") {
    md.emplace_back(a("rope.scaling.type"), GgufValue::str("linear"));
    md.emplace_back(a("rope.scaling.factor"), GgufValue::f32(static_cast<float>(c.rope_scaling.factor)));
  } else if (c.rope_scaling.type == "llama3") {
    // llama.cpp reads llama3 scaling from the rope_freqs.weight tensor;
    // flywheel keeps the exact parameters beside it.
    md.emplace_back("flywheel.rope_scaling.factor", GgufValue::f32(static_cast<float>(c.rope_scaling.factor)));
    md.emplace_back("flywheel.rope_scaling.low_freq_factor",
                    GgufValue::f32(static_cast<float>(c.rope_scaling.low_freq_factor)));
    md.emplace_back("flywheel.rope_scaling.high_freq_factor",
                    GgufValue::f32(static_cast<float>(c.rope_scaling.high_freq_factor)));
    md.emplace_back("flywheel.rope_scaling.original_max_position_embeddings",
                    GgufValue::u32(static_cast<uint32_t>(c.rope_scaling.original_max_position_embeddings)));
    md.emplace_back(a("rope.scaling.original_context_length"),
                    GgufValue::u32(static_cast<uint32_t>(c.rope_scaling.original_max_position_embeddings)));
  }
  FW_ASSIGN_OR_RETURN(auto tokenizer_md, gguf_tokenizer_metadata(tokenizer_json, V, c));
  for (auto& kv : tokenizer_md) md.push_back(std::move(kv));
  if (Result<std::string> tc = read_file(hf_dir / "tokenizer_config.json"); tc.ok()) {
    Json j = Json::parse(*tc, nullptr, false);
    if (j.is_object() && j.contains("chat_template") && j["chat_template"].is_string())
      md.emplace_back("tokenizer.chat_template", GgufValue::str(j["chat_template"].get<std::string>()));
  }

  Converter conv(ckpt, type);
  FW_RETURN_IF_ERROR(conv.matrix("model.embed_tokens.weight", "token_embd.weight", V, E));
  if (c.rope_scaling.type == "llama3") conv.add_f32("rope_freqs.weight", llama3_rope_factors(c));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string hf = "model.layers." + std::to_string(l) + ".", g = "blk." + std::to_string(l) + ".";
    FW_RETURN_IF_ERROR(conv.vector(hf + "input_layernorm.weight", g + "attn_norm.weight", E));
    FW_RETURN_IF_ERROR(conv.matrix(hf + "self_attn.q_proj.weight", g + "attn_q.weight", H * D, E, rope));
    FW_RETURN_IF_ERROR(conv.matrix(hf + "self_attn.k_proj.weight", g + "attn_k.weight", K * D, E, rope));
    FW_RETURN_IF_ERROR(conv.matrix(hf + "self_attn.v_proj.weight", g + "attn_v.weight", K * D, E));
    FW_RETURN_IF_ERROR(conv.matrix(hf + "self_attn.o_proj.weight", g + "attn_output.weight", E, H * D));
    if (c.qkv_bias) {
      FW_RETURN_IF_ERROR(conv.vector(hf + "self_attn.q_proj.bias", g + "attn_q.bias", H * D, rope));
      FW_RETURN_IF_ERROR(conv.vector(hf + "self_attn.k_proj.bias", g + "attn_k.bias", K * D, rope));
      FW_RETURN_IF_ERROR(conv.vector(hf + "self_attn.v_proj.bias", g + "attn_v.bias", K * D));
    }
    if (c.o_bias) FW_RETURN_IF_ERROR(conv.vector(hf + "self_attn.o_proj.bias", g + "attn_output.bias", E));
    FW_RETURN_IF_ERROR(conv.vector(hf + "post_attention_layernorm.weight", g + "ffn_norm.weight", E));
    FW_RETURN_IF_ERROR(conv.matrix(hf + "mlp.gate_proj.weight", g + "ffn_gate.weight", I, E));
    FW_RETURN_IF_ERROR(conv.matrix(hf + "mlp.up_proj.weight", g + "ffn_up.weight", I, E));
    FW_RETURN_IF_ERROR(conv.matrix(hf + "mlp.down_proj.weight", g + "ffn_down.weight", E, I));
  }
  FW_RETURN_IF_ERROR(conv.vector("model.norm.weight", "output_norm.weight", E));
  // An untied checkpoint without lm_head.weight is malformed; a tied one has none.
  if (!c.tie_word_embeddings) FW_RETURN_IF_ERROR(conv.matrix("lm_head.weight", "output.weight", V, E));
  return write_gguf(out, md, conv.tensors());
}

// ---- GGUF -> Hugging Face checkpoint ----

Status write_checkpoint_from_gguf(const std::filesystem::path& gguf, const std::filesystem::path& out_dir) {
  FW_ASSIGN_OR_RETURN(GgufModel model, open_gguf_model(gguf));
  const ModelConfig& c = model.config;
  std::deque<std::vector<float>> buffers;
  std::vector<TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<float> values, std::vector<int64_t> shape) {
    std::vector<float>& b = buffers.emplace_back(std::move(values));
    tensors.push_back({name, DType::kF32, std::move(shape), std::as_bytes(std::span<const float>(b))});
  };
  auto matrix = [&](const std::string& name, const WeightMatrix& w) {
    std::vector<float> x(static_cast<size_t>(w.rows * w.cols));
    for (int64_t r = 0; r < w.rows; ++r) dequantize_row(w.type, w.row(r), w.cols, x.data() + r * w.cols);
    add(name, std::move(x), {w.rows, w.cols});
  };
  auto vec = [&](const std::string& name, const std::vector<float>& v) {
    if (!v.empty()) add(name, v, {static_cast<int64_t>(v.size())});
  };
  const ModelWeights& w = model.weights;
  matrix("model.embed_tokens.weight", w.embedding);
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& L = w.layers[l];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    matrix(p + "self_attn.q_proj.weight", L.q);
    matrix(p + "self_attn.k_proj.weight", L.k);
    matrix(p + "self_attn.v_proj.weight", L.v);
    matrix(p + "self_attn.o_proj.weight", L.o);
    vec(p + "self_attn.q_proj.bias", L.q_bias);
    vec(p + "self_attn.k_proj.bias", L.k_bias);
    vec(p + "self_attn.v_proj.bias", L.v_bias);
    vec(p + "self_attn.o_proj.bias", L.o_bias);
    matrix(p + "mlp.gate_proj.weight", L.gate);
    matrix(p + "mlp.up_proj.weight", L.up);
    matrix(p + "mlp.down_proj.weight", L.down);
    vec(p + "input_layernorm.weight", L.input_norm);
    vec(p + "post_attention_layernorm.weight", L.post_attention_norm);
  }
  vec("model.norm.weight", w.final_norm);
  if (!c.tie_word_embeddings) matrix("lm_head.weight", w.lm_head);

  // The embedded tokenizer.json verbatim when there is one.
  Result<GgufFile> file = GgufFile::open(gguf);
  std::string tokenizer_json = model.tokenizer.to_json();
  if (file.ok())
    if (const GgufValue* hf = file->find("tokenizer.huggingface.json"); hf && hf->type == GgufValueType::kString)
      tokenizer_json = hf->string;
  return write_directory_atomically(out_dir, [&](const std::filesystem::path& dir) -> Status {
    FW_RETURN_IF_ERROR(write_safetensors(dir / "model.safetensors", tensors));
    FW_RETURN_IF_ERROR(write_file_atomically(dir / "config.json", c.to_json()));
    FW_RETURN_IF_ERROR(write_file_atomically(dir / "generation_config.json", c.generation_config_json()));
    FW_RETURN_IF_ERROR(write_file_atomically(dir / "tokenizer.json", tokenizer_json));
    Json tc = {{"tokenizer_class", "PreTrainedTokenizerFast"}};
    if (!model.chat_template.empty()) tc["chat_template"] = model.chat_template;
    return write_file_atomically(dir / "tokenizer_config.json", tc.dump(2));
  });
}

}  // namespace flywheel::infer
