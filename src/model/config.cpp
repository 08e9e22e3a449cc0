#include "model/config.h"

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"

namespace flywheel {

using Json = nlohmann::json;

namespace {

Result<int64_t> positive(const Json& j, const char* key, bool required, int64_t fallback = 0) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) return Status::corruption(std::string("config.json: missing '") + key + "'");
    return fallback;
  }
  if (!j[key].is_number_integer() || j[key].get<int64_t>() <= 0)
    return Status::corruption(std::string("config.json: '") + key + "' must be a positive integer, got " +
                              j[key].dump());
  return j[key].get<int64_t>();
}

Result<double> number(const Json& j, const char* key, double fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number()) return Status::corruption(std::string("config.json: '") + key + "' must be a number");
  return j[key].get<double>();
}

Result<RopeScaling> parse_rope_scaling(const Json& j) {
  RopeScaling s;
  if (j.is_null()) return s;
  if (!j.is_object()) return Status::corruption("config.json: 'rope_scaling' must be an object or null");
  std::string type = j.value("rope_type", j.value("type", std::string("default")));
  if (type == "default") return s;
  if (type != "linear" && type != "llama3")
    return Status::unsupported("config.json: rope_scaling type '" + type + "' is not supported (none, linear, llama3)");
  s.type = type;
  FW_ASSIGN_OR_RETURN(s.factor, number(j, "factor", 1.0));
  if (s.factor <= 0) return Status::corruption("config.json: rope_scaling.factor must be positive");
  if (type == "llama3") {
    FW_ASSIGN_OR_RETURN(s.low_freq_factor, number(j, "low_freq_factor", 1.0));
    FW_ASSIGN_OR_RETURN(s.high_freq_factor, number(j, "high_freq_factor", 4.0));
    FW_ASSIGN_OR_RETURN(s.original_max_position_embeddings,
                        positive(j, "original_max_position_embeddings", false, 8192));
    if (s.high_freq_factor <= s.low_freq_factor)
      return Status::corruption("config.json: rope_scaling needs high_freq_factor > low_freq_factor");
  }
  return s;
}

}  // namespace

Result<ModelConfig> ModelConfig::from_json(std::string_view text) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::corruption("config.json is not a JSON object");
  ModelConfig c;
  c.model_type = j.value("model_type", std::string());
  if (c.model_type != "llama" && c.model_type != "qwen2" && c.model_type != "mistral")
    return Status::unsupported("config.json: model_type '" + c.model_type +
                               "' is not supported (supported: llama, qwen2, mistral)");
  std::string act = j.value("hidden_act", std::string("silu"));
  if (act != "silu") return Status::unsupported("config.json: hidden_act '" + act + "' is not supported (silu)");
  if (j.value("mlp_bias", false)) return Status::unsupported("config.json: mlp_bias is not supported");
  FW_ASSIGN_OR_RETURN(c.vocab_size, positive(j, "vocab_size", true));
  FW_ASSIGN_OR_RETURN(c.hidden_size, positive(j, "hidden_size", true));
  FW_ASSIGN_OR_RETURN(c.intermediate_size, positive(j, "intermediate_size", true));
  FW_ASSIGN_OR_RETURN(c.num_hidden_layers, positive(j, "num_hidden_layers", true));
  FW_ASSIGN_OR_RETURN(c.num_attention_heads, positive(j, "num_attention_heads", true));
  FW_ASSIGN_OR_RETURN(c.num_key_value_heads, positive(j, "num_key_value_heads", false, c.num_attention_heads));
  FW_ASSIGN_OR_RETURN(c.head_dim, positive(j, "head_dim", false, c.hidden_size / c.num_attention_heads));
  FW_ASSIGN_OR_RETURN(c.max_position_embeddings, positive(j, "max_position_embeddings", false, 2048));
  FW_ASSIGN_OR_RETURN(c.rope_theta, number(j, "rope_theta", 10000.0));
  FW_ASSIGN_OR_RETURN(c.rms_norm_eps, number(j, "rms_norm_eps", 1e-6));
  FW_ASSIGN_OR_RETURN(c.rope_scaling, parse_rope_scaling(j.value("rope_scaling", Json())));
  c.tie_word_embeddings = j.value("tie_word_embeddings", false);
  if (c.model_type == "qwen2") {
    c.qkv_bias = true;
    if (j.value("use_sliding_window", false) && j.contains("sliding_window") && j["sliding_window"].is_number_integer())
      c.sliding_window = j["sliding_window"].get<int64_t>();
  } else {
    c.qkv_bias = c.o_bias = j.value("attention_bias", false);
    if (c.model_type == "mistral" && j.contains("sliding_window") && j["sliding_window"].is_number_integer())
      c.sliding_window = j["sliding_window"].get<int64_t>();
  }
  if (j.contains("bos_token_id") && j["bos_token_id"].is_number_integer())
    c.bos_token_id = j["bos_token_id"].get<int64_t>();
  if (j.contains("eos_token_id")) {
    const Json& eos = j["eos_token_id"];
    if (eos.is_number_integer())
      c.eos_token_ids.push_back(eos.get<int64_t>());
    else if (eos.is_array())
      for (const Json& e : eos)
        if (e.is_number_integer()) c.eos_token_ids.push_back(e.get<int64_t>());
  }
  c.torch_dtype = j.value("torch_dtype", std::string("float32"));
  FW_RETURN_IF_ERROR(c.validate());
  return c;
}

Result<ModelConfig> ModelConfig::from_file(const std::string& path) {
  FW_ASSIGN_OR_RETURN(std::string text, read_file(path));
  auto config = from_json(text);
  if (!config.ok()) return config.status().with_context(path);
  return config;
}

Status ModelConfig::validate() const {
  auto fail = [](const std::string& m) { return Status::corruption("model config: " + m); };
  if (vocab_size <= 0 || hidden_size <= 0 || intermediate_size <= 0 || num_hidden_layers <= 0 ||
      num_attention_heads <= 0 || num_key_value_heads <= 0 || head_dim <= 0)
    return fail("sizes must be positive");
  if (num_attention_heads % num_key_value_heads != 0)
    return fail("num_attention_heads (" + std::to_string(num_attention_heads) +
                ") must be a multiple of num_key_value_heads (" + std::to_string(num_key_value_heads) + ")");
  if (head_dim % 2 != 0) return fail("head_dim must be even for rotary embeddings");
  if (max_position_embeddings <= 0) return fail("max_position_embeddings must be positive");
  if (rms_norm_eps <= 0) return fail("rms_norm_eps must be positive");
  return Status::OK();
}

int64_t ModelConfig::parameter_count() const {
  int64_t q = num_attention_heads * head_dim, kv = num_key_value_heads * head_dim;
  int64_t attn = hidden_size * q + 2 * hidden_size * kv + q * hidden_size + (qkv_bias ? q + 2 * kv : 0) +
                 (o_bias ? hidden_size : 0);
  int64_t mlp = 3 * hidden_size * intermediate_size;
  int64_t per_layer = attn + mlp + 2 * hidden_size;
  int64_t embed = vocab_size * hidden_size;
  return embed * (tie_word_embeddings ? 1 : 2) + num_hidden_layers * per_layer + hidden_size;
}

std::string ModelConfig::to_json() const {
  static const std::map<std::string, std::string> kArchitecture = {
      {"llama", "LlamaForCausalLM"}, {"qwen2", "Qwen2ForCausalLM"}, {"mistral", "MistralForCausalLM"}};
  nlohmann::ordered_json j;
  j["architectures"] = {kArchitecture.at(model_type)};
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["hidden_act"] = "silu";
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  if (rope_scaling.type == "none") {
    j["rope_scaling"] = nullptr;
  } else {
    nlohmann::ordered_json s = {{"rope_type", rope_scaling.type}, {"factor", rope_scaling.factor}};
    if (rope_scaling.type == "llama3") {
      s["low_freq_factor"] = rope_scaling.low_freq_factor;
      s["high_freq_factor"] = rope_scaling.high_freq_factor;
      s["original_max_position_embeddings"] = rope_scaling.original_max_position_embeddings;
    }
    j["rope_scaling"] = s;
  }
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (model_type == "qwen2") {
    j["use_sliding_window"] = sliding_window.has_value();
    j["sliding_window"] = sliding_window ? Json(*sliding_window) : Json(nullptr);
  } else {
    j["attention_bias"] = qkv_bias;
    j["mlp_bias"] = false;
    if (model_type == "mistral") j["sliding_window"] = sliding_window ? Json(*sliding_window) : Json(nullptr);
  }
  j["bos_token_id"] = bos_token_id ? Json(*bos_token_id) : Json(nullptr);
  if (eos_token_ids.size() == 1)
    j["eos_token_id"] = eos_token_ids[0];
  else
    j["eos_token_id"] = eos_token_ids;
  j["torch_dtype"] = torch_dtype;
  j["use_cache"] = true;
  j["transformers_version"] = "4.44.0";
  return j.dump(2) + "\n";
}

std::string ModelConfig::generation_config_json() const {
  nlohmann::ordered_json j;
  j["bos_token_id"] = bos_token_id ? Json(*bos_token_id) : Json(nullptr);
  if (eos_token_ids.size() == 1)
    j["eos_token_id"] = eos_token_ids[0];
  else
    j["eos_token_id"] = eos_token_ids;
  j["transformers_version"] = "4.44.0";
  return j.dump(2) + "\n";
}

std::vector<std::string> ModelConfig::preset_names() {
  return {"tiny", "default", "small", "base", "qwen2.5-coder-0.5b"};
}

Result<ModelConfig> ModelConfig::preset(std::string_view name, std::string_view arch, int64_t vocab_size) {
  ModelConfig c;
  if (arch != "llama" && arch != "qwen2" && arch != "mistral")
    return Status::invalid_argument("unknown --arch '" + std::string(arch) + "' (llama, qwen2, mistral)");
  c.model_type = std::string(arch);
  c.vocab_size = vocab_size;
  c.qkv_bias = arch == "qwen2";
  c.tie_word_embeddings = true;
  c.rope_theta = arch == "qwen2" ? 1000000.0 : 10000.0;
  auto shape = [&](int64_t hidden, int64_t ffn, int64_t layers, int64_t heads, int64_t kv, int64_t context) {
    c.hidden_size = hidden;
    c.intermediate_size = ffn;
    c.num_hidden_layers = layers;
    c.num_attention_heads = heads;
    c.num_key_value_heads = kv;
    c.head_dim = hidden / heads;
    c.max_position_embeddings = context;
  };
  if (name == "tiny") shape(64, 176, 2, 4, 2, 512);
  // The embedded default: 4.3M parameters (2.1M of them the tied 8k
  // embedding), sized by measurement for what a 2-core machine trains in
  // about 8 minutes: at that budget (~2M tokens) a wide, shallow model with
  // 64-wide heads reached lower validation bits per byte per second than
  // deeper, narrower ones or a smaller vocabulary (bench notes in issue 5).
  // The context is the training length: RoPE does not extrapolate past what
  // it was trained on, so prompts are windowed to it instead.
  else if (name == "default")
    shape(256, 688, 3, 4, 2, 256);
  else if (name == "small")
    shape(256, 688, 6, 8, 4, 2048);
  else if (name == "base")
    shape(512, 1376, 8, 8, 4, 4096);
  else if (name == "qwen2.5-coder-0.5b") {
    shape(896, 4864, 24, 14, 2, 32768);
    c.qkv_bias = true;
    c.rope_theta = 1000000.0;
  } else {
    std::string names;
    for (const auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    return Status::invalid_argument("unknown preset '" + std::string(name) + "' (" + names + ")");
  }
  FW_RETURN_IF_ERROR(c.validate());
  return c;
}

}  // namespace flywheel
