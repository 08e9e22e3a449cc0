// The prompt cache: keys and values of finished sequences, kept so that a new
// request sharing a token prefix with one of them skips recomputing it.
// Editors ask again on every few keystrokes with the same file, so most of a
// prompt is usually cached (with SPM order, where the typed prefix comes last).
//
// Least recently used entries are evicted first when the bytes held pass the
// bound. An entry is taken out while a sequence uses it (a KvCache belongs to
// one sequence) and put back, extended, when that sequence ends.
//
// Thread-safety: none; the engine's scheduler thread owns it.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "serve/engine.h"

namespace flywheel::serve {

class PromptCache {
 public:
  // A prefix shorter than this is not worth evicting someone's entry for
  // (every FIM prompt shares its first marker token).
  static constexpr int64_t kMinReuseTokens = 8;

  explicit PromptCache(int64_t max_bytes) : max_bytes_(max_bytes) {}

  struct Hit {
    std::unique_ptr<KvCache> cache;  // holds at least common_tokens of the prompt; truncate before use
    int64_t common_tokens = 0;
  };
  // Takes the entry of `model` and `scope` (the tenant: entries are never
  // shared across scopes) sharing the longest prefix with `tokens` (at least
  // min(kMinReuseTokens, tokens.size()) tokens), if any.
  std::optional<Hit> take(const std::shared_ptr<ServedModel>& model, const std::string& scope,
                          std::span<const TokenId> tokens);

  // Keeps `cache`, whose content is exactly `tokens`, then evicts down to the bound.
  void put(std::shared_ptr<ServedModel> model, std::string scope, std::vector<TokenId> tokens,
           std::unique_ptr<KvCache> cache);

  // Drops every entry of a model that no longer serves.
  void forget(const ServedModel* model);

  int64_t entries() const { return static_cast<int64_t>(entries_.size()); }
  int64_t bytes() const { return bytes_; }

 private:
  struct Entry {
    std::shared_ptr<ServedModel> model;  // keeps the model alive as long as its caches
    std::string scope;
    std::vector<TokenId> tokens;
    std::unique_ptr<KvCache> cache;
    int64_t bytes = 0;
  };
  std::list<Entry> entries_;  // most recently used first
  int64_t max_bytes_;
  int64_t bytes_ = 0;
};

}  // namespace flywheel::serve
