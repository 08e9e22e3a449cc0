// A tiny FIM-capable checkpoint for tests: a 512-token byte-level BPE (with
// the FIM and chat special tokens) trained on a fixed corpus kept in the
// repository (tests/common/tiny_model_corpus: Python 3.11's json package,
// licence in tiny_model_corpus.LICENSE), and random weights of the "tiny"
// preset. Made once per directory; the same on every machine for a seed.
// Header-only so any test binary can use it.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "model/config.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "model/show_head.h"
#include "tokenizer/tokenizer.h"

namespace flywheel::testing {

// In the repository rather than the machine's /usr/lib/python3.X/json, which
// differs between Python versions and so gave each machine its own tokenizer.
inline std::filesystem::path tiny_model_corpus() {
  return std::filesystem::path(FLYWHEEL_SOURCE_DIR) / "tests" / "common" / "tiny_model_corpus";
}

inline std::filesystem::path make_tiny_model(const std::filesystem::path& dir, uint64_t seed = 7,
                                             const std::string& preset = "tiny") {
  namespace fs = std::filesystem;
  if (fs::exists(dir / "model.safetensors")) return dir;
  BpeTrainerOptions options;
  options.vocab_size = 512;
  options.threads = 1;
  options.show_progress = false;
  // A failure is reported and ends here (the caller's next step then fails
  // on the missing checkpoint) rather than going on with an error value.
  auto files = list_corpus_files({tiny_model_corpus()}, options);
  if (!files.ok() || files->empty()) {
    ADD_FAILURE() << "tiny model corpus " << tiny_model_corpus() << ": "
                  << (files.ok() ? "no files" : files.status().to_string());
    return dir;
  }
  auto tokenizer = train_bpe_tokenizer(*files, options);
  if (!tokenizer.ok()) {
    ADD_FAILURE() << tokenizer.status().to_string();
    return dir;
  }
  auto config = ModelConfig::preset(preset, "llama", static_cast<int64_t>(tokenizer->vocab_size()));
  if (!config.ok()) {
    ADD_FAILURE() << config.status().to_string();
    return dir;
  }
  auto model = Model::create_random(*config, *tokenizer, seed);
  if (!model.ok()) {
    ADD_FAILURE() << model.status().to_string();
    return dir;
  }
  Status saved = model->save(dir);
  EXPECT_TRUE(saved.ok()) << saved.to_string();
  return dir;
}

// Adds a show/no-show head (model/show_head.h) to the checkpoint in `dir`:
// weight[i] = scale * sin(i + 1), bias as given. Returns the head.
inline ShowHead add_show_head(const std::filesystem::path& dir, float scale, float bias) {
  auto checkpoint = SafetensorsCheckpoint::open(dir);
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.status().to_string();
  auto config = ModelConfig::from_file((dir / "config.json").string());
  EXPECT_TRUE(config.ok()) << config.status().to_string();
  ShowHead head;
  for (int64_t i = 0; i < config->hidden_size; ++i) head.weight.push_back(scale * std::sin(static_cast<float>(i + 1)));
  head.bias = bias;
  std::vector<TensorToWrite> tensors;
  for (const std::string& name : checkpoint->names()) {
    const TensorView* t = checkpoint->find(name);
    tensors.push_back({name, t->dtype, t->shape, t->data});
  }
  tensors.push_back({kShowHeadWeight, DType::kF32, {config->hidden_size}, std::as_bytes(std::span(head.weight))});
  tensors.push_back({kShowHeadBias, DType::kF32, {1}, std::as_bytes(std::span(&head.bias, 1))});
  // The views point into the open file; the writer renames a new file over it.
  Status written = write_safetensors(dir / "model.safetensors", tensors);
  EXPECT_TRUE(written.ok()) << written.to_string();
  return head;
}

}  // namespace flywheel::testing
