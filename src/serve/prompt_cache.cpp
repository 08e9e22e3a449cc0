#include "serve/prompt_cache.h"

#include <algorithm>

namespace flywheel::serve {

std::optional<PromptCache::Hit> PromptCache::take(const std::shared_ptr<ServedModel>& model, const std::string& scope,
                                                  std::span<const TokenId> tokens) {
  auto best = entries_.end();
  int64_t best_common = 0;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->model != model || it->scope != scope) continue;
    const size_t limit = std::min(tokens.size(), it->tokens.size());
    const auto mismatch = std::mismatch(tokens.begin(), tokens.begin() + limit, it->tokens.begin());
    const auto common = static_cast<int64_t>(mismatch.first - tokens.begin());
    if (common > best_common) {  // ties go to the most recently used (earlier in the list)
      best = it;
      best_common = common;
    }
  }
  const int64_t needed = std::min<int64_t>(kMinReuseTokens, static_cast<int64_t>(tokens.size()));
  if (best == entries_.end() || best_common < std::max<int64_t>(needed, 1)) return std::nullopt;
  Hit hit{std::move(best->cache), best_common};
  bytes_ -= best->bytes;
  entries_.erase(best);
  return hit;
}

void PromptCache::put(std::shared_ptr<ServedModel> model, std::string scope, std::vector<TokenId> tokens,
                      std::unique_ptr<KvCache> cache) {
  if (!cache || tokens.empty()) return;
  const int64_t size = cache->bytes();
  if (size > max_bytes_) return;
  bytes_ += size;
  entries_.push_front(Entry{std::move(model), std::move(scope), std::move(tokens), std::move(cache), size});
  while (bytes_ > max_bytes_ && !entries_.empty()) {
    bytes_ -= entries_.back().bytes;
    entries_.pop_back();
  }
}

void PromptCache::forget(const ServedModel* model) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->model.get() == model) {
      bytes_ -= it->bytes;
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace flywheel::serve
