// Unit tests of the tokenizer pipeline on small hand-made tokenizer.json
// documents. (Equality with Hugging Face on real files: tests/reference.)
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include "tests/tokenizer/tiny_tokenizers.h"

namespace flywheel {
namespace {

using testing::OJson;

Tokenizer load(const OJson& json) {
  auto t = Tokenizer::from_json(json.dump());
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return std::move(t).value();
}

std::string token_string(const Tokenizer& t, const std::vector<TokenId>& ids) {
  std::string out;
  for (TokenId id : ids) out += "[" + t.id_to_token(id).value_or("?") + "]";
  return out;
}

TEST(Tokenizer, MergesLowestRankFirst) {
  // "Ġ" is the byte-level space. Ranks: t+h, th+e, Ġ+the.
  Tokenizer t = load(testing::byte_level_tokenizer({{"t", "h"}, {"th", "e"}, {"Ġ", "the"}, {"h", "e"}}));
  EXPECT_EQ(token_string(t, t.encode("the the")), "[the][Ġthe]");
  // "he" (rank 3) loses to "th" (rank 0) in "the"; alone it merges.
  EXPECT_EQ(token_string(t, t.encode("he")), "[he]");
  EXPECT_EQ(t.decode(t.encode("the the")), "the the");
}

TEST(Tokenizer, EqualRanksMergeLeftmostFirst) {
  Tokenizer t = load(testing::byte_level_tokenizer({{"a", "a"}}));
  EXPECT_EQ(token_string(t, t.encode("aaa")), "[aa][a]");
  // Long pieces take the heap path; the result must follow the same rule.
  std::string long_word(101, 'a');
  auto ids = t.encode(long_word);
  ASSERT_EQ(ids.size(), 51u);
  EXPECT_EQ(t.id_to_token(ids.back()), "a");
  EXPECT_EQ(t.decode(ids), long_word);
}

TEST(Tokenizer, AddedTokensMatchBeforeTheModel) {
  OJson added = OJson::array({{{"content", "<|endoftext|>"}}, {{"content", "<|fim_prefix|>"}},
                              {{"content", "<|fim|>"}, {"special", false}}});
  Tokenizer t = load(testing::byte_level_tokenizer({}, added));
  auto ids = t.encode("a<|endoftext|>b<|fim_prefix|>");
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(ids[1], *t.token_to_id("<|endoftext|>"));
  EXPECT_EQ(ids[3], *t.token_to_id("<|fim_prefix|>"));
  EXPECT_TRUE(t.is_special(ids[1]));
  EXPECT_EQ(t.decode(ids, /*skip_special_tokens=*/true), "ab");
  EXPECT_EQ(t.decode(ids), "a<|endoftext|>b<|fim_prefix|>");
  // Longest match wins; a partial token is plain text.
  EXPECT_EQ(t.encode("<|fim_prefix|>").size(), 1u);
  EXPECT_EQ(t.encode("<|endoftext").size(), 11u);
}

TEST(Tokenizer, AddedTokenStripAndSingleWord) {
  OJson added = OJson::array({{{"content", "<mask>"}, {"lstrip", true}, {"rstrip", true}},
                              {{"content", "cat"}, {"single_word", true}, {"special", false}}});
  Tokenizer t = load(testing::byte_level_tokenizer({}, added));
  TokenId mask = *t.token_to_id("<mask>"), cat = *t.token_to_id("cat");
  // Byte ids equal byte values in this tokenizer.
  EXPECT_EQ(t.encode("a  <mask>  b"), (std::vector<TokenId>{'a', mask, 'b'}));
  EXPECT_EQ(t.encode("cat").front(), cat);
  auto ids = t.encode("concat");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), cat), 0);
}

TEST(Tokenizer, SentencePieceByteFallbackAndTemplate) {
  Tokenizer t = load(testing::sentencepiece_tokenizer({"▁", "h", "i", "▁h", "▁hi"}, {{"▁", "h"}, {"▁h", "i"}}));
  EXPECT_EQ(t.kind(), "sentencepiece");
  auto ids = t.encode("hi");
  EXPECT_EQ(token_string(t, ids), "[▁hi]");
  EXPECT_EQ(token_string(t, t.encode("hi", true)), "[<s>][▁hi]");
  // "é" is not in the vocab: its two UTF-8 bytes fall back to <0xC3><0xA9>.
  EXPECT_EQ(token_string(t, t.encode("é")), "[▁][<0xC3>][<0xA9>]");
  EXPECT_EQ(t.decode(t.encode("hi é hi")), "hi é hi");
  EXPECT_EQ(t.decode(t.encode("hi", true), true), "hi");
}

TEST(Tokenizer, ByteLevelRoundTripsInvalidUtf8) {
  Tokenizer t = load(testing::byte_level_tokenizer({{"a", "b"}}));
  std::string bytes("ab\xff\xfe x\xc3", 7);
  auto ids = t.encode(bytes);
  EXPECT_EQ(ids.size(), 6u);
  // decode() itself is lossy (U+FFFD), as Hugging Face's; the bytes survive in the ids.
  EXPECT_EQ(t.decode(ids), "ab\xEF\xBF\xBD\xEF\xBF\xBD x\xEF\xBF\xBD");
}

TEST(Tokenizer, SaveAndReloadGivesTheSameIds) {
  OJson added = OJson::array({{{"content", "<|endoftext|>"}}});
  Tokenizer t = load(testing::byte_level_tokenizer({{"t", "h"}, {"th", "e"}}, added));
  auto again = Tokenizer::from_json(t.to_json());
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  std::string text = "the thin theme<|endoftext|> ok";
  EXPECT_EQ(again->encode(text), t.encode(text));
  EXPECT_EQ(again->to_json(), t.to_json());
  EXPECT_EQ(again->content_hash(), t.content_hash());
  EXPECT_EQ(t.content_hash().size(), 64u);
}

TEST(StreamDecoder, NeverEmitsHalfACharacter) {
  Tokenizer t = load(testing::byte_level_tokenizer({}));
  std::string text = "héllo 世界 🎉!";
  auto ids = t.encode(text);  // one id per byte: multi-byte characters span ids
  StreamDecoder stream(t);
  std::string joined;
  for (TokenId id : ids) {
    std::string piece = stream.push(id);
    EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos);
    joined += piece;
  }
  joined += stream.finish();
  EXPECT_EQ(joined, text);
}

TEST(StreamDecoder, MatchesDecodeWithSentencePieceStrip) {
  Tokenizer t = load(testing::sentencepiece_tokenizer({"▁", "h", "i", "▁h", "▁hi"}, {{"▁", "h"}, {"▁h", "i"}}));
  std::string text = "hi hi é hi";
  auto ids = t.encode(text);
  StreamDecoder stream(t);
  std::string joined;
  for (TokenId id : ids) joined += stream.push(id);
  joined += stream.finish();
  EXPECT_EQ(joined, t.decode(ids));
  EXPECT_EQ(joined, text);
}

TEST(TokenizerLoad, ClearErrors) {
  struct Case {
    std::string json;
    std::string expected;
  };
  OJson good = testing::byte_level_tokenizer({{"t", "h"}});
  std::string good_text = good.dump();
  auto with = [&](const char* key, OJson value) {
    OJson copy = good;
    copy[key] = std::move(value);
    return copy.dump();
  };
  OJson unknown_model = good;
  unknown_model["model"]["type"] = "Unigram";
  OJson bad_merge = good;
  bad_merge["model"]["merges"].push_back(OJson::array({"zz", "qq"}));
  std::vector<Case> cases = {
      {"", "not valid JSON"},
      {good_text.substr(0, good_text.size() / 2), "not valid JSON"},
      {"[1,2]", "must hold a JSON object"},
      {"{}", "no 'model'"},
      {unknown_model.dump(), "model type 'Unigram' is not supported"},
      {bad_merge.dump(), "uses a token missing from the vocab"},
      {with("pre_tokenizer", {{"type", "BertPreTokenizer"}}), "pre_tokenizer type 'BertPreTokenizer'"},
      {with("normalizer", {{"type", "Precompiled"}}), "normalizer type 'Precompiled'"},
      {with("decoder", {{"type", "WordPiece"}}), "decoder type 'WordPiece'"},
      {with("post_processor", {{"type", "Foo"}}), "post_processor type 'Foo'"},
      {with("pre_tokenizer", {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}}),
       "cannot compile regex"},
      {with("added_tokens", OJson::array({{{"content", 5}}})), "needs an integer 'id'"},
  };
  for (const Case& c : cases) {
    auto t = Tokenizer::from_json(c.json);
    ASSERT_FALSE(t.ok()) << c.expected;
    EXPECT_NE(t.status().message().find(c.expected), std::string::npos)
        << "got: " << t.status().to_string() << "\nwanted: " << c.expected;
  }
}

TEST(TokenizerLoad, MissingFileNamesThePath) {
  auto t = Tokenizer::from_file("/nonexistent/tokenizer.json");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().to_string().find("/nonexistent/tokenizer.json"), std::string::npos);
}

TEST(Tokenizer, HugeSingleLineIsLinear) {
  Tokenizer t = load(testing::byte_level_tokenizer({{"a", "a"}, {"aa", "aa"}, {"Ġ", "a"}}));
  // 8 MB in one line: a single 8 MB piece and many short ones.
  std::string word(8 << 20, 'a');
  auto ids = t.encode(word);
  EXPECT_EQ(ids.size(), (8u << 20) / 4);
  std::string spaced;
  for (int i = 0; i < (1 << 20); ++i) spaced += " aaaa x";
  EXPECT_EQ(t.decode(t.encode(spaced)), spaced);
}

}  // namespace
}  // namespace flywheel
