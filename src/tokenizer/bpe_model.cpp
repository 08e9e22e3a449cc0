#include "tokenizer/bpe_model.h"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <queue>

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace flywheel::tokenizer {

// Caches the ids of frequent short pieces (most code pieces repeat: keywords,
// indentation, operators). Sharded so that threads rarely contend; each shard
// stops growing at its capacity rather than evicting, as Hugging Face does.
class WordCache {
 public:
  static constexpr size_t kMaxPieceBytes = 64;
  static constexpr size_t kShards = 16;
  static constexpr size_t kShardCapacity = 4096;

  bool lookup(std::string_view piece, std::vector<TokenId>& out) {
    Shard& shard = shard_for(piece);
    std::lock_guard lock(shard.mutex);
    auto it = shard.map.find(piece);
    if (it == shard.map.end()) return false;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return true;
  }
  void insert(std::string_view piece, const TokenId* ids, size_t n) {
    Shard& shard = shard_for(piece);
    std::lock_guard lock(shard.mutex);
    if (shard.map.size() >= kShardCapacity) return;
    shard.map.emplace(std::string(piece), std::vector<TokenId>(ids, ids + n));
  }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<TokenId>, Hash, std::equal_to<>> map;
  };
  Shard& shard_for(std::string_view piece) { return shards_[Hash()(piece) % kShards]; }
  std::array<Shard, kShards> shards_;
};

BpeModel::BpeModel() : cache_(std::make_unique<WordCache>()) {}
BpeModel::~BpeModel() = default;

namespace {

Result<std::pair<std::string, std::string>> parse_merge(const nlohmann::json& merge, size_t index) {
  if (merge.is_string()) {
    const std::string& s = merge.get_ref<const std::string&>();
    size_t space = s.find(' ');
    if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
      return Status::corruption("BPE merge #" + std::to_string(index) + " '" + s +
                                "' must be two tokens separated by one space");
    return std::make_pair(s.substr(0, space), s.substr(space + 1));
  }
  if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string())
    return std::make_pair(merge[0].get<std::string>(), merge[1].get<std::string>());
  return Status::corruption("BPE merge #" + std::to_string(index) + " must be \"a b\" or [\"a\", \"b\"], got " +
                            merge.dump());
}

std::string byte_fallback_token(unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
  return buf;
}

bool non_empty_string(const nlohmann::json& json, const char* field) {
  return json.contains(field) && json[field].is_string() && !json[field].get_ref<const std::string&>().empty();
}

}  // namespace

Result<std::unique_ptr<BpeModel>> BpeModel::from_json(const nlohmann::json& json) {
  if (!json.is_object()) return Status::corruption("model must be an object");
  std::string type = json.value("type", std::string("BPE"));
  if (type != "BPE")
    return Status::unsupported("model type '" + type + "' is not supported (supported: BPE)");
  if (non_empty_string(json, "continuing_subword_prefix") || non_empty_string(json, "end_of_word_suffix"))
    return Status::unsupported("BPE continuing_subword_prefix/end_of_word_suffix are not supported");
  auto model = std::make_unique<BpeModel>();
  if (json.contains("dropout") && !json["dropout"].is_null()) {
    if (!json["dropout"].is_number() || json["dropout"].get<double>() != 0.0)
      return Status::unsupported("BPE dropout is a training-time option and is not supported for encoding");
    model->dropout_ = Json(json["dropout"]);
  }
  auto vocab_it = json.find("vocab");
  if (vocab_it == json.end() || !vocab_it->is_object()) return Status::corruption("BPE model: 'vocab' must be an object");
  model->vocab_.reserve(vocab_it->size());
  for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() >= (1 << 30))
      return Status::corruption("BPE vocab: token '" + it.key() + "' has an invalid id " + it.value().dump());
    TokenId id = it.value().get<TokenId>();
    model->vocab_[it.key()] = id;
    if (static_cast<size_t>(id) >= model->id_to_token_.size()) {
      model->id_to_token_.resize(id + 1);
      model->has_token_.resize(id + 1, false);
    }
    model->id_to_token_[id] = it.key();
    model->has_token_[id] = true;
  }

  auto merges_it = json.find("merges");
  if (merges_it == json.end() || !merges_it->is_array()) return Status::corruption("BPE model: 'merges' must be a list");
  model->merges_.reserve(merges_it->size());
  model->merges_in_order_.reserve(merges_it->size());
  for (size_t i = 0; i < merges_it->size(); ++i) {
    FW_ASSIGN_OR_RETURN(auto pair, parse_merge((*merges_it)[i], i));
    auto a = model->vocab_.find(pair.first), b = model->vocab_.find(pair.second);
    auto merged = model->vocab_.find(pair.first + pair.second);
    if (a == model->vocab_.end() || b == model->vocab_.end() || merged == model->vocab_.end())
      return Status::corruption("BPE merge #" + std::to_string(i) + " '" + pair.first + " " + pair.second +
                                "' uses a token missing from the vocab");
    model->merges_.insert_or_assign(pair_key(a->second, b->second),
                                    MergeTarget{static_cast<int32_t>(i), merged->second});
    model->merges_in_order_.emplace_back(std::move(pair.first), std::move(pair.second));
  }

  if (json.contains("unk_token") && json["unk_token"].is_string()) {
    model->unk_token_ = json["unk_token"].get<std::string>();
    auto it = model->vocab_.find(model->unk_token_);
    if (it == model->vocab_.end())
      return Status::corruption("BPE unk_token '" + model->unk_token_ + "' is not in the vocab");
    model->unk_id_ = it->second;
  }
  auto flag = [&](const char* name) {
    return json.contains(name) && json[name].is_boolean() && json[name].get<bool>();
  };
  model->fuse_unk_ = flag("fuse_unk");
  model->byte_fallback_ = flag("byte_fallback");
  model->ignore_merges_ = flag("ignore_merges");

  const auto& byte_symbols = byte_to_unicode();
  for (int b = 0; b < 256; ++b) {
    auto it = model->vocab_.find(byte_symbols[b]);
    model->byte_level_ids_[b] = it == model->vocab_.end() ? -1 : it->second;
    auto fb = model->vocab_.find(byte_fallback_token(static_cast<unsigned char>(b)));
    model->byte_fallback_ids_[b] = fb == model->vocab_.end() ? -1 : fb->second;
  }
  return model;
}

Json BpeModel::to_json_header() const {
  return Json{{"type", "BPE"},
              {"dropout", dropout_},
              {"unk_token", unk_id_ ? Json(unk_token_) : Json()},
              {"continuing_subword_prefix", Json()},
              {"end_of_word_suffix", Json()},
              {"fuse_unk", fuse_unk_},
              {"byte_fallback", byte_fallback_},
              {"ignore_merges", ignore_merges_}};
}

std::optional<TokenId> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(TokenId id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || !has_token_[id]) return nullptr;
  return &id_to_token_[id];
}

const BpeModel::MergeTarget* BpeModel::find_merge(TokenId a, TokenId b) const {
  auto it = merges_.find(pair_key(a, b));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::initial_symbols(std::string_view piece, bool byte_level, std::vector<TokenId>& symbols) const {
  bool last_was_unk = false;
  auto push_unk = [&] {
    if (!unk_id_) return;  // without an unk token, Hugging Face drops the character
    if (fuse_unk_ && last_was_unk) return;
    symbols.push_back(*unk_id_);
    last_was_unk = true;
  };
  if (byte_level) {
    for (unsigned char b : piece) {
      TokenId id = byte_level_ids_[b];
      if (id >= 0) {
        symbols.push_back(id);
        last_was_unk = false;
      } else {
        push_unk();
      }
    }
    return;
  }
  std::string scratch;
  size_t i = 0;
  while (i < piece.size()) {
    size_t start = i;
    next_code_point(piece, i);
    std::string_view ch = piece.substr(start, i - start);
    scratch.assign(ch);
    auto it = vocab_.find(scratch);
    if (it != vocab_.end()) {
      symbols.push_back(it->second);
      last_was_unk = false;
      continue;
    }
    if (byte_fallback_) {
      bool all = std::all_of(ch.begin(), ch.end(),
                             [&](char c) { return byte_fallback_ids_[static_cast<unsigned char>(c)] >= 0; });
      if (all) {
        for (unsigned char c : ch) symbols.push_back(byte_fallback_ids_[c]);
        last_was_unk = false;
        continue;
      }
    }
    push_unk();
  }
}

// Applies merges lowest rank first, leftmost first among equal ranks: the
// order of Hugging Face's Word::merge_all.
void BpeModel::merge(std::vector<TokenId>& symbols) const {
  const size_t n = symbols.size();
  if (n < 2) return;
  if (n <= 24) {
    // Short words: a rescan per merge beats heap bookkeeping.
    while (symbols.size() >= 2) {
      int32_t best_rank = INT32_MAX;
      size_t best_pos = 0;
      TokenId best_id = 0;
      for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        const MergeTarget* m = find_merge(symbols[i], symbols[i + 1]);
        if (m != nullptr && m->rank < best_rank) {
          best_rank = m->rank;
          best_pos = i;
          best_id = m->merged;
        }
      }
      if (best_rank == INT32_MAX) break;
      symbols[best_pos] = best_id;
      symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best_pos) + 1);
    }
    return;
  }
  // Long words (a 100 KB line, a SentencePiece text with no pre-tokenizer):
  // a linked list of symbols and a heap of candidate merges, O(n log n).
  std::vector<int> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int>(i + 1) : -1;
  }
  struct Candidate {
    int32_t rank;
    int pos;
    TokenId merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto push = [&](int pos) {
    if (pos < 0 || next[pos] < 0) return;
    if (const MergeTarget* m = find_merge(symbols[pos], symbols[next[pos]])) heap.push({m->rank, pos, m->merged});
  };
  for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int>(i));
  while (!heap.empty()) {
    Candidate c = heap.top();
    heap.pop();
    if (!alive[c.pos] || next[c.pos] < 0) continue;
    const MergeTarget* m = find_merge(symbols[c.pos], symbols[next[c.pos]]);
    if (m == nullptr || m->rank != c.rank || m->merged != c.merged) continue;  // stale entry
    int right = next[c.pos];
    symbols[c.pos] = c.merged;
    alive[right] = false;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  size_t out = 0;
  for (int i = 0; i >= 0; i = next[i]) symbols[out++] = symbols[i];
  symbols.resize(out);
}

void BpeModel::tokenize(std::string_view piece, bool byte_level, std::vector<TokenId>& out) const {
  if (piece.empty()) return;
  const bool cacheable = piece.size() <= WordCache::kMaxPieceBytes;
  if (cacheable && cache_->lookup(piece, out)) return;
  const size_t start = out.size();
  if (ignore_merges_) {
    std::string key;
    if (byte_level) bytes_to_unicode(piece, key);
    else key.assign(piece);
    auto it = vocab_.find(key);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      if (cacheable) cache_->insert(piece, out.data() + start, 1);
      return;
    }
  }
  thread_local std::vector<TokenId> symbols;
  symbols.clear();
  initial_symbols(piece, byte_level, symbols);
  merge(symbols);
  out.insert(out.end(), symbols.begin(), symbols.end());
  if (cacheable) cache_->insert(piece, out.data() + start, out.size() - start);
}

}  // namespace flywheel::tokenizer
