// The model against an independent PyTorch implementation
// (tests/reference/llama_reference.py): logits within 1e-4, greedy tokens
// identical, the KV cache equal to full recomputation within 1e-5 (also after
// truncation and in a ragged batch), bf16 weights within the stated
// tolerance, and a flywheel-saved checkpoint read by the reference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "model/generate.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "tests/tokenizer/tiny_tokenizers.h"

namespace flywheel {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(FLYWHEEL_BINARY_DIR) / "model_fixtures";
const char* kVariants[] = {"llama_gqa", "qwen2_bias_tied", "llama3_rope_scaling", "mistral_mha", "llama_linear_rope",
                           "llama_gqa_bf16"};

class ModelReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // ctest runs the generator as a fixture; a direct run of this binary makes them here.
    if (!fs::exists(kFixtures / "manifest.json")) {
      std::string cmd = "/usr/bin/python3 '" + std::string(FLYWHEEL_SOURCE_DIR) +
                        "/tests/reference/make_model_fixtures.py' '" + kFixtures.string() + "' >/dev/null";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    // The fixtures have no tokenizer; the model needs one with <= 512 tokens.
    std::string tokenizer = testing::byte_level_tokenizer({}).dump();
    for (const char* v : kVariants) ASSERT_TRUE(write_file_atomically(kFixtures / v / "tokenizer.json", tokenizer).ok());
  }

  static Model load(const std::string& variant, WeightDtype dtype = WeightDtype::kFloat32) {
    LoadOptions options;
    options.dtype = dtype;
    auto model = Model::load(kFixtures / variant, options);
    EXPECT_TRUE(model.ok()) << model.status().to_string();
    return std::move(model).value();
  }
};

struct Expected {
  std::vector<std::vector<TokenId>> inputs;
  std::vector<std::vector<float>> logits;  // per sequence, T * V
  std::vector<TokenId> greedy_prompt, greedy_64;
};

std::vector<TokenId> read_ids(const SafetensorsFile& file, const std::string& name) {
  const TensorView* t = file.find(name);
  EXPECT_NE(t, nullptr) << name;
  std::vector<TokenId> out;
  if (t == nullptr) return out;
  const auto* p = reinterpret_cast<const int64_t*>(t->data.data());
  for (size_t i = 0; i < t->data.size() / 8; ++i) out.push_back(static_cast<TokenId>(p[i]));
  return out;
}

std::vector<float> read_floats(const SafetensorsFile& file, const std::string& name) {
  const TensorView* t = file.find(name);
  EXPECT_NE(t, nullptr) << name;
  if (t == nullptr) return {};
  const auto* p = reinterpret_cast<const float*>(t->data.data());
  return std::vector<float>(p, p + t->data.size() / 4);
}

Expected read_expected(const std::string& variant) {
  auto file = SafetensorsFile::open(kFixtures / variant / "expected.safetensors");
  EXPECT_TRUE(file.ok()) << file.status().to_string();
  Expected e;
  for (int i = 0; i < 2; ++i) {
    e.inputs.push_back(read_ids(*file, "input_ids." + std::to_string(i)));
    e.logits.push_back(read_floats(*file, "logits." + std::to_string(i)));
  }
  e.greedy_prompt = read_ids(*file, "greedy_prompt");
  e.greedy_64 = read_ids(*file, "greedy_64");
  return e;
}

float max_abs_diff(std::span<const float> a, std::span<const float> b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

TEST_F(ModelReference, LogitsMatchPyTorch) {
  for (const char* variant : kVariants) {
    Model model = load(variant);
    Expected e = read_expected(variant);
    for (size_t s = 0; s < e.inputs.size(); ++s) {
      auto logits = model.logits(e.inputs[s]);
      ASSERT_TRUE(logits.ok()) << logits.status().to_string();
      EXPECT_LT(max_abs_diff(*logits, e.logits[s]), 1e-4f) << variant << " sequence " << s;
    }
  }
}

TEST_F(ModelReference, GreedyGenerationIsIdentical) {
  for (const char* variant : kVariants) {
    Model model = load(variant);
    Expected e = read_expected(variant);
    GenerationRequest request;
    request.prompt = e.greedy_prompt;
    request.params.temperature = 0;
    request.params.max_tokens = 64;
    auto result = generate(model, request);
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    EXPECT_EQ(result->tokens, e.greedy_64) << variant;
  }
}

TEST_F(ModelReference, KvCacheEqualsFullRecomputation) {
  for (const char* variant : kVariants) {
    Model model = load(variant);
    const int64_t V = model.config().vocab_size;
    Expected e = read_expected(variant);
    const std::vector<TokenId>& ids = e.inputs[0];
    auto full = model.logits(ids);
    ASSERT_TRUE(full.ok());
    auto row = [&](size_t t) { return std::span<const float>(full->data() + t * V, V); };

    // Chunked prefill (5 tokens) then one token at a time.
    auto cache = model.new_cache(4);  // grows on demand
    ForwardItem first{cache.get(), std::span<const TokenId>(ids.data(), 5), true};
    auto out = model.forward(std::span<ForwardItem>(&first, 1));
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    for (size_t t = 0; t < 5; ++t)
      EXPECT_LT(max_abs_diff(std::span<const float>((*out)[0].data() + t * V, V), row(t)), 1e-5f) << variant;
    for (size_t t = 5; t < ids.size(); ++t) {
      ForwardItem step{cache.get(), std::span<const TokenId>(&ids[t], 1)};
      auto logits = model.forward(std::span<ForwardItem>(&step, 1));
      ASSERT_TRUE(logits.ok());
      EXPECT_LT(max_abs_diff((*logits)[0], row(t)), 1e-5f) << variant << " position " << t;
    }
    // Roll back to position 9 and continue with the same tokens.
    cache->truncate(9);
    EXPECT_EQ(cache->length(), 9);
    ForwardItem again{cache.get(), std::span<const TokenId>(ids.data() + 9, ids.size() - 9), true};
    auto resumed = model.forward(std::span<ForwardItem>(&again, 1));
    ASSERT_TRUE(resumed.ok());
    for (size_t t = 9; t < ids.size(); ++t)
      EXPECT_LT(max_abs_diff(std::span<const float>((*resumed)[0].data() + (t - 9) * V, V), row(t)), 1e-5f)
          << variant << " after truncation, position " << t;
  }
}

TEST_F(ModelReference, RaggedBatchEqualsSeparateSequences) {
  Model model = load("qwen2_bias_tied");
  const int64_t V = model.config().vocab_size;
  Expected e = read_expected("qwen2_bias_tied");
  // Sequence 0 decodes one token while sequence 1 prefills all of its tokens.
  auto a = model.new_cache(32), b = model.new_cache(32);
  ForwardItem prefill{a.get(), std::span<const TokenId>(e.inputs[0].data(), e.inputs[0].size() - 1)};
  ASSERT_TRUE(model.forward(std::span<ForwardItem>(&prefill, 1)).ok());
  std::vector<ForwardItem> batch = {{a.get(), std::span<const TokenId>(&e.inputs[0].back(), 1)},
                                    {b.get(), e.inputs[1], true}};
  auto out = model.forward(batch);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_LT(max_abs_diff((*out)[0], std::span<const float>(e.logits[0].data() + (e.inputs[0].size() - 1) * V, V)),
            1e-4f);
  EXPECT_LT(max_abs_diff((*out)[1], e.logits[1]), 1e-4f);
}

TEST_F(ModelReference, Bf16WeightsStayWithinTolerance) {
  // Tolerance measured by the reference over 40 random models: max |diff| 0.19, RMS 0.016.
  Model fp32 = load("llama_gqa");
  Model bf16 = load("llama_gqa", WeightDtype::kBFloat16);
  Expected e = read_expected("llama_gqa");
  auto a = fp32.logits(e.inputs[0]);
  auto b = bf16.logits(e.inputs[0]);
  ASSERT_TRUE(a.ok() && b.ok());
  double sum_sq = 0;
  for (size_t i = 0; i < a->size(); ++i) sum_sq += std::pow((*a)[i] - (*b)[i], 2);
  EXPECT_LT(max_abs_diff(*a, *b), 0.25f);
  EXPECT_LT(std::sqrt(sum_sq / a->size()), 0.03);
  EXPECT_GT(max_abs_diff(*a, *b), 0.0f) << "bf16 weights should not be bit-identical to fp32";
}

TEST_F(ModelReference, SavedCheckpointLoadsInTheReference) {
  Model model = load("qwen2_bias_tied");
  fs::path out = fs::temp_directory_path() / ("flywheel_saved_" + std::to_string(::getpid()));
  ASSERT_TRUE(model.save(out, "{\"parent\": null}").ok());
  Model reloaded = [&] {
    auto m = Model::load(out);
    EXPECT_TRUE(m.ok()) << m.status().to_string();
    return std::move(m).value();
  }();
  Expected e = read_expected("qwen2_bias_tied");
  auto logits = reloaded.logits(e.inputs[0]);
  ASSERT_TRUE(logits.ok());
  EXPECT_EQ(max_abs_diff(*logits, e.logits[0]), max_abs_diff(*model.logits(e.inputs[0]), e.logits[0]));

  std::string cmd = "/usr/bin/python3 '" + std::string(FLYWHEEL_SOURCE_DIR) + "/tests/reference/llama_reference.py' '" +
                    out.string() + "'";
  for (TokenId id : e.inputs[0]) cmd += " " + std::to_string(id);
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string text;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) text.append(buffer, n);
  ASSERT_EQ(pclose(pipe), 0) << cmd;
  auto json = nlohmann::json::parse(text);
  const int64_t V = model.config().vocab_size;
  const size_t last = e.inputs[0].size() - 1;
  for (size_t i = 0; i < 8; ++i) EXPECT_NEAR(json["last_logits_head"][i].get<float>(), (*logits)[last * V + i], 1e-4);
  fs::remove_all(out);
}

TEST_F(ModelReference, BadCheckpointsGiveClearErrors) {
  fs::path dir = fs::temp_directory_path() / ("flywheel_bad_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy(kFixtures / "llama_gqa", dir, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  auto expect_error = [&](const std::string& wanted) {
    auto m = Model::load(dir);
    ASSERT_FALSE(m.ok()) << wanted;
    EXPECT_NE(m.status().to_string().find(wanted), std::string::npos) << m.status().to_string();
  };
  std::string config = *read_file(dir / "config.json");
  // Wrong shape: the config claims a larger FFN than the weights have.
  auto j = nlohmann::json::parse(config);
  j["intermediate_size"] = j["intermediate_size"].get<int>() + 8;
  ASSERT_TRUE(write_file_atomically(dir / "config.json", j.dump()).ok());
  expect_error("gate_proj.weight' has shape");
  j = nlohmann::json::parse(config);
  j["model_type"] = "gpt2";
  ASSERT_TRUE(write_file_atomically(dir / "config.json", j.dump()).ok());
  expect_error("model_type 'gpt2' is not supported");
  ASSERT_TRUE(write_file_atomically(dir / "config.json", "{not json").ok());
  expect_error("config.json");
  ASSERT_TRUE(write_file_atomically(dir / "config.json", config).ok());
  std::string weights = *read_file(dir / "model.safetensors");
  ASSERT_TRUE(write_file_atomically(dir / "model.safetensors", weights.substr(0, weights.size() / 2)).ok());
  expect_error("model.safetensors");
  fs::remove(dir / "model.safetensors");
  expect_error("safetensors");
  // A prompt longer than the context.
  Model model = load("llama_gqa");
  std::vector<TokenId> too_long(model.config().max_position_embeddings + 1, 3);
  auto logits = model.logits(too_long);
  ASSERT_FALSE(logits.ok());
  EXPECT_NE(logits.status().message().find("context"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace flywheel
