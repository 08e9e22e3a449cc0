// Tests of the byte-level BPE trainer: the merge loop against a naive
// recount-every-step implementation, pre-tokenization, corpus listing, and
// train_bpe_tokenizer end to end on small temporary corpora.
#include "tokenizer/bpe_trainer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"

namespace flywheel {
namespace {

namespace fs = std::filesystem;
using tokenizer::BpeVocabulary;
using tokenizer::WordCount;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "flywheel-bpe-XXXXXX").string();
    char* made = ::mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path write(const std::string& relative, std::string_view content) const {
    const fs::path p = path_ / relative;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary).write(content.data(), static_cast<std::streamsize>(content.size()));
    return p;
  }

 private:
  fs::path path_;
};

BpeTrainerOptions quiet_options(size_t vocab_size) {
  BpeTrainerOptions o;
  o.vocab_size = vocab_size;
  o.show_progress = false;
  o.threads = 1;
  return o;
}

constexpr size_t kBase = 256 + 7;  // bytes plus the default special tokens

// Code-like text with a deterministic mix of identifiers, numbers and Unicode.
std::string code_text(uint32_t seed, size_t lines) {
  static const char* kWords[] = {"def",     "return", "self", "value",  "int",    "for",   "while", "struct",
                                 "const",   "auto",   "std",  "vector", "size_t", "count", "name",  "résumé",
                                 "données", "数据",   "🙂", "if",     "else",   "x",     "y",     "index"};
  std::mt19937 rng(seed);
  std::string out;
  for (size_t l = 0; l < lines; ++l) {
    out.append(rng() % 3 * 4, ' ');
    const size_t n = 1 + rng() % 6;
    for (size_t i = 0; i < n; ++i) {
      out += kWords[rng() % std::size(kWords)];
      switch (rng() % 5) {
        case 0:
          out += "(";
          break;
        case 1:
          out += " = " + std::to_string(rng() % 1000);
          break;
        case 2:
          out += ", ";
          break;
        case 3:
          out += ".";
          break;
        default:
          out += " ";
          break;
      }
    }
    out += rng() % 7 == 0 ? "\r\n" : "\n";
  }
  return out;
}

// The merge loop the slow, obvious way: recount every pair after each merge.
BpeVocabulary naive_bpe(const std::vector<WordCount>& words, const BpeTrainerOptions& options) {
  BpeVocabulary v;
  v.special_count = options.special_tokens.size();
  v.tokens = options.special_tokens;
  std::map<std::string, TokenId> index;
  for (size_t i = 0; i < v.tokens.size(); ++i) index[v.tokens[i]] = static_cast<TokenId>(i);
  std::array<TokenId, 256> byte_id{};
  std::vector<std::pair<std::string, int>> chars;  // sorted by code point = by ByteLevel order
  const auto& bl = tokenizer::byte_to_unicode();
  std::vector<int> order(256);
  for (int b = 0; b < 256; ++b) order[b] = b;
  auto code_point = [&](int b) {
    const std::string& s = bl[b];
    if (s.size() == 1) return static_cast<uint32_t>(static_cast<unsigned char>(s[0]));
    return (static_cast<uint32_t>(static_cast<unsigned char>(s[0]) & 0x1F) << 6) |
           (static_cast<unsigned char>(s[1]) & 0x3F);
  };
  std::sort(order.begin(), order.end(), [&](int x, int y) { return code_point(x) < code_point(y); });
  for (int b : order) {
    byte_id[b] = static_cast<TokenId>(v.tokens.size());
    index[bl[b]] = byte_id[b];
    v.tokens.push_back(bl[b]);
  }
  std::vector<std::vector<TokenId>> ws;
  std::vector<int64_t> counts;
  for (const WordCount& w : words) {
    std::vector<TokenId> s;
    for (unsigned char c : w.word) s.push_back(byte_id[c]);
    ws.push_back(s);
    counts.push_back(static_cast<int64_t>(w.count));
  }
  const int64_t min_frequency = static_cast<int64_t>(std::max<size_t>(options.min_frequency, 1));
  while (v.tokens.size() < options.vocab_size) {
    std::map<std::pair<TokenId, TokenId>, int64_t> pairs;
    for (size_t w = 0; w < ws.size(); ++w) {
      for (size_t i = 0; i + 1 < ws[w].size(); ++i) pairs[{ws[w][i], ws[w][i + 1]}] += counts[w];
    }
    std::pair<TokenId, TokenId> best{};
    int64_t best_count = 0;
    for (const auto& [p, c] : pairs) {  // map order: the smaller pair wins ties
      if (c > best_count) best = p, best_count = c;
    }
    if (best_count < min_frequency) break;
    const std::string merged = v.tokens[best.first] + v.tokens[best.second];
    auto [it, inserted] = index.try_emplace(merged, static_cast<TokenId>(v.tokens.size()));
    if (inserted) v.tokens.push_back(merged);
    v.merges.push_back(best);
    for (auto& s : ws) {
      std::vector<TokenId> out;
      for (size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == best.first && s[i + 1] == best.second) {
          out.push_back(it->second);
          i += 2;
        } else {
          out.push_back(s[i++]);
        }
      }
      s = std::move(out);
    }
  }
  return v;
}

BpeVocabulary learn(const std::vector<WordCount>& words, const BpeTrainerOptions& options) {
  auto v = tokenizer::learn_bpe(words, options);
  EXPECT_TRUE(v.ok()) << v.status().to_string();
  return v.ok() ? std::move(v).value() : BpeVocabulary{};
}

std::string merge_string(const BpeVocabulary& v, size_t rank) {
  return v.tokens[v.merges[rank].first] + "+" + v.tokens[v.merges[rank].second];
}

TEST(BpeTrainer, MostFrequentPairIsMergedFirst) {
  // (a,b) occurs 10 + 2 = 12 times, (b,c) 3 + 2 = 5. After a+b, "abc" is
  // [ab][c]: (b,c) falls to 3 and (ab,c) appears with 2.
  const std::vector<WordCount> words = {{"ab", 10}, {"bc", 3}, {"abc", 2}};
  const BpeVocabulary v = learn(words, quiet_options(kBase + 10));
  ASSERT_EQ(v.merges.size(), 3u);  // then no pair is left
  EXPECT_EQ(merge_string(v, 0), "a+b");
  EXPECT_EQ(merge_string(v, 1), "b+c");
  EXPECT_EQ(merge_string(v, 2), "ab+c");
  ASSERT_EQ(v.tokens.size(), kBase + 3);
  EXPECT_EQ(v.tokens[kBase], "ab");
  EXPECT_EQ(v.tokens[kBase + 2], "abc");
}

TEST(BpeTrainer, TiesGoToTheSmallerPair) {
  // Every pair occurs 4 times; ids follow byte order for letters, so (a,b)
  // beats (c,d) and (x,y).
  const std::vector<WordCount> words = {{"xy", 4}, {"cd", 4}, {"ab", 4}};
  const BpeVocabulary v = learn(words, quiet_options(kBase + 3));
  ASSERT_EQ(v.merges.size(), 3u);
  EXPECT_EQ(merge_string(v, 0), "a+b");
  EXPECT_EQ(merge_string(v, 1), "c+d");
  EXPECT_EQ(merge_string(v, 2), "x+y");
}

TEST(BpeTrainer, SpaceIsByteLevelAndOrderedAfterPrintableBytes) {
  const std::vector<WordCount> words = {{" the", 5}};
  const BpeVocabulary v = learn(words, quiet_options(kBase + 3));
  ASSERT_EQ(v.merges.size(), 3u);
  // All pairs occur 5 times. (h,e) < (t,h) < (Ġ,t) by id: 'Ġ' (the space)
  // has a code point above all printable bytes, so a larger id.
  EXPECT_EQ(merge_string(v, 0), "h+e");
  EXPECT_EQ(merge_string(v, 1), "t+he");
  EXPECT_EQ(merge_string(v, 2), "Ġ+the");
  EXPECT_EQ(v.tokens[7], "!");          // the first byte token
  EXPECT_EQ(v.tokens[kBase - 1], "Ń");  // byte 0xAD, the last non-printable
}

TEST(BpeTrainer, OverlappingRunsAreCountedExactly) {
  // "aaaa": (a,a) three times; after a+a the word is [aa][aa].
  const std::vector<WordCount> words = {{"aaaa", 3}, {"aaa", 1}};
  const BpeVocabulary v = learn(words, quiet_options(kBase + 2));
  const BpeVocabulary naive = naive_bpe(words, quiet_options(kBase + 2));
  EXPECT_EQ(v.tokens, naive.tokens);
  EXPECT_EQ(v.merges, naive.merges);
  ASSERT_EQ(v.merges.size(), 2u);
  EXPECT_EQ(merge_string(v, 1), "aa+aa");
}

TEST(BpeTrainer, IncrementalCountsMatchANaiveRecount) {
  // Small alphabets make long runs, overlapping pairs and many ties.
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    std::mt19937 rng(seed);
    const std::string alphabet = seed % 2 ? "ab " : "abcd é";
    std::map<std::string, uint64_t> counts;
    for (int i = 0; i < 400; ++i) {
      std::string w;
      const size_t len = 1 + rng() % 12;
      for (size_t k = 0; k < len; ++k) w += alphabet[rng() % alphabet.size()];
      counts[w] += 1 + rng() % 5;
    }
    std::vector<WordCount> words;
    for (const auto& [w, c] : counts) words.push_back({w, c});
    BpeTrainerOptions o = quiet_options(kBase + 200);
    o.min_frequency = seed % 3;
    const BpeVocabulary v = learn(words, o);
    const BpeVocabulary naive = naive_bpe(words, o);
    ASSERT_EQ(v.merges, naive.merges) << "seed " << seed;
    ASSERT_EQ(v.tokens, naive.tokens) << "seed " << seed;
  }
}

TEST(BpeTrainer, MinFrequencyStopsEarly) {
  const std::vector<WordCount> words = {{"ab", 9}, {"cd", 5}, {"ef", 2}};
  BpeTrainerOptions o = quiet_options(kBase + 100);
  o.min_frequency = 5;
  EXPECT_EQ(learn(words, o).merges.size(), 2u);
  o.min_frequency = 10;
  EXPECT_EQ(learn(words, o).merges.size(), 0u);
  o.min_frequency = 0;  // every pair that occurs at all
  EXPECT_EQ(learn(words, o).merges.size(), 3u);
}

TEST(BpeTrainer, RejectsBadSpecialTokens) {
  BpeTrainerOptions o = quiet_options(kBase + 10);
  o.special_tokens = {"<a>", "<a>"};
  EXPECT_EQ(tokenizer::learn_bpe({}, o).status().code(), StatusCode::kInvalidArgument);
  o.special_tokens = {""};
  EXPECT_EQ(tokenizer::learn_bpe({}, o).status().code(), StatusCode::kInvalidArgument);
  o.special_tokens = {"x"};  // the byte token of 'x'
  EXPECT_EQ(tokenizer::learn_bpe({}, o).status().code(), StatusCode::kInvalidArgument);
  o.special_tokens = {"\xff<bad>"};
  EXPECT_EQ(tokenizer::learn_bpe({}, o).status().code(), StatusCode::kInvalidArgument);
}

TEST(BpeTrainer, PreTokenizationCutsSpecialTokensAndKeepsGaps) {
  std::vector<std::string> pieces;
  tokenizer::pretokenize_for_training("hello world<|endoftext|>  foo\n", default_special_tokens(), pieces);
  EXPECT_EQ(pieces, (std::vector<std::string>{"hello", " world", " ", " foo", "\n"}));
  pieces.clear();
  // An invalid byte is never inside a match: it is a gap, and a piece of its own.
  tokenizer::pretokenize_for_training(
      "ab\xff"
      "cd",
      {}, pieces);
  EXPECT_EQ(pieces, (std::vector<std::string>{"ab", "\xff", "cd"}));
  pieces.clear();
  tokenizer::pretokenize_for_training("x<|fim_prefix|><|fim_suffix|>y", default_special_tokens(), pieces);
  EXPECT_EQ(pieces, (std::vector<std::string>{"x", "y"}));
}

TEST(BpeTrainer, LooksLikeText) {
  EXPECT_TRUE(tokenizer::looks_like_text("int main() { return 0; }\n"));
  EXPECT_TRUE(tokenizer::looks_like_text("données 数据 🙂"));
  EXPECT_TRUE(tokenizer::looks_like_text("cut mid character \xe6\x95"));  // a sniffed prefix
  EXPECT_FALSE(tokenizer::looks_like_text(std::string_view("a\0b", 3)));
  EXPECT_FALSE(tokenizer::looks_like_text("\xff\xfe\x80\x81 binary junk"));
}

TEST(BpeCorpus, ListsTextFilesSortedAndSkipsBinaryVendoredAndHuge) {
  TempDir dir;
  dir.write("b.py", "print('b')\n");
  dir.write("a/z.cpp", "int z;\n");
  dir.write("a/y.h", "#pragma once\n");
  dir.write(".git/config", "[core]\n");
  dir.write("node_modules/lib/index.js", "module.exports = 1;\n");
  dir.write("vendor/v.c", "int v;\n");
  dir.write("third_party/t.c", "int t;\n");
  dir.write("__pycache__/b.cpython-311.pyc", "cached");
  dir.write("image.png", "not really a png, but named like one");
  dir.write("data.bin", std::string("\x7f"
                                    "ELF\0\0\0\x01",
                                    8));
  dir.write("app.min.js", "var a=1;");
  dir.write("huge.txt", std::string(5000, 'x'));
  dir.write("empty.txt", "");
  BpeTrainerOptions o = quiet_options(kBase);
  o.max_file_bytes = 4096;
  auto files = list_corpus_files({dir.path()}, o);
  ASSERT_TRUE(files.ok()) << files.status().to_string();
  const std::vector<fs::path> want = {dir.path() / "a/y.h", dir.path() / "a/z.cpp", dir.path() / "b.py"};
  EXPECT_EQ(*files, want);

  // Named files go through the same checks; a file given twice counts once.
  auto named = list_corpus_files({dir.path() / "b.py", dir.path() / "data.bin", dir.path() / "b.py"}, o);
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(*named, std::vector<fs::path>{dir.path() / "b.py"});

  auto missing = list_corpus_files({dir.path() / "nope"}, o);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(BpeCorpus, DefaultCorpusPathsExist) {
  const auto paths = default_corpus_paths(FLYWHEEL_SOURCE_DIR);
  ASSERT_FALSE(paths.empty());
  EXPECT_EQ(paths.front(), fs::path(FLYWHEEL_SOURCE_DIR) / "src");
  for (const fs::path& p : paths) EXPECT_TRUE(fs::is_directory(p)) << p;
  for (const fs::path& p : default_corpus_paths()) EXPECT_NE(p.filename(), "src");
}

class BpeTrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (uint32_t i = 0; i < 24; ++i) {
      files_.push_back(dir_.write("src/file" + std::to_string(100 + i) + ".py", code_text(i, 60 + i * 7)));
    }
  }
  Tokenizer train(const BpeTrainerOptions& o, BpeTrainerStats* stats = nullptr) {
    auto t = train_bpe_tokenizer(files_, o, stats);
    EXPECT_TRUE(t.ok()) << t.status().to_string();
    return std::move(t).value();
  }
  TempDir dir_;
  std::vector<fs::path> files_;
};

TEST_F(BpeTrainTest, SpecialTokensComeFirstAndVocabSizeIsRespected) {
  BpeTrainerStats stats;
  const Tokenizer t = train(quiet_options(400), &stats);
  EXPECT_EQ(t.vocab_size(), 400u);
  EXPECT_EQ(t.merge_count(), 400u - kBase);
  EXPECT_EQ(stats.merges, 400u - kBase);
  const auto specials = default_special_tokens();
  for (size_t i = 0; i < specials.size(); ++i) {
    EXPECT_EQ(t.token_to_id(specials[i]), static_cast<TokenId>(i)) << specials[i];
    EXPECT_TRUE(t.is_special(static_cast<TokenId>(i)));
  }
  EXPECT_EQ(t.token_to_id("<|endoftext|>"), 0);
  EXPECT_EQ(t.kind(), "byte_level");
  const auto ids = t.encode("a<|fim_prefix|>b");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1], 1);

  EXPECT_EQ(stats.files, files_.size());
  EXPECT_EQ(stats.files_skipped, 0u);
  EXPECT_GT(stats.bytes, 10000u);
  EXPECT_GT(stats.unique_words, 20u);
  EXPECT_GE(stats.read_seconds, 0.0);
  EXPECT_GE(stats.merge_seconds, 0.0);
}

TEST_F(BpeTrainTest, SameTokenizerForAnyThreadCount) {
  BpeTrainerOptions o = quiet_options(600);
  o.threads = 1;
  const std::string one = train(o).to_json();
  for (int threads : {2, 3, 8}) {
    o.threads = threads;
    EXPECT_EQ(train(o).to_json(), one) << threads << " threads";
  }
}

TEST_F(BpeTrainTest, WordCapIsDeterministicAndDropsRareWords) {
  BpeTrainerOptions o = quiet_options(kBase);
  auto all = tokenizer::count_corpus_words(files_, o, nullptr);
  ASSERT_TRUE(all.ok());
  const size_t cap = all->size() / 2;
  o.threads = 1;
  auto capped1 = tokenizer::count_corpus_words(files_, o, nullptr, cap);
  o.threads = 4;
  auto capped4 = tokenizer::count_corpus_words(files_, o, nullptr, cap);
  ASSERT_TRUE(capped1.ok() && capped4.ok());
  EXPECT_LE(capped1->size(), cap);
  ASSERT_EQ(capped1->size(), capped4->size());
  for (size_t i = 0; i < capped1->size(); ++i) {
    EXPECT_EQ((*capped1)[i].word, (*capped4)[i].word);
    EXPECT_EQ((*capped1)[i].count, (*capped4)[i].count);
    EXPECT_GE((*capped1)[i].count, 2u);
  }
}

TEST_F(BpeTrainTest, HighMinFrequencyStopsEarly) {
  BpeTrainerOptions o = quiet_options(5000);
  o.min_frequency = 1000000;
  const Tokenizer t = train(o);
  EXPECT_EQ(t.merge_count(), 0u);
  EXPECT_EQ(t.vocab_size(), kBase);
  o.min_frequency = 50;
  const Tokenizer some = train(o);
  EXPECT_GT(some.merge_count(), 0u);
  EXPECT_LT(some.vocab_size(), 5000u);
}

TEST_F(BpeTrainTest, RoundTripsTextThroughTheTrainedTokenizer) {
  const Tokenizer t = train(quiet_options(700));
  const std::vector<std::string> texts = {
      code_text(999, 40),
      "def résumé(self):\n\treturn 数据 + '🙂'\r\n",
      "   \n\n\t\t  trailing spaces   ",
      "<|fim_prefix|>def f(<|fim_suffix|>):\n<|fim_middle|>",
      "unseen: Ω≈ç√∫ ΑΒΓ ﷺ 𝔘𝔫𝔦",
  };
  for (const std::string& text : texts) {
    const auto ids = t.encode(text);
    EXPECT_EQ(t.decode(ids), text);
    EXPECT_LT(ids.size(), text.size() + 1);
  }
  // Merges learned from the corpus make its words short.
  EXPECT_LT(t.encode("return self").size(), 4u);
}

TEST_F(BpeTrainTest, SavedFileLoadsWithTheSameIds) {
  const Tokenizer t = train(quiet_options(500));
  const fs::path out = dir_.path() / "tokenizer.json";
  ASSERT_TRUE(t.save(out).is_ok());
  auto loaded = Tokenizer::from_file(out);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  const std::string text = code_text(7, 30);
  EXPECT_EQ(loaded->encode(text), t.encode(text));
  EXPECT_EQ(loaded->to_json(), t.to_json());
}

TEST_F(BpeTrainTest, SkipsBinaryAndHugeFilesGivenDirectly) {
  std::vector<fs::path> files = files_;
  files.push_back(dir_.write("blob.py", std::string("\0\0binary\0", 9)));
  files.push_back(dir_.write("big.py", std::string(5000, 'q')));
  BpeTrainerOptions o = quiet_options(300);
  o.max_file_bytes = 4000;  // also skips the larger generated files
  BpeTrainerStats stats;
  auto t = train_bpe_tokenizer(files, o, &stats);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_GE(stats.files_skipped, 2u);
  EXPECT_EQ(stats.files + stats.files_skipped, files.size());
  EXPECT_FALSE(t->token_to_id("qqqq").has_value());
}

TEST_F(BpeTrainTest, MaxCorpusBytesStopsReading) {
  BpeTrainerOptions o = quiet_options(300);
  o.max_corpus_bytes = 1;
  BpeTrainerStats stats;
  ASSERT_TRUE(train_bpe_tokenizer(files_, o, &stats).ok());
  EXPECT_EQ(stats.files, 1u);
}

TEST(BpeTrain, EmptyCorpusIsAnError) {
  TempDir dir;
  const BpeTrainerOptions o = quiet_options(1000);
  auto none = train_bpe_tokenizer({}, o);
  EXPECT_EQ(none.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(none.status().message().find("empty corpus"), std::string::npos);
  auto empty = train_bpe_tokenizer({dir.write("empty.py", ""), dir.write("bin.dat", std::string(4, '\0'))}, o);
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("empty corpus"), std::string::npos);
}

TEST(BpeTrain, VocabTooSmallIsAnError) {
  TempDir dir;
  auto t = train_bpe_tokenizer({dir.write("a.py", "x = 1\n")}, quiet_options(200));
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("too small"), std::string::npos) << t.status().message();
  // Exactly bytes plus special tokens: no merges, still a working tokenizer.
  auto exact = train_bpe_tokenizer({dir.write("b.py", "x = 1\n")}, quiet_options(kBase));
  ASSERT_TRUE(exact.ok()) << exact.status().to_string();
  EXPECT_EQ(exact->vocab_size(), kBase);
  EXPECT_EQ(exact->decode(exact->encode("x = 1\n")), "x = 1\n");
}

}  // namespace
}  // namespace flywheel
