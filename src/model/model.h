// The model module's public API: a Llama-family causal language model with
// its tokenizer, loaded from and saved to a Hugging Face checkpoint directory
// (config.json, model.safetensors, tokenizer.json, generation_config.json,
// flywheel.json), with KV caches for incremental and batched inference.
// libtorch stays behind this header (see model/transformer.h for the module).
//
// Thread-safety: a Model may be shared, but forward() and generate() calls on
// one Model must be serialized (the serving scheduler runs them on one
// thread). A KvCache belongs to one sequence.
// Errors: Status values naming the file, tensor or option; never exceptions.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"

namespace flywheel {

namespace model {
struct CausalLmImpl;
}
struct ShowHead;  // model/show_head.h

enum class WeightDtype { kFloat32, kBFloat16 };

struct LoadOptions {
  WeightDtype dtype = WeightDtype::kFloat32;  // kBFloat16 keeps projection weights in bf16 (half the memory)
  int threads = 0;                            // 0: all cores
  // Loads the show/no-show head stored beside the weights (model/show_head.h).
  // Training loads leave it out: new weights make an old head meaningless.
  bool show_head = true;
};

// Keys and values of one sequence. Preallocated; truncate() rolls back to a
// token position (prompt-cache reuse, speculative decoding).
class KvCache {
 public:
  ~KvCache();
  int64_t length() const;
  int64_t capacity() const;
  // Memory held by the keys and values (all layers, at capacity).
  int64_t bytes() const;
  void truncate(int64_t length);
  // Grows to at least `capacity` tokens, keeping the content.
  void reserve(int64_t capacity);

 private:
  friend class Model;
  struct State;
  explicit KvCache(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// One sequence's part of a batched forward step.
struct ForwardItem {
  KvCache* cache = nullptr;
  std::span<const TokenId> tokens;  // appended at cache->length()
  bool all_logits = false;          // logits of every token, not just the last
  // When set and the model has a show head: P(accept) at the item's last
  // token (model/show_head.h), from the same pass's hidden state.
  float* show_probability = nullptr;
};

class Model {
 public:
  static Result<Model> load(const std::filesystem::path& dir, const LoadOptions& options = {});
  // Fresh weights (normal, std 0.02; norms 1) for a config and tokenizer.
  static Result<Model> create_random(const ModelConfig& config, Tokenizer tokenizer, uint64_t seed);
  // Writes the checkpoint layout atomically (a temp dir renamed into place),
  // with the show head when the model has one.
  // `lineage` is the JSON object stored as flywheel.json ("{}" if empty);
  // `extra` may write more files into the temporary directory (trainer state).
  Status save(const std::filesystem::path& dir, const std::string& lineage_json = "",
              const std::function<Status(const std::filesystem::path& temp_dir)>& extra = {}) const;

  const ModelConfig& config() const;
  const Tokenizer& tokenizer() const;
  WeightDtype weight_dtype() const;
  // The show/no-show head loaded with the weights (or set), or null.
  const ShowHead* show_head() const;
  // Sets the head that save() writes and forward() applies (the show
  // objective's trained head).
  void set_show_head(const ShowHead& head);

  std::unique_ptr<KvCache> new_cache(int64_t capacity) const;
  // Runs all items in one batched step. Returns per item the logits of its
  // last token (V floats) or of all its tokens (n * V floats, row-major).
  Result<std::vector<std::vector<float>>> forward(std::span<ForwardItem> items);
  // Logits of every position of `tokens` by full recomputation (no cache):
  // tokens.size() * V floats.
  Result<std::vector<float>> logits(std::span<const TokenId> tokens);

  // The libtorch module, for the train and serve implementation files.
  model::CausalLmImpl& module();

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

 private:
  struct State;
  explicit Model(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace flywheel
