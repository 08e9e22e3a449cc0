// The merge half of the BPE trainer and train_bpe_tokenizer (tokenizer.h).
//
// Merges are learned over unique words, not over the corpus: each word is an
// array of token ids with a count. Pair counts are kept incrementally: merging
// (a, b) -> c touches only the words listed for (a, b), and in them only the
// neighbours of each occurrence. The best pair comes from a max-heap with lazy
// deletion: an entry whose count is out of date is re-pushed with the current
// count when it reaches the top. Counts of old pairs only fall, so a top entry
// whose count is current is the true maximum.
#include "tokenizer/bpe_trainer.h"

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <queue>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/progress.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace flywheel {
namespace tokenizer {
namespace {

constexpr uint64_t pair_key(TokenId a, TokenId b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
constexpr TokenId pair_left(uint64_t key) { return static_cast<TokenId>(key >> 32); }
constexpr TokenId pair_right(uint64_t key) { return static_cast<TokenId>(key & 0xFFFFFFFFu); }

// Pair -> (count, list of words that contain it). Open addressing; entries are
// never removed (a merged pair keeps count 0). The word lists may hold words
// that no longer contain the pair, and a word twice: both are harmless, since
// merging re-checks each listed word.
class PairTable {
 public:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // no pair of valid ids has this key
  static constexpr uint32_t kNoList = ~uint32_t{0};
  struct Entry {
    uint64_t key = kEmpty;
    int64_t count = 0;
    uint32_t list = kNoList;
  };

  explicit PairTable(size_t expected) {
    size_t capacity = 1024;
    while (capacity < expected * 2) capacity *= 2;
    entries_.assign(capacity, Entry{});
    update_mask();
  }

  // The entry of `key`, inserted with count 0 when missing. The reference is
  // valid until the next call of at().
  Entry& at(uint64_t key) {
    size_t i = slot(key);
    while (entries_[i].key != key) {
      if (entries_[i].key == kEmpty) {
        if ((used_ + 1) * 2 > entries_.size()) {
          grow();
          return at(key);
        }
        entries_[i].key = key;
        ++used_;
        break;
      }
      i = (i + 1) & mask_;
    }
    return entries_[i];
  }

  const Entry* find(uint64_t key) const {
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      if (entries_[i].key == key) return &entries_[i];
      if (entries_[i].key == kEmpty) return nullptr;
    }
  }

  // Lists word `w` under the entry, once per run of calls for the same word.
  void add_word(Entry& e, uint32_t w) {
    if (e.list == kNoList) {
      e.list = static_cast<uint32_t>(lists_.size());
      lists_.emplace_back();
    }
    std::vector<uint32_t>& list = lists_[e.list];
    if (list.empty() || list.back() != w) list.push_back(w);
  }

  // Moves the word list of `key` out of the table, leaving it empty.
  std::vector<uint32_t> take_words(uint64_t key) {
    Entry& e = at(key);
    if (e.list == kNoList) return {};
    return std::exchange(lists_[e.list], {});
  }

  template <typename F>
  void for_each(F&& f) const {
    for (const Entry& e : entries_) {
      if (e.key != kEmpty) f(e);
    }
  }

 private:
  size_t slot(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }

  void update_mask() {
    mask_ = entries_.size() - 1;
    shift_ = 64 - std::countr_zero(entries_.size());
  }

  void grow() {
    std::vector<Entry> old = std::move(entries_);
    entries_.assign(old.size() * 2, Entry{});
    update_mask();
    for (const Entry& e : old) {
      if (e.key == kEmpty) continue;
      size_t i = slot(e.key);
      while (entries_[i].key != kEmpty) i = (i + 1) & mask_;
      entries_[i] = e;
    }
  }

  std::vector<Entry> entries_;
  std::vector<std::vector<uint32_t>> lists_;
  size_t mask_ = 0;
  int shift_ = 0;
  size_t used_ = 0;
};

struct HeapEntry {
  int64_t count;
  uint64_t key;
};

// Orders the max-heap: the higher count first, then the smaller (left, right)
// pair, as Hugging Face's trainer does.
struct HeapLess {
  bool operator()(const HeapEntry& x, const HeapEntry& y) const {
    return x.count != y.count ? x.count < y.count : x.key > y.key;
  }
};

// All words back to back as token ids. Merging only shortens a word, in place.
struct WordTable {
  std::vector<TokenId> symbols;
  std::vector<uint64_t> begin;
  std::vector<uint32_t> length;
  std::vector<int64_t> count;
};

}  // namespace

// Special tokens and vocab_size make sense together (see learn_bpe).
Status check_options(const BpeTrainerOptions& options) {
  const auto& specials = options.special_tokens;
  const auto& bytes = byte_to_unicode();
  std::unordered_set<std::string_view> seen;
  for (const std::string& s : specials) {
    if (s.empty()) return Status::invalid_argument("a special token is empty");
    if (!is_valid_utf8(s)) return Status::invalid_argument("special token '" + s + "' is not valid UTF-8");
    if (!seen.insert(s).second) return Status::invalid_argument("special token '" + s + "' is given twice");
    if (std::find(bytes.begin(), bytes.end(), s) != bytes.end()) {
      return Status::invalid_argument("special token '" + s + "' is the same as a byte token");
    }
  }
  const size_t minimum = 256 + specials.size();
  if (options.vocab_size < minimum) {
    return Status::invalid_argument("vocab_size " + std::to_string(options.vocab_size) +
                                    " is too small: the 256 byte tokens and " + std::to_string(specials.size()) +
                                    " special tokens need at least " + std::to_string(minimum));
  }
  return Status::OK();
}

Result<BpeVocabulary> learn_bpe(const std::vector<WordCount>& words, const BpeTrainerOptions& options,
                                ProgressBar* progress) {
  FW_RETURN_IF_ERROR(check_options(options));
  BpeVocabulary vocab;
  vocab.special_count = options.special_tokens.size();
  std::unordered_map<std::string, TokenId> index;
  for (const std::string& s : options.special_tokens) {
    index.emplace(s, static_cast<TokenId>(vocab.tokens.size()));
    vocab.tokens.push_back(s);
  }
  // Byte tokens in the order of their ByteLevel characters: the printable
  // bytes (which stand for themselves) first, then the rest (U+0100...).
  std::array<TokenId, 256> byte_id{};
  const auto& byte_chars = byte_to_unicode();
  for (int pass = 0; pass < 2; ++pass) {
    for (int b = 0; b < 256; ++b) {
      const bool printable = byte_chars[b].size() == 1 || static_cast<unsigned char>(byte_chars[b][0]) == 0xC2 ||
                             (static_cast<unsigned char>(byte_chars[b][0]) == 0xC3);
      if (printable != (pass == 0)) continue;
      byte_id[b] = static_cast<TokenId>(vocab.tokens.size());
      index.emplace(byte_chars[b], byte_id[b]);
      vocab.tokens.push_back(byte_chars[b]);
    }
  }

  // Single-byte words hold no pair: leave them out.
  WordTable table;
  for (const WordCount& wc : words) {
    if (wc.word.size() < 2 || wc.count == 0) continue;
    table.begin.push_back(table.symbols.size());
    table.length.push_back(static_cast<uint32_t>(wc.word.size()));
    table.count.push_back(static_cast<int64_t>(wc.count));
    for (unsigned char c : wc.word) table.symbols.push_back(byte_id[c]);
  }

  const int64_t min_frequency = static_cast<int64_t>(std::max<size_t>(options.min_frequency, 1));
  PairTable pairs(table.symbols.size() / 4);
  for (uint32_t w = 0; w < table.begin.size(); ++w) {
    const TokenId* s = table.symbols.data() + table.begin[w];
    for (uint32_t i = 0; i + 1 < table.length[w]; ++i) {
      PairTable::Entry& e = pairs.at(pair_key(s[i], s[i + 1]));
      e.count += table.count[w];
      pairs.add_word(e, w);
    }
  }
  std::vector<HeapEntry> initial;
  pairs.for_each([&](const PairTable::Entry& e) {
    if (e.count >= min_frequency) initial.push_back({e.count, e.key});
  });
  std::priority_queue<HeapEntry, std::vector<HeapEntry>, HeapLess> heap(HeapLess{}, std::move(initial));

  std::vector<uint64_t> created;  // pairs with the new token, for the heap
  while (vocab.tokens.size() < options.vocab_size && !heap.empty()) {
    const HeapEntry top = heap.top();
    heap.pop();
    const PairTable::Entry* entry = pairs.find(top.key);
    const int64_t current = entry != nullptr ? entry->count : 0;
    if (current != top.count) {
      // Stale: re-queue with the lower current count. A higher current count
      // means a newer entry is already queued.
      if (current > 0 && current < top.count && current >= min_frequency) heap.push({current, top.key});
      continue;
    }
    if (current < min_frequency) break;  // the best pair is too rare: so is every other

    const TokenId a = pair_left(top.key), b = pair_right(top.key);
    // Two merge paths can spell the same token ("ab"+"c", "a"+"bc"): like
    // Hugging Face, the second merge reuses the first one's id.
    auto [it, inserted] =
        index.try_emplace(vocab.tokens[a] + vocab.tokens[b], static_cast<TokenId>(vocab.tokens.size()));
    const TokenId c = it->second;
    if (inserted) {
      vocab.tokens.push_back(it->first);
      if (progress != nullptr) progress->advance(1);
    }
    vocab.merges.emplace_back(a, b);

    auto add = [&](TokenId x, TokenId y, int64_t delta) { pairs.at(pair_key(x, y)).count += delta; };
    auto add_created = [&](TokenId x, TokenId y, int64_t delta, uint32_t w) {
      const uint64_t key = pair_key(x, y);
      PairTable::Entry& e = pairs.at(key);
      e.count += delta;
      pairs.add_word(e, w);
      created.push_back(key);
    };
    created.clear();
    for (const uint32_t w : pairs.take_words(top.key)) {
      TokenId* s = table.symbols.data() + table.begin[w];
      const uint32_t n = table.length[w];
      const int64_t f = table.count[w];
      // Left to right, non-overlapping, in place. The left neighbour is the
      // last symbol written (maybe a `c` of this same word), the right one the
      // next unread symbol: the same bookkeeping as Hugging Face's Word::merge,
      // which keeps overlapping runs ("a a a") exact.
      uint32_t out = 0;
      for (uint32_t i = 0; i < n;) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
          add(a, b, -f);
          if (out > 0) {
            add(s[out - 1], a, -f);
            add_created(s[out - 1], c, f, w);
          }
          if (i + 2 < n) {
            add(b, s[i + 2], -f);
            add_created(c, s[i + 2], f, w);
          }
          s[out++] = c;
          i += 2;
        } else {
          s[out++] = s[i++];
        }
      }
      table.length[w] = out;
    }
    pairs.at(top.key).count = 0;
    std::sort(created.begin(), created.end());
    created.erase(std::unique(created.begin(), created.end()), created.end());
    for (const uint64_t key : created) {
      const PairTable::Entry* e = pairs.find(key);
      if (e != nullptr && e->count >= min_frequency) heap.push({e->count, key});
    }
  }
  return vocab;
}

std::string bpe_tokenizer_json(const BpeVocabulary& vocabulary) {
  using Json = nlohmann::ordered_json;
  const Json byte_level = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  Json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  Json added = Json::array();
  for (size_t id = 0; id < vocabulary.special_count; ++id) {
    added.push_back({{"id", id},
                     {"content", vocabulary.tokens[id]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  j["added_tokens"] = std::move(added);
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Split"},
                           {"pattern", {{"Regex", std::string(kQwen2SplitPattern)}}},
                           {"behavior", "Isolated"},
                           {"invert", false}},
                          byte_level}}};
  j["post_processor"] = byte_level;
  j["decoder"] = byte_level;
  Json vocab = Json::object();
  for (size_t id = 0; id < vocabulary.tokens.size(); ++id) vocab[vocabulary.tokens[id]] = id;
  Json merges = Json::array();
  for (const auto& [a, b] : vocabulary.merges) merges.push_back({vocabulary.tokens[a], vocabulary.tokens[b]});
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", ""},
                {"end_of_word_suffix", ""},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", false},
                {"vocab", std::move(vocab)},
                {"merges", std::move(merges)}};
  return j.dump();
}

}  // namespace tokenizer

std::vector<std::string> default_special_tokens() {
  return {"<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
          "<|fim_pad|>",   "<|file_sep|>",   "<|repo_name|>"};
}

Result<Tokenizer> train_bpe_tokenizer(const std::vector<std::filesystem::path>& files, const BpeTrainerOptions& options,
                                      BpeTrainerStats* stats) {
  BpeTrainerStats local;
  BpeTrainerStats& st = stats != nullptr ? *stats : local;
  st = BpeTrainerStats{};
  // Bad options fail before any file is read.
  FW_RETURN_IF_ERROR(tokenizer::check_options(options));
  FW_ASSIGN_OR_RETURN(std::vector<tokenizer::WordCount> words, tokenizer::count_corpus_words(files, options, &st));

  const auto start = std::chrono::steady_clock::now();
  std::optional<ProgressBar> progress;
  const size_t base = 256 + options.special_tokens.size();
  if (options.show_progress) progress.emplace("learning merges", options.vocab_size - base, "merges");
  FW_ASSIGN_OR_RETURN(tokenizer::BpeVocabulary vocab,
                      tokenizer::learn_bpe(words, options, progress ? &*progress : nullptr));
  if (progress) progress->finish();
  st.merges = vocab.merges.size();
  st.merge_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  auto tokenizer = Tokenizer::from_json(tokenizer::bpe_tokenizer_json(vocab));
  if (!tokenizer.ok()) {
    return Status::internal("the trained tokenizer.json does not load: " + tokenizer.status().to_string());
  }
  return std::move(tokenizer).value();
}

}  // namespace flywheel
