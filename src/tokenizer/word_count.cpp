// The counting half of the BPE trainer: corpus files -> unique pre-tokenized
// pieces ("words") with their counts, on several threads.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>

#include "core/progress.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/regex.h"

namespace flywheel::tokenizer {
namespace {

namespace fs = std::filesystem;

// Input is cut into batches of about this many bytes, in list order. Threads
// share a batch; their counts are merged and the cap applied after each one,
// so the result depends on batch boundaries (file sizes) but not on threads.
constexpr uint64_t kBatchBytes = uint64_t{8} << 20;

// A string -> count hash map (open addressing, linear probing) whose keys live
// in one arena: a few allocations in all instead of one per word.
class WordCounter {
 public:
  WordCounter() { reset(1 << 12); }

  void add(std::string_view word, uint64_t count) {
    const uint64_t hash = XXH3_64bits(word.data(), word.size());
    size_t i = hash & mask_;
    while (true) {
      Slot& s = slots_[i];
      if (s.count == 0) break;
      if (s.hash == hash && s.length == word.size() &&
          std::memcmp(arena_.data() + s.offset, word.data(), word.size()) == 0) {
        s.count += count;
        return;
      }
      i = (i + 1) & mask_;
    }
    Slot& s = slots_[i];
    s.hash = hash;
    s.count = count;
    s.offset = arena_.size();
    s.length = static_cast<uint32_t>(word.size());
    arena_.append(word);
    if (++used_ * 2 > slots_.size()) grow();
  }

  size_t size() const { return used_; }

  template <typename F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_) {
      if (s.count != 0) f(std::string_view(arena_.data() + s.offset, s.length), s.count);
    }
  }

  void add_all(const WordCounter& other) {
    other.for_each([&](std::string_view w, uint64_t c) { add(w, c); });
  }

  // Keeps only the words seen at least `min_count` times.
  void retain_at_least(uint64_t min_count) {
    WordCounter kept;
    for_each([&](std::string_view w, uint64_t c) {
      if (c >= min_count) kept.add(w, c);
    });
    *this = std::move(kept);
  }

  void clear() { reset(1 << 12); }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint64_t count = 0;  // 0: empty slot
    uint64_t offset = 0;
    uint32_t length = 0;
  };

  void reset(size_t capacity) {
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    used_ = 0;
    arena_.clear();
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.count == 0) continue;
      size_t i = s.hash & mask_;
      while (slots_[i].count != 0) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t used_ = 0;
  std::string arena_;
};

// Calls emit(piece) for each training piece of `text` (see pretokenize_for_training).
template <typename Emit>
void for_each_piece(std::string_view text, const Regex& split, const std::vector<std::string>& specials,
                    std::vector<Span>& spans, Emit&& emit) {
  auto split_segment = [&](std::string_view segment) {
    spans.clear();
    split.find_all(segment, spans);
    size_t prev = 0;
    for (const Span& s : spans) {
      if (s.begin > prev) emit(segment.substr(prev, s.begin - prev));  // Isolated: gaps are pieces
      emit(segment.substr(s.begin, s.end - s.begin));
      prev = s.end;
    }
    if (prev < segment.size()) emit(segment.substr(prev));
  };
  if (specials.empty()) {
    split_segment(text);
    return;
  }
  // Next occurrence of each special token at or after `pos` (npos: none left).
  std::vector<size_t> next(specials.size(), std::string_view::npos);
  for (size_t k = 0; k < specials.size(); ++k) {
    if (!specials[k].empty()) next[k] = text.find(specials[k]);
  }
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best = std::string_view::npos, best_len = 0;
    for (size_t k = 0; k < specials.size(); ++k) {
      if (next[k] != std::string_view::npos && next[k] < pos) next[k] = text.find(specials[k], pos);
      if (next[k] == std::string_view::npos) continue;
      if (next[k] < best || (next[k] == best && specials[k].size() > best_len)) {
        best = next[k];
        best_len = specials[k].size();
      }
    }
    if (best == std::string_view::npos) {
      split_segment(text.substr(pos));
      return;
    }
    if (best > pos) split_segment(text.substr(pos, best - pos));
    pos = best + best_len;
  }
}

// Reads a whole file into `out`; false when it cannot be read.
bool read_file(const fs::path& path, std::string& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return false;
  }
  out.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t r = ::read(fd, out.data() + got, out.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;  // an error, or the file shrank
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  out.resize(got);
  return true;
}

const Regex& training_split() {
  static const Regex regex = [] {
    auto r = Regex::compile(kQwen2SplitPattern);
    assert(r.ok() && "the Qwen2 split pattern must compile");
    return std::move(r).value();
  }();
  return regex;
}

}  // namespace

void pretokenize_for_training(std::string_view text, const std::vector<std::string>& special_tokens,
                              std::vector<std::string>& pieces) {
  std::vector<Span> spans;
  for_each_piece(text, training_split(), special_tokens, spans,
                 [&](std::string_view piece) { pieces.emplace_back(piece); });
}

Result<std::vector<WordCount>> count_corpus_words(const std::vector<fs::path>& files, const BpeTrainerOptions& options,
                                                  BpeTrainerStats* stats, size_t max_unique_words) {
  const auto start = std::chrono::steady_clock::now();
  if (files.empty()) return Status::invalid_argument("empty corpus: no input files to train on");

  // Which files to read: sizes from stat, cut at max_corpus_bytes in list order.
  struct Planned {
    const fs::path* path;
    uint64_t size;
  };
  std::vector<Planned> planned;
  size_t skipped = 0;
  uint64_t planned_bytes = 0;
  for (const fs::path& f : files) {
    if (options.max_corpus_bytes != 0 && planned_bytes >= options.max_corpus_bytes) break;
    std::error_code ec;
    const uintmax_t size = fs::file_size(f, ec);
    if (ec || (options.max_file_bytes != 0 && size > options.max_file_bytes)) {
      ++skipped;
      continue;
    }
    planned.push_back({&f, static_cast<uint64_t>(size)});
    planned_bytes += size;
  }

  unsigned threads = options.threads > 0 ? static_cast<unsigned>(options.threads) : std::thread::hardware_concurrency();
  threads = std::max(1u, threads);

  std::optional<ProgressBar> progress;
  if (options.show_progress) progress.emplace("reading corpus", planned_bytes, "B");

  const Regex& split = training_split();
  struct Worker {
    WordCounter words;
    std::string buffer;
    std::vector<Span> spans;
    size_t files = 0;
    size_t skipped = 0;
    uint64_t bytes = 0;
  };
  std::vector<Worker> workers(threads);
  WordCounter total;

  auto work = [&](Worker& w, std::atomic<size_t>& next, size_t end) {
    for (size_t i = next.fetch_add(1); i < end; i = next.fetch_add(1)) {
      const Planned& p = planned[i];
      if (!read_file(*p.path, w.buffer) || !looks_like_text(w.buffer)) {
        ++w.skipped;
      } else {
        ++w.files;
        w.bytes += w.buffer.size();
        for_each_piece(w.buffer, split, options.special_tokens, w.spans, [&](std::string_view piece) {
          if (piece.size() <= kMaxWordBytes) w.words.add(piece, 1);
        });
      }
      if (progress) progress->advance(p.size);
    }
  };

  size_t batch_begin = 0;
  while (batch_begin < planned.size()) {
    size_t batch_end = batch_begin;
    uint64_t batch_bytes = 0;
    while (batch_end < planned.size() && (batch_end == batch_begin || batch_bytes < kBatchBytes)) {
      batch_bytes += planned[batch_end++].size;
    }
    std::atomic<size_t> next{batch_begin};
    const unsigned n = static_cast<unsigned>(std::min<size_t>(threads, batch_end - batch_begin));
    if (n <= 1) {
      work(workers[0], next, batch_end);
    } else {
      std::vector<std::thread> pool;
      for (unsigned t = 0; t < n; ++t) pool.emplace_back([&, t] { work(workers[t], next, batch_end); });
      for (std::thread& th : pool) th.join();
    }
    for (Worker& w : workers) {
      total.add_all(w.words);
      w.words.clear();
    }
    // Memory bound: drop the rarest words when the cap is passed. Words seen
    // once in every batch are lost this way; on corpora whose vocabulary fits
    // the cap (about 200 MB of code for the default) nothing is dropped.
    if (total.size() > max_unique_words) {
      uint64_t threshold = 2;
      total.retain_at_least(threshold);
      while (total.size() > max_unique_words / 2) total.retain_at_least(threshold *= 2);
    }
    batch_begin = batch_end;
  }
  if (progress) progress->finish();

  size_t read_files = 0;
  uint64_t bytes = 0;
  for (const Worker& w : workers) {
    read_files += w.files;
    skipped += w.skipped;
    bytes += w.bytes;
  }
  if (bytes == 0) {
    return Status::invalid_argument("empty corpus: none of the " + std::to_string(files.size()) +
                                    " input files holds readable text");
  }

  std::vector<WordCount> words;
  words.reserve(total.size());
  total.for_each([&](std::string_view w, uint64_t c) { words.push_back({std::string(w), c}); });
  std::sort(words.begin(), words.end(), [](const WordCount& a, const WordCount& b) { return a.word < b.word; });

  if (stats != nullptr) {
    stats->files = read_files;
    stats->files_skipped = skipped;
    stats->bytes = bytes;
    stats->unique_words = words.size();
    stats->read_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return words;
}

}  // namespace flywheel::tokenizer
