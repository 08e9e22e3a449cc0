// Shared by the learn tests: tiny checkpoints (a policy, a reference with
// other weights and the same tokenizer, a model with another tokenizer),
// JSONL writing and LearnOptions for short runs.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "learn/learn.h"
#include "model/model.h"
#include "tests/common/tiny_model.h"
#include "tokenizer/tokenizer.h"

namespace flywheel::learn_testing {

namespace fs = std::filesystem;

// Made once per test binary run (each test binary is its own process).
struct TinyModels {
  fs::path root, policy, reference, other_tokenizer;
};

inline const TinyModels& tiny_models() {
  static const TinyModels models = [] {
    TinyModels m;
    m.root = fs::temp_directory_path() / ("flywheel_learn_" + std::to_string(::getpid()));
    fs::create_directories(m.root);
    static fs::path root_to_remove = m.root;
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(root_to_remove, ec);
    });
    m.policy = testing::make_tiny_model(m.root / "policy", 7);
    m.reference = testing::make_tiny_model(m.root / "reference", 8);
    // Another tokenizer: trained on another folder, so its ids differ.
    BpeTrainerOptions options;
    options.vocab_size = 400;
    options.threads = 1;
    options.show_progress = false;
    auto files = list_corpus_files({fs::path(FLYWHEEL_SOURCE_DIR) / "src" / "core"}, options);
    EXPECT_TRUE(files.ok());
    auto tokenizer = train_bpe_tokenizer(*files, options);
    EXPECT_TRUE(tokenizer.ok());
    auto config = ModelConfig::preset("tiny", "llama", static_cast<int64_t>(tokenizer->vocab_size()));
    auto model = Model::create_random(*config, *tokenizer, 9);
    EXPECT_TRUE(model.ok());
    m.other_tokenizer = m.root / "other_tokenizer";
    EXPECT_TRUE(model->save(m.other_tokenizer).ok());
    return m;
  }();
  return models;
}

// A fresh folder for the running test under the tiny models' root.
inline fs::path test_dir(const std::string& prefix) {
  fs::path dir = tiny_models().root / (prefix + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::create_directories(dir);
  return dir;
}

inline void write_jsonl(const fs::path& path, const std::vector<nlohmann::json>& rows) {
  std::ofstream out(path);
  for (const auto& row : rows) out << row.dump() << "\n";
}

// A short single-threaded run of `mode` from the tiny policy.
inline LearnOptions short_run(const std::string& mode, const fs::path& data, const fs::path& out) {
  LearnOptions o;
  o.train.mode = mode;
  o.train.init = tiny_models().policy;
  o.train.data = data;
  o.train.out = out;
  o.train.steps = 3;
  o.train.batch_size = 2;
  o.train.seq_len = 64;
  o.train.warmup = 1;
  o.train.lr = 1e-3;
  o.train.log_every = 1;
  o.train.save_every = 1;
  o.train.keep = 10;
  o.train.threads = 1;
  o.train.seed = 3;
  return o;
}

// Rows for each format; prompts use FIM special tokens as editors send them.
inline std::vector<nlohmann::json> preference_rows() {
  return {{{"prompt", "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n<|fim_middle|>"},
           {"chosen", "return a + b"},
           {"rejected", "pass"}},
          {{"prompt", "<|fim_prefix|>for i in range(<|fim_suffix|>):\n<|fim_middle|>"},
           {"chosen", "10"},
           {"rejected", "len(x)) if x else None"}},
          {{"prompt", "int main() {\n  return"}, {"chosen", " 0;\n}"}, {"rejected", " -1; // error"}}};
}

inline std::vector<nlohmann::json> unpaired_rows() {
  return {
      {{"prompt", "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n<|fim_middle|>"},
       {"completion", "return a + b"},
       {"label", true}},
      {{"prompt", "import os\nimport"}, {"completion", " sys"}, {"label", true}},
      {{"prompt", "<|fim_prefix|>x = [<|fim_suffix|>]\n<|fim_middle|>"}, {"completion", "1, 2, 3"}, {"label", false}},
      {{"prompt", "while True:\n"}, {"completion", "    break  # done"}, {"label", false}}};
}

inline std::vector<nlohmann::json> reward_rows() {
  return {{{"prompt", "def f(x):\n    return"}, {"completion", " x * 2"}, {"reward", 0.75}, {"group", "a"}},
          {{"prompt", "def f(x):\n    return"}, {"completion", " None"}, {"reward", -0.25}, {"group", "a"}},
          {{"prompt", "def f(x):\n    return"}, {"completion", " x"}, {"reward", 0.0}, {"group", "a"}},
          {{"prompt", "<|fim_prefix|>if x <|fim_suffix|>:\n<|fim_middle|>"},
           {"completion", "is None"},
           {"reward", 0.75},
           {"group", "b"}},
          {{"prompt", "class A:\n"}, {"completion", "    pass"}, {"reward", -0.25}, {"group", "c"}}};
}

}  // namespace flywheel::learn_testing
