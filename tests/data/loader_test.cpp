#include "data/loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "data/dataset.h"
#include "data/ingest.h"
#include "tests/data/data_test_util.h"

namespace flywheel {
namespace {

using data_test::python_file;
using data_test::TempDir;
using data_test::write_file;
namespace fs = std::filesystem;

class Loader : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    tokenizer_ = new Tokenizer(data_test::test_tokenizer());
    for (int i = 0; i < 24; ++i)
      write_file(*dir_ / ("alpha/mod" + std::to_string(i) + ".py"), python_file(100 + i, 2 + i % 7));
    for (int i = 0; i < 12; ++i)
      write_file(*dir_ / ("beta/src/f" + std::to_string(i) + ".py"), python_file(200 + i, 3 + i % 5));
    IngestOptions o;
    o.sources = {(*dir_ / "alpha").string(), (*dir_ / "beta").string()};
    o.out = *dir_ / "ds";
    o.valid_fraction = 0.25;
    o.shard_bytes = 3000;
    o.threads = 2;
    o.show_progress = false;
    auto stats = ingest_corpus(o, *tokenizer_);
    ASSERT_TRUE(stats.ok()) << stats.status().to_string();
    ASSERT_GT(stats->valid_documents, 0u);
    ASSERT_GT(stats->train_documents, 10u);
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete dir_;
  }

  LoaderOptions base() const {
    LoaderOptions o;
    o.dataset = *dir_ / "ds";
    o.seq_len = 48;
    o.batch_size = 2;
    o.seed = 5;
    return o;
  }
  DataLoader open(const LoaderOptions& o) const {
    auto loader = DataLoader::open(o, *tokenizer_);
    EXPECT_TRUE(loader.ok()) << loader.status().to_string();
    return std::move(loader).value();
  }
  static std::vector<TokenBatch> take(DataLoader& loader, int n) {
    std::vector<TokenBatch> out;
    for (int i = 0; i < n; ++i) {
      auto batch = loader.next();
      EXPECT_TRUE(batch.ok()) << batch.status().to_string();
      if (!batch.ok() || !batch->has_value()) break;
      out.push_back(std::move(**batch));
    }
    return out;
  }
  static void expect_same(const std::vector<TokenBatch>& a, const std::vector<TokenBatch>& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].tokens, b[i].tokens) << "batch " << i;
      EXPECT_EQ(a[i].loss_mask, b[i].loss_mask) << "batch " << i;
      EXPECT_EQ(a[i].target_bytes, b[i].target_bytes) << "batch " << i;
    }
  }
  // The texts of a split's documents.
  static std::multiset<std::string> documents(const std::string& split) {
    std::multiset<std::string> out;
    auto dataset = Dataset::open(*dir_ / "ds");
    for (const auto& e : dataset->shards(split)) {
      auto shard = dataset->open_shard(e);
      for (uint64_t d = 0; d < shard->document_count(); ++d) out.insert(tokenizer_->decode(shard->document(d)));
    }
    return out;
  }
  // One row's lane stream from consecutive windows (they overlap by one token).
  static std::vector<TokenId> lane_stream(const std::vector<TokenBatch>& batches, int64_t row) {
    std::vector<TokenId> stream;
    for (const TokenBatch& b : batches) {
      const int64_t w = b.seq_len + 1;
      auto begin = b.tokens.begin() + row * w;
      stream.insert(stream.end(), begin + (stream.empty() ? 0 : 1), begin + w);
    }
    return stream;
  }
  static std::vector<std::string> split_on(const std::string& text, const std::string& separator) {
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t p = text.find(separator); p != std::string::npos; p = text.find(separator, start)) {
      parts.push_back(text.substr(start, p - start));
      start = p + separator.size();
    }
    parts.push_back(text.substr(start));
    return parts;
  }
  TokenId id(const char* token) const { return *tokenizer_->token_to_id(token); }

  static TempDir* dir_;
  static Tokenizer* tokenizer_;
};

TempDir* Loader::dir_ = nullptr;
Tokenizer* Loader::tokenizer_ = nullptr;

TEST_F(Loader, PacksEveryDocumentOnceWithSeparators) {
  LoaderOptions o = base();
  o.fim_rate = 0;
  o.loop = false;
  o.batch_size = 3;
  DataLoader loader = open(o);
  ASSERT_TRUE(loader.total_batches().has_value());
  const auto batches = take(loader, 100000);
  EXPECT_EQ(static_cast<int64_t>(batches.size()), *loader.total_batches());
  auto after = loader.next();
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->has_value());

  std::multiset<std::string> seen;
  int64_t target_bytes = 0, counted = 0;
  for (const TokenBatch& b : batches) {
    ASSERT_EQ(b.tokens.size(), 3u * 49u);
    ASSERT_EQ(b.loss_mask.size(), 3u * 48u);
    target_bytes += b.target_bytes;
    for (uint8_t m : b.loss_mask) counted += m;
  }
  int64_t stream_bytes = 0, stream_targets = 0;
  for (int64_t row = 0; row < 3; ++row) {
    std::vector<TokenId> stream = lane_stream(batches, row);
    while (!stream.empty() && stream.back() == id("<|fim_pad|>")) stream.pop_back();  // the end of the data
    ASSERT_FALSE(stream.empty());
    EXPECT_EQ(stream.back(), id("<|endoftext|>"));
    stream_targets += static_cast<int64_t>(stream.size()) - 1;
    stream_bytes += static_cast<int64_t>(tokenizer_->decode(stream, true).size()) -
                    static_cast<int64_t>(tokenizer_->decode(std::vector<TokenId>{stream[0]}, true).size());
    auto parts = split_on(tokenizer_->decode(stream), "<|endoftext|>");
    parts.pop_back();  // after the last separator
    seen.insert(parts.begin(), parts.end());
  }
  EXPECT_EQ(seen, documents("train"));
  EXPECT_EQ(counted, stream_targets);  // every real target counts, padding does not
  EXPECT_EQ(target_bytes, stream_bytes);
}

TEST_F(Loader, ChunkedDocumentsCoverTheDataOnceInShuffledChunks) {
  LoaderOptions o = base();
  o.fim_rate = 0;
  o.loop = false;
  o.chunk_tokens = 16;
  DataLoader loader = open(o);
  const auto batches = take(loader, 100000);
  std::multiset<TokenId> seen, expected;
  int64_t separators = 0;
  std::multiset<std::string> parts;
  for (int64_t row = 0; row < o.batch_size; ++row) {
    std::vector<TokenId> stream = lane_stream(batches, row);
    while (!stream.empty() && stream.back() == id("<|fim_pad|>")) stream.pop_back();
    for (TokenId t : stream) {
      if (t == id("<|endoftext|>"))
        ++separators;
      else
        seen.insert(t);
    }
    auto texts = split_on(tokenizer_->decode(stream), "<|endoftext|>");
    parts.insert(texts.begin(), texts.end());
  }
  auto dataset = Dataset::open(*dir_ / "ds");
  int64_t documents_in_split = 0;
  for (const auto& e : dataset->shards("train")) {
    auto shard = dataset->open_shard(e);
    for (uint64_t d = 0; d < shard->document_count(); ++d, ++documents_in_split)
      for (TokenId t : shard->document(d)) expected.insert(t);
  }
  EXPECT_EQ(seen, expected);                  // every token once
  EXPECT_EQ(separators, documents_in_split);  // <|endoftext|> after each document's last chunk only
  std::multiset<std::string> whole = documents("train");
  int64_t intact = 0;
  for (const std::string& doc : whole) intact += parts.count(doc) > 0;
  EXPECT_LT(intact, documents_in_split / 2);  // chunks of one document do not arrive in a row
}

TEST_F(Loader, DeterministicForASeed) {
  LoaderOptions o = base();
  DataLoader a = open(o), b = open(o);
  const auto xa = take(a, 12), xb = take(b, 12);
  expect_same(xa, xb);
  o.seed = 6;
  DataLoader c = open(o);
  const auto xc = take(c, 12);
  EXPECT_NE(xa[0].tokens, xc[0].tokens);
}

TEST_F(Loader, StateRestoreContinuesBitForBit) {
  for (int variant : {0, 1, 2}) {  // whole documents, repository level, chunks
    LoaderOptions o = base();
    o.batch_size = 3;
    o.seq_len = 256;
    o.fim_rate = 0.9;
    o.repo_level = variant == 1;
    o.chunk_tokens = variant == 2 ? 40 : 0;
    DataLoader a = open(o);
    take(a, 7);
    const std::string saved = a.state().dump();
    const auto expected = take(a, 40);  // crosses epochs
    EXPECT_GE(a.epoch(), 1) << "the test should cross an epoch";

    DataLoader b = open(o);
    ASSERT_TRUE(b.restore(nlohmann::json::parse(saved)).ok());
    EXPECT_EQ(b.batches(), 7);
    expect_same(take(b, 40), expected);

    LoaderOptions other = o;
    other.seq_len = 128;
    DataLoader c = open(other);
    Status s = c.restore(nlohmann::json::parse(saved));
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("seq_len"), std::string::npos) << s.message();
  }
}

TEST_F(Loader, RanksReadDisjointSlicesOfTheSingleProcessBatch) {
  LoaderOptions single = base();
  single.batch_size = 4;
  single.fim_rate = 0.5;
  DataLoader one = open(single);
  const auto whole = take(one, 10);
  std::vector<std::vector<TokenBatch>> parts;
  for (int rank = 0; rank < 2; ++rank) {
    LoaderOptions o = single;
    o.batch_size = 2;
    o.rank = rank;
    o.world_size = 2;
    DataLoader loader = open(o);
    parts.push_back(take(loader, 10));
  }
  for (size_t b = 0; b < whole.size(); ++b) {
    std::vector<int32_t> joined = parts[0][b].tokens;
    joined.insert(joined.end(), parts[1][b].tokens.begin(), parts[1][b].tokens.end());
    EXPECT_EQ(joined, whole[b].tokens) << "batch " << b;
    std::vector<uint8_t> mask = parts[0][b].loss_mask;
    mask.insert(mask.end(), parts[1][b].loss_mask.begin(), parts[1][b].loss_mask.end());
    EXPECT_EQ(mask, whole[b].loss_mask);
    EXPECT_EQ(parts[0][b].target_bytes + parts[1][b].target_bytes, whole[b].target_bytes);
  }
  // One pass: each rank's documents are its own, and together they are all.
  std::multiset<std::string> all;
  std::vector<std::set<std::string>> per_rank(2);
  for (int rank = 0; rank < 2; ++rank) {
    LoaderOptions o = single;
    o.fim_rate = 0;
    o.loop = false;
    o.batch_size = 2;
    o.rank = rank;
    o.world_size = 2;
    DataLoader loader = open(o);
    const auto batches = take(loader, 100000);
    for (int64_t row = 0; row < 2; ++row) {
      std::vector<TokenId> stream = lane_stream(batches, row);
      auto docs = split_on(tokenizer_->decode(stream), "<|endoftext|>");
      docs.pop_back();
      for (auto& d : docs) {
        all.insert(d);
        per_rank[static_cast<size_t>(rank)].insert(d);
      }
    }
  }
  EXPECT_EQ(all, documents("train"));
  for (const auto& d : per_rank[0]) EXPECT_EQ(per_rank[1].count(d), 0u);
}

TEST_F(Loader, EpochsReshuffle) {
  LoaderOptions o = base();
  o.fim_rate = 0;
  o.batch_size = 1;
  o.seq_len = static_cast<int64_t>(Dataset::open(*dir_ / "ds")->token_count("train")) + 100;  // a window holds it all
  DataLoader loader = open(o);
  EXPECT_EQ(loader.epoch(), 0);
  const auto first = take(loader, 1);
  EXPECT_GE(loader.epoch(), 1);
  const auto second = take(loader, 1);
  EXPECT_NE(first[0].tokens, second[0].tokens);
}

TEST_F(Loader, RepositoryLevelPacking) {
  LoaderOptions o = base();
  o.fim_rate = 0;
  o.repo_level = true;
  o.loop = false;
  o.batch_size = 1;
  DataLoader loader = open(o);
  const std::string text = tokenizer_->decode(lane_stream(take(loader, 100000), 0));
  auto units = split_on(text, "<|endoftext|>");
  units.pop_back();
  ASSERT_EQ(units.size(), 2u);  // one per repository
  std::set<std::string> repos;
  size_t files = 0;
  for (const std::string& unit : units) {
    ASSERT_TRUE(unit.starts_with("<|repo_name|>")) << unit.substr(0, 40);
    const size_t nl = unit.find('\n');
    repos.insert(unit.substr(13, nl - 13));
    auto file_parts = split_on(unit.substr(nl + 1), "<|file_sep|>");
    EXPECT_TRUE(file_parts[0].empty());
    for (size_t i = 1; i < file_parts.size(); ++i) {
      const std::string& f = file_parts[i];
      const std::string path = f.substr(0, f.find('\n'));
      EXPECT_TRUE(path.ends_with(".py")) << path;
      EXPECT_EQ(f.back(), '\n');
      ++files;
    }
  }
  EXPECT_EQ(repos, (std::set<std::string>{"alpha", "beta"}));
  EXPECT_EQ(files, documents("train").size());
}

TEST_F(Loader, FimMarkersAndPadsInBatches) {
  LoaderOptions o = base();
  o.fim_rate = 1.0;
  DataLoader loader = open(o);
  int prefixes = 0;
  for (const TokenBatch& b : take(loader, 10)) {
    const int64_t w = b.seq_len + 1;
    for (int64_t row = 0; row < b.batch_size; ++row)
      for (int64_t t = 0; t < w; ++t) {
        const TokenId token = b.tokens[static_cast<size_t>(row * w + t)];
        prefixes += token == id("<|fim_prefix|>") ? 1 : 0;
        if (t == 0) continue;
        const uint8_t mask = b.loss_mask[static_cast<size_t>(row * b.seq_len + t - 1)];
        EXPECT_EQ(mask, token == id("<|fim_pad|>") ? 0 : 1);
      }
  }
  EXPECT_GT(prefixes, 10);

  LoaderOptions valid = base();
  valid.split = "valid";
  valid.fim_rate = 1.0;
  DataLoader plain = open(valid);
  for (const TokenBatch& b : take(plain, 3))
    EXPECT_EQ(std::count(b.tokens.begin(), b.tokens.end(), id("<|fim_prefix|>")), 0);
  valid.fim_on_valid = true;
  DataLoader with_fim = open(valid);
  int64_t fim = 0;
  for (const TokenBatch& b : take(with_fim, 3))
    fim += std::count(b.tokens.begin(), b.tokens.end(), id("<|fim_prefix|>"));
  EXPECT_GT(fim, 0);
}

TEST_F(Loader, WrongTokenizerOrOptionsAreClearErrors) {
  const Tokenizer other = data_test::test_tokenizer(/*with_fim=*/false);
  auto loader = DataLoader::open(base(), other);
  ASSERT_FALSE(loader.ok());
  EXPECT_NE(loader.status().message().find(other.content_hash()), std::string::npos);
  LoaderOptions bad = base();
  bad.rank = 2;
  bad.world_size = 2;
  EXPECT_EQ(DataLoader::open(bad, *tokenizer_).status().code(), StatusCode::kInvalidArgument);
  bad = base();
  bad.dataset = *dir_ / "missing";
  EXPECT_EQ(DataLoader::open(bad, *tokenizer_).status().code(), StatusCode::kNotFound);
}

TEST_F(Loader, SftMasksCompletionsOnly) {
  const fs::path jsonl = *dir_ / "sft.jsonl";
  write_file(jsonl,
             "{\"prompt\": \"Q: 1+1?\\nA:\", \"completion\": \" 2\"}\n"
             "\n"
             "{\"prompt\": \"Say hi\", \"completion\": \" hi there\", \"extra\": 1}\n"
             "{\"prompt\": \"" +
                 std::string(100, 'p') + "\", \"completion\": \" long\"}\n");
  LoaderOptions o;
  o.sft_jsonl = jsonl;
  o.seq_len = 24;
  o.batch_size = 2;
  o.loop = false;
  DataLoader loader = open(o);
  EXPECT_EQ(loader.total_batches(), std::optional<int64_t>(2));
  const auto batches = take(loader, 10);
  ASSERT_EQ(batches.size(), 2u);
  const TokenId eot = id("<|endoftext|>"), pad = id("<|fim_pad|>");
  std::set<std::string> prompts;
  int empty_rows = 0;
  for (const TokenBatch& b : batches) {
    for (int64_t row = 0; row < 2; ++row) {
      const std::vector<TokenId> tokens(b.tokens.begin() + row * 25, b.tokens.begin() + (row + 1) * 25);
      const std::vector<uint8_t> mask(b.loss_mask.begin() + row * 24, b.loss_mask.begin() + (row + 1) * 24);
      if (tokens[0] == pad) {  // past the end: all padding, nothing counts
        ++empty_rows;
        EXPECT_EQ(std::count(mask.begin(), mask.end(), 1), 0);
        continue;
      }
      // Counted targets decode to the completion and the end of text.
      std::vector<TokenId> counted;
      for (size_t t = 0; t < 24; ++t)
        if (mask[t]) counted.push_back(tokens[t + 1]);
      ASSERT_FALSE(counted.empty());
      EXPECT_EQ(counted.back(), eot);
      const std::string completion = tokenizer_->decode(std::vector<TokenId>(counted.begin(), counted.end() - 1));
      const std::string prompt =
          tokenizer_->decode(std::vector<TokenId>(tokens.begin(), tokens.end() - counted.size()));
      if (completion == " long") {
        EXPECT_EQ(prompt.find_first_not_of('p'), prompt.find(" long"));  // the prompt lost its start
      } else {
        EXPECT_TRUE(completion == " 2" || completion == " hi there") << completion;
      }
      prompts.insert(completion);
      // Padding after the end of text never counts.
      auto end = std::find(tokens.begin(), tokens.end(), eot);
      for (auto it = end + 1; it != tokens.end(); ++it) EXPECT_EQ(*it, pad);
    }
  }
  EXPECT_EQ(prompts.size(), 3u);
  EXPECT_EQ(empty_rows, 1);

  // Resume in SFT mode.
  o.loop = true;
  DataLoader a = open(o);
  take(a, 3);
  const nlohmann::json state = a.state();
  const auto expected = take(a, 5);
  DataLoader b = open(o);
  ASSERT_TRUE(b.restore(state).ok());
  expect_same(take(b, 5), expected);

  write_file(*dir_ / "bad.jsonl", "{\"prompt\": \"x\", \"completion\": \"y\"}\n{\"prompt\": 3}\n");
  o.sft_jsonl = *dir_ / "bad.jsonl";
  auto bad = DataLoader::open(o, *tokenizer_);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("line 2"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace flywheel
