// GGUF models (infer/gguf_model.h): the reference fixtures' checkpoints
// converted to GGUF and back keep every weight, the config and the
// tokenizer's ids; llama q/k rows are permuted as llama.cpp's converter
// permutes them; the tokenizer rebuilt from tokenizer.ggml.* gives the same
// ids; malformed models fail naming what is wrong.
#include "infer/gguf_model.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "infer/gguf.h"
#include "infer/half.h"
#include "infer/kernels.h"
#include "model/safetensors.h"
#include "tests/common/dependency.h"
#include "tests/tokenizer/tiny_tokenizers.h"
#include "tokenizer/tokenizer.h"

namespace flywheel::infer {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(FLYWHEEL_BINARY_DIR) / "model_fixtures";
const char* kVariants[] = {"llama_gqa",   "qwen2_bias_tied",   "llama3_rope_scaling",
                           "mistral_mha", "llama_linear_rope", "llama_gqa_bf16"};
const char* kChatTemplate = "{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}";

std::string sample_text() {
  std::string text = read_file(fs::path(FLYWHEEL_SOURCE_DIR) / "tests/common/tiny_model_corpus/__init__.py").value();
  return text.substr(0, 4000) +
         "<|fim_prefix|>def f(x):<|fim_suffix|>\n    return x<|fim_middle|> caf\xC3\xA9 \xF0\x9F\x98\x80";
}

class GgufModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kFixtures / "manifest.json")) {
      const std::string cmd = "/usr/bin/python3 '" + std::string(FLYWHEEL_SOURCE_DIR) +
                              "/tests/reference/make_model_fixtures.py' '" + kFixtures.string() + "' >/dev/null";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    dir_ = new fs::path(fs::temp_directory_path() / ("gguf_model_test_" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    // The fixtures have no tokenizer: a 512-token byte-level BPE trained on
    // the repository's corpus, the size of the fixtures' vocabulary.
    BpeTrainerOptions options;
    options.vocab_size = 512;
    options.threads = 1;
    options.show_progress = false;
    auto files = list_corpus_files({fs::path(FLYWHEEL_SOURCE_DIR) / "tests/common/tiny_model_corpus"}, options);
    ASSERT_TRUE(files.ok()) << files.status().to_string();
    auto tokenizer = train_bpe_tokenizer(*files, options);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().to_string();
    ASSERT_EQ(tokenizer->vocab_size(), 512u);
    tokenizer_json_ = new std::string(tokenizer->to_json());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete tokenizer_json_;
  }

  // A copy of a fixture checkpoint with a tokenizer (and chat template).
  static fs::path checkpoint(const std::string& variant, const std::string& tokenizer_json = *tokenizer_json_) {
    const fs::path out = *dir_ / (variant + "_hf");
    fs::create_directories(out);
    for (const char* f : {"config.json", "model.safetensors"})
      fs::copy_file(kFixtures / variant / f, out / f, fs::copy_options::overwrite_existing);
    EXPECT_TRUE(write_file_atomically(out / "tokenizer.json", tokenizer_json).ok());
    nlohmann::json tc = {{"chat_template", kChatTemplate}};
    EXPECT_TRUE(write_file_atomically(out / "tokenizer_config.json", tc.dump()).ok());
    return out;
  }

  static fs::path convert(const std::string& variant, TensorType type, const std::string& tokenizer_json) {
    const fs::path out = *dir_ / (variant + "_" + std::string(type_name(type)) + ".gguf");
    const Status s = write_gguf_from_checkpoint(checkpoint(variant, tokenizer_json), type, out);
    EXPECT_TRUE(s.ok()) << s.to_string();
    return out;
  }
  static fs::path convert(const std::string& variant, TensorType type) {
    return convert(variant, type, *tokenizer_json_);
  }

  static fs::path* dir_;
  static std::string* tokenizer_json_;
};

fs::path* GgufModelTest::dir_ = nullptr;
std::string* GgufModelTest::tokenizer_json_ = nullptr;

std::vector<float> hf_f32(const SafetensorsCheckpoint& ckpt, const std::string& name) {
  const TensorView* t = ckpt.find(name);
  EXPECT_NE(t, nullptr) << name;
  if (t == nullptr) return {};
  std::vector<float> out(static_cast<size_t>(t->numel()));
  EXPECT_TRUE(convert_to_f32(t->dtype, t->data, out));
  return out;
}

std::vector<float> rows_f32(const WeightMatrix& w) {
  std::vector<float> out(static_cast<size_t>(w.rows * w.cols));
  for (int64_t r = 0; r < w.rows; ++r) dequantize_row(w.type, w.row(r), w.cols, out.data() + r * w.cols);
  return out;
}

// Every (HF name, weights view) pair of the model.
std::vector<std::pair<std::string, std::vector<float>>> named_weights(const GgufModel& m) {
  std::vector<std::pair<std::string, std::vector<float>>> out;
  const ModelWeights& w = m.weights;
  out.emplace_back("model.embed_tokens.weight", rows_f32(w.embedding));
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& L = w.layers[l];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    out.emplace_back(p + "self_attn.q_proj.weight", rows_f32(L.q));
    out.emplace_back(p + "self_attn.k_proj.weight", rows_f32(L.k));
    out.emplace_back(p + "self_attn.v_proj.weight", rows_f32(L.v));
    out.emplace_back(p + "self_attn.o_proj.weight", rows_f32(L.o));
    out.emplace_back(p + "mlp.gate_proj.weight", rows_f32(L.gate));
    out.emplace_back(p + "mlp.up_proj.weight", rows_f32(L.up));
    out.emplace_back(p + "mlp.down_proj.weight", rows_f32(L.down));
    out.emplace_back(p + "input_layernorm.weight", L.input_norm);
    out.emplace_back(p + "post_attention_layernorm.weight", L.post_attention_norm);
    if (!L.q_bias.empty()) {
      out.emplace_back(p + "self_attn.q_proj.bias", L.q_bias);
      out.emplace_back(p + "self_attn.k_proj.bias", L.k_bias);
      out.emplace_back(p + "self_attn.v_proj.bias", L.v_bias);
    }
  }
  out.emplace_back("model.norm.weight", w.final_norm);
  if (!m.config.tie_word_embeddings) out.emplace_back("lm_head.weight", rows_f32(w.lm_head));
  return out;
}

void expect_same_config(const ModelConfig& got, const ModelConfig& want, const std::string& variant) {
  SCOPED_TRACE(variant);
  EXPECT_EQ(got.model_type, want.model_type);
  EXPECT_EQ(got.vocab_size, want.vocab_size);
  EXPECT_EQ(got.hidden_size, want.hidden_size);
  EXPECT_EQ(got.intermediate_size, want.intermediate_size);
  EXPECT_EQ(got.num_hidden_layers, want.num_hidden_layers);
  EXPECT_EQ(got.num_attention_heads, want.num_attention_heads);
  EXPECT_EQ(got.num_key_value_heads, want.num_key_value_heads);
  EXPECT_EQ(got.head_dim, want.head_dim);
  EXPECT_EQ(got.max_position_embeddings, want.max_position_embeddings);
  // GGUF keeps these as float32.
  EXPECT_EQ(got.rope_theta, static_cast<double>(static_cast<float>(want.rope_theta)));
  EXPECT_EQ(got.rms_norm_eps, static_cast<double>(static_cast<float>(want.rms_norm_eps)));
  EXPECT_EQ(got.rope_scaling.type, want.rope_scaling.type);
  if (want.rope_scaling.type != "none")
    EXPECT_EQ(got.rope_scaling.factor, static_cast<float>(want.rope_scaling.factor));
  if (want.rope_scaling.type == "llama3") {
    EXPECT_EQ(got.rope_scaling.low_freq_factor, static_cast<float>(want.rope_scaling.low_freq_factor));
    EXPECT_EQ(got.rope_scaling.high_freq_factor, static_cast<float>(want.rope_scaling.high_freq_factor));
    EXPECT_EQ(got.rope_scaling.original_max_position_embeddings, want.rope_scaling.original_max_position_embeddings);
  }
  EXPECT_EQ(got.tie_word_embeddings, want.tie_word_embeddings);
  EXPECT_EQ(got.qkv_bias, want.qkv_bias);
  EXPECT_EQ(got.o_bias, want.o_bias);
  EXPECT_EQ(got.sliding_window, want.sliding_window);
  EXPECT_EQ(got.bos_token_id, want.bos_token_id);
  ASSERT_FALSE(want.eos_token_ids.empty());
  ASSERT_FALSE(got.eos_token_ids.empty());
  EXPECT_EQ(got.eos_token_ids[0], want.eos_token_ids[0]);
}

TEST_F(GgufModelTest, F32ConversionAndBackKeepWeightsConfigAndTokenizer) {
  const Tokenizer original = Tokenizer::from_json(*tokenizer_json_).value();
  const std::vector<TokenId> ids = original.encode(sample_text());
  for (const char* variant : kVariants) {
    SCOPED_TRACE(variant);
    const fs::path gguf = convert(variant, TensorType::kF32);
    Result<GgufModel> m = open_gguf_model(gguf);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    const ModelConfig want = ModelConfig::from_file((kFixtures / variant / "config.json").string()).value();
    expect_same_config(m->config, want, variant);
    EXPECT_EQ(m->chat_template, kChatTemplate);
    EXPECT_EQ(m->tokenizer.encode(sample_text()), ids);
    const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(kFixtures / variant).value();
    // Every weight, un-permuted, equals the checkpoint's exactly (f32 and
    // bf16 both widen to f32 without rounding).
    const auto weights = named_weights(*m);
    EXPECT_EQ(weights.size(), ckpt.size());
    for (const auto& [name, values] : weights) EXPECT_EQ(values, hf_f32(ckpt, name)) << name;
    EXPECT_EQ(m->weights.lm_head.data == m->weights.embedding.data, want.tie_word_embeddings);

    // And back to a Hugging Face checkpoint.
    const fs::path back = *dir_ / (std::string(variant) + "_back");
    const Status s = write_checkpoint_from_gguf(gguf, back);
    ASSERT_TRUE(s.ok()) << s.to_string();
    const SafetensorsCheckpoint again = SafetensorsCheckpoint::open(back).value();
    EXPECT_EQ(again.names(), ckpt.names());
    for (const std::string& name : ckpt.names()) {
      EXPECT_EQ(again.find(name)->shape, ckpt.find(name)->shape) << name;
      EXPECT_EQ(hf_f32(again, name), hf_f32(ckpt, name)) << name;
    }
    expect_same_config(ModelConfig::from_file((back / "config.json").string()).value(), want, variant);
    EXPECT_EQ(Tokenizer::from_file(back / "tokenizer.json").value().encode(sample_text()), ids);
    const auto tc = nlohmann::json::parse(read_file(back / "tokenizer_config.json").value());
    EXPECT_EQ(tc["chat_template"], kChatTemplate);
  }
}

TEST_F(GgufModelTest, LlamaQkRowsArePermutedAsLlamaCppsConverterDoes) {
  // llama.cpp's permute(): w.reshape(n_head, 2, D/2, cols).swapaxes(1, 2):
  // GGUF row (h, i, s) holds HF row (h, s, i). Written out here by index.
  for (int64_t D : {4, 16, 64}) {
    std::vector<int64_t> seen(3 * D, 0);
    for (int64_t h = 0; h < 3; ++h)
      for (int64_t s = 0; s < 2; ++s)
        for (int64_t i = 0; i < D / 2; ++i) {
          const int64_t hf = h * D + s * (D / 2) + i, gguf = h * D + i * 2 + s;
          EXPECT_EQ(gguf_rope_row(hf, D), gguf);
          ++seen[gguf_rope_row(hf, D)];
        }
    for (int64_t n : seen) EXPECT_EQ(n, 1);  // a permutation
  }
  EXPECT_EQ(gguf_rope_row(1, 4), 2);
  EXPECT_EQ(gguf_rope_row(2, 4), 1);

  // In the file: llama's q/k (and their biases) permuted, v and qwen2's not.
  for (const char* variant : {"llama_gqa", "qwen2_bias_tied", "mistral_mha"}) {
    SCOPED_TRACE(variant);
    const bool permuted = std::string(variant) != "qwen2_bias_tied";
    const GgufFile file = GgufFile::open(convert(variant, TensorType::kF32)).value();
    const ModelConfig c = ModelConfig::from_file((kFixtures / variant / "config.json").string()).value();
    const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(kFixtures / variant).value();
    for (const char* proj : {"q", "k", "v"}) {
      const std::vector<float> hf = hf_f32(ckpt, std::string("model.layers.1.self_attn.") + proj + "_proj.weight");
      const GgufTensor* t = file.find_tensor(std::string("blk.1.attn_") + proj + ".weight");
      ASSERT_NE(t, nullptr);
      const int64_t cols = t->cols();
      const bool p = permuted && std::string(proj) != "v";
      for (int64_t r = 0; r < t->rows(); ++r) {
        const int64_t g = p ? gguf_rope_row(r, c.head_dim) : r;
        ASSERT_EQ(std::memcmp(t->data.data() + 4 * g * cols, hf.data() + r * cols, 4 * cols), 0)
            << proj << " row " << r;
      }
      if (p) EXPECT_NE(std::memcmp(t->data.data(), hf.data(), t->data.size()), 0) << "rows were not moved";
    }
  }
}

TEST_F(GgufModelTest, F16AndBf16RoundEachWeightOnce) {
  for (TensorType type : {TensorType::kF16, TensorType::kBF16}) {
    SCOPED_TRACE(std::string(type_name(type)));
    const GgufModel m = open_gguf_model(convert("qwen2_bias_tied", type)).value();
    const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(kFixtures / "qwen2_bias_tied").value();
    EXPECT_EQ(m.weights.layers[0].q.type, type);
    EXPECT_EQ(m.weights.embedding.type, type);
    for (const auto& [name, values] : named_weights(m)) {
      std::vector<float> want = hf_f32(ckpt, name);
      const bool vector = name.find("norm") != std::string::npos || name.find("bias") != std::string::npos;
      if (!vector)  // 2-D weights in the chosen type; norms and biases stay f32
        for (float& v : want)
          v = type == TensorType::kF16 ? half_to_float(float_to_half(v)) : bf16_to_float(float_to_bf16(v));
      EXPECT_EQ(values, want) << name;
    }
  }
}

// True when quantize_row and dequantize_row work for `type` (the quantizers
// are written by other helpers; until they land the placeholders abort, so
// try them in a child process).
bool quantizer_works(TensorType type) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<float> x(256, 0.5f), y(256);
    std::vector<std::byte> q(static_cast<size_t>(row_bytes(type, 256)));
    (void)quantize_row(type, x.data(), 256, q.data());
    dequantize_row(type, q.data(), 256, y.data());
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// TODO(lead): drop the FLYWHEEL_REQUIRE_DEPENDENCY guard once Q8_0 lands.
TEST_F(GgufModelTest, Q8_0ConversionIsWithinHalfAStep) {
  FLYWHEEL_REQUIRE_DEPENDENCY(quantizer_works(TensorType::kQ8_0),
                              "the Q8_0 quantizer (kernels32 helper's blocks32.cpp)");
  for (TensorType type : {TensorType::kQ8_0, TensorType::kQ4_K}) {
    SCOPED_TRACE(std::string(type_name(type)));
    // The fixtures' rows (64, 160) are not multiples of 256: Q4_K falls back to Q8_0.
    const GgufModel m = open_gguf_model(convert("llama_gqa", type)).value();
    EXPECT_EQ(m.weights.layers[0].q.type, TensorType::kQ8_0);
    const GgufFile file = GgufFile::open(*dir_ / ("llama_gqa_" + std::string(type_name(type)) + ".gguf")).value();
    EXPECT_EQ(file.get_int("general.file_type").value(), type == TensorType::kQ8_0 ? 7 : 14);
    const SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(kFixtures / "llama_gqa").value();
    for (const auto& [name, values] : named_weights(m)) {
      const std::vector<float> want = hf_f32(ckpt, name);
      ASSERT_EQ(values.size(), want.size());
      if (name.find("norm") != std::string::npos) {
        EXPECT_EQ(values, want) << name;
        continue;
      }
      // Per block of 32: d = max|x| / 127 rounded to f16 (relative error
      // <= 2^-11), q = round(x / d) in [-127, 127]: |q d - x| <= d / 2 plus
      // 127 * (the f16 rounding of d) <= max|x| * (1/254 + 2^-11) (1 + 2^-11).
      for (size_t b = 0; b < want.size(); b += 32) {
        float amax = 0;
        for (size_t j = b; j < b + 32; ++j) amax = std::max(amax, std::fabs(want[j]));
        const float bound = amax * (1.0f / 254 + 1.0f / 2048) * (1 + 1.0f / 2048);
        for (size_t j = b; j < b + 32; ++j) ASSERT_LE(std::fabs(values[j] - want[j]), bound) << name << " " << j;
      }
    }
  }
}

// Rewrites a GGUF with `edit` applied to its metadata and tensors.
fs::path rewrite(
    const fs::path& in, const fs::path& out,
    const std::function<void(std::vector<std::pair<std::string, GgufValue>>&, std::vector<GgufTensorToWrite>&)>& edit) {
  const GgufFile file = GgufFile::open(in).value();
  auto metadata = file.metadata();
  std::vector<GgufTensorToWrite> tensors;
  for (const GgufTensor& t : file.tensors()) tensors.push_back({t.name, t.type, t.dims, t.data});
  edit(metadata, tensors);
  EXPECT_TRUE(write_gguf(out, metadata, tensors).ok());
  return out;
}

void erase_key(std::vector<std::pair<std::string, GgufValue>>& md, const std::string& key) {
  std::erase_if(md, [&](const auto& kv) { return kv.first == key; });
}

TEST_F(GgufModelTest, TokenizerFromGgmlMetadataGivesTheSameIds) {
  // Byte-level BPE (tokenizer.ggml.model gpt2, pre qwen2): the trained tokenizer.
  const fs::path gguf = rewrite(convert("llama_gqa", TensorType::kF32), *dir_ / "bpe_no_json.gguf",
                                [](auto& md, auto&) { erase_key(md, "tokenizer.huggingface.json"); });
  const GgufFile file = GgufFile::open(gguf).value();
  EXPECT_EQ(file.get_string("tokenizer.ggml.model").value(), "gpt2");
  EXPECT_EQ(file.get_string("tokenizer.ggml.pre").value(), "qwen2");
  EXPECT_EQ(file.get_int("tokenizer.ggml.fim_pre_token_id").value(),
            Tokenizer::from_json(*tokenizer_json_)->token_to_id("<|fim_prefix|>").value());
  Result<GgufModel> m = open_gguf_model(gguf);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const Tokenizer original = Tokenizer::from_json(*tokenizer_json_).value();
  EXPECT_EQ(m->tokenizer.encode(sample_text()), original.encode(sample_text()));
  EXPECT_EQ(m->tokenizer.decode(original.encode(sample_text())), sample_text());
  EXPECT_TRUE(m->tokenizer.is_special(original.token_to_id("<|fim_prefix|>").value()));

  // SentencePiece-style BPE (tokenizer.ggml.model llama): merges come back
  // from the scores. Pieces are in merge order, as SentencePiece numbers
  // them, and every split of a piece into two pieces is a merge (as in a
  // converted SentencePiece model), so the derived merges are the original ones.
  const std::string u = "\xE2\x96\x81";
  const std::string sp = testing::sentencepiece_tokenizer({u, "t", "h", "e", "a", "n", "i", u + "t", "he", u + "the",
                                                           "in", u + "in", "an", u + "an", "th", "the"},
                                                          {{u, "t"},
                                                           {"h", "e"},
                                                           {u, "the"},
                                                           {u + "t", "he"},
                                                           {"i", "n"},
                                                           {u, "in"},
                                                           {"a", "n"},
                                                           {u, "an"},
                                                           {"t", "h"},
                                                           {"t", "he"},
                                                           {"th", "e"}})
                             .dump();
  const fs::path sp_gguf = rewrite(convert("llama_gqa", TensorType::kF32, sp), *dir_ / "sp_no_json.gguf",
                                   [](auto& md, auto&) { erase_key(md, "tokenizer.huggingface.json"); });
  EXPECT_EQ(GgufFile::open(sp_gguf)->get_string("tokenizer.ggml.model").value(), "llama");
  Result<GgufModel> spm = open_gguf_model(sp_gguf);
  ASSERT_TRUE(spm.ok()) << spm.status().to_string();
  const Tokenizer sp_original = Tokenizer::from_json(sp).value();
  const std::string text = "the thin tin an in thethe xthe zth xyz caf\xC3\xA9 in  the";
  EXPECT_EQ(spm->tokenizer.encode(text, true), sp_original.encode(text, true));
  EXPECT_EQ(spm->tokenizer.encode(text, true)[0], 1);  // <s> from add_bos_token
  EXPECT_EQ(spm->tokenizer.decode(sp_original.encode(text)), sp_original.decode(sp_original.encode(text)));
}

TEST_F(GgufModelTest, MalformedModelsNameWhatIsWrong) {
  const fs::path good = convert("llama_gqa", TensorType::kF32);
  auto error = [&](const std::string& name, auto edit) {
    Result<GgufModel> m = open_gguf_model(rewrite(good, *dir_ / (name + ".gguf"), edit));
    return m.ok() ? Status::OK() : m.status();
  };
  auto expect = [](const Status& s, StatusCode code, std::initializer_list<std::string_view> words) {
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), code) << s.to_string();
    for (std::string_view w : words) EXPECT_NE(s.message().find(w), std::string::npos) << s.to_string();
  };
  // A vocabulary that does not match the embedding.
  expect(error("vocab",
               [](auto& md, auto&) {
                 erase_key(md, "tokenizer.huggingface.json");
                 for (auto& [k, v] : md)
                   if (k == "tokenizer.ggml.tokens" || k == "tokenizer.ggml.token_type") {
                     v.strings.resize(std::min<size_t>(v.strings.size(), 500));
                     v.integers.resize(std::min<size_t>(v.integers.size(), 500));
                   }
               }),
         StatusCode::kCorruption, {"tokenizer.ggml.tokens", "500", "token_embd.weight", "512"});
  expect(error("arch", [](auto& md, auto&) { md[0].second = GgufValue::str("gptneox"); }), StatusCode::kUnsupported,
         {"general.architecture", "gptneox"});
  expect(error("missing",
               [](auto&, auto& t) { std::erase_if(t, [](auto& x) { return x.name == "blk.1.ffn_up.weight"; }); }),
         StatusCode::kCorruption, {"blk.1.ffn_up.weight"});
  expect(error("shape",
               [](auto&, auto& t) {
                 for (auto& x : t)
                   if (x.name == "blk.0.ffn_gate.weight") x.dims = {x.dims[1], x.dims[0]};
               }),
         StatusCode::kCorruption, {"blk.0.ffn_gate.weight", "dims"});
  expect(error("heads", [](auto& md, auto&) { erase_key(md, "llama.attention.head_count"); }), StatusCode::kCorruption,
         {"llama.attention.head_count"});
  expect(error("pre",
               [](auto& md, auto&) {
                 erase_key(md, "tokenizer.huggingface.json");
                 for (auto& [k, v] : md)
                   if (k == "tokenizer.ggml.pre") v = GgufValue::str("chameleon");
               }),
         StatusCode::kUnsupported, {"tokenizer.ggml.pre", "chameleon"});
}

}  // namespace
}  // namespace flywheel::infer
