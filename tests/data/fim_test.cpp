#include "data/fim.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/data/data_test_util.h"

namespace flywheel {
namespace {

class Fim : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fim = FimTransform::create(tokenizer_);
    ASSERT_TRUE(fim.ok()) << fim.status().to_string();
    fim_ = std::move(fim).value();
  }
  TokenId id(const char* token) { return *tokenizer_.token_to_id(token); }
  std::vector<TokenId> enc(const std::string& s) { return tokenizer_.encode(s); }
  static std::vector<TokenId> cat(std::initializer_list<std::vector<TokenId>> parts) {
    std::vector<TokenId> out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
  }

  Tokenizer tokenizer_ = data_test::test_tokenizer();
  std::optional<FimTransform> fim_;
};

// The layouts of src/model/prompt_format.h's "flywheel" format:
//   PSM <|fim_prefix|>{p}<|fim_suffix|>{s}<|fim_middle|>{m}
//   SPM <|fim_prefix|><|fim_suffix|>{s}<|fim_middle|>{p}{m}
TEST_F(Fim, LayoutsMatchThePromptFormat) {
  const std::string p = "def add(a, b):\n    ret", m = "urn a + b\n", s = "\nprint(add(1, 2))\n";
  const TokenId pre = id("<|fim_prefix|>"), suf = id("<|fim_suffix|>"), mid = id("<|fim_middle|>");
  EXPECT_EQ(fim_->layout(p, m, s, FimLayout::kPsm), cat({{pre}, enc(p), {suf}, enc(s), {mid}, enc(m)}));
  EXPECT_EQ(fim_->layout(p, m, s, FimLayout::kSpm), cat({{pre, suf}, enc(s), {mid}, enc(p), enc(m)}));
  EXPECT_EQ(tokenizer_.decode(fim_->layout(p, m, s, FimLayout::kPsm)),
            "<|fim_prefix|>" + p + "<|fim_suffix|>" + s + "<|fim_middle|>" + m);
  EXPECT_EQ(tokenizer_.decode(fim_->layout(p, m, s, FimLayout::kSpm)),
            "<|fim_prefix|><|fim_suffix|>" + s + "<|fim_middle|>" + p + m);
}

TEST_F(Fim, ApplyKeepsLengthAndSplitsAtCharacters) {
  const std::string text =
      "# Grüße, 世界 ✓\ndef greet(name):\n    return 'héllo ' + name  # ünïcödé\n" + std::string(200, ' ') + "x = 1\n";
  const std::vector<TokenId> piece = tokenizer_.encode(text);
  const TokenId pre = id("<|fim_prefix|>"), suf = id("<|fim_suffix|>"), mid = id("<|fim_middle|>");
  int applied = 0, psm = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    std::vector<TokenId> out;
    std::vector<uint8_t> pad;
    const double spm_rate = seed % 2 == 0 ? 0.0 : 1.0;
    const FimChoice c = fim_->apply(piece, seed, 1.0, spm_rate, out, pad);
    ASSERT_EQ(out.size(), piece.size());
    ASSERT_EQ(pad.size(), piece.size());
    if (!c.applied) {
      EXPECT_EQ(out, piece);
      continue;
    }
    ++applied;
    EXPECT_EQ(c.layout, spm_rate == 0 ? FimLayout::kPsm : FimLayout::kSpm);
    // Boundaries at character starts.
    for (size_t b : {c.prefix_bytes, c.middle_end})
      EXPECT_TRUE(b == text.size() || (static_cast<unsigned char>(text[b]) & 0xC0) != 0x80) << b;
    const std::string p = text.substr(0, c.prefix_bytes);
    const std::string m = text.substr(c.prefix_bytes, c.middle_end - c.prefix_bytes);
    const std::string s = text.substr(c.middle_end);
    std::vector<TokenId> s_ids = enc(s);
    s_ids.resize(s_ids.size() - c.truncated_tokens);
    std::vector<TokenId> expected;
    if (c.layout == FimLayout::kPsm) {
      ++psm;
      expected =
          cat({{pre}, enc(p), {suf}, s_ids, std::vector<TokenId>(c.pad_tokens, id("<|fim_pad|>")), {mid}, enc(m)});
    } else {
      expected = cat({{pre, suf}, s_ids, std::vector<TokenId>(c.pad_tokens, id("<|fim_pad|>")), {mid}, enc(p), enc(m)});
    }
    EXPECT_EQ(out, expected) << "seed " << seed;
    EXPECT_EQ(static_cast<size_t>(std::count(pad.begin(), pad.end(), 1)), c.pad_tokens);
  }
  EXPECT_GT(applied, 150);
  EXPECT_GT(psm, 50);
  EXPECT_LT(psm, applied);

  // Deterministic for a seed; rate 0 leaves the piece alone.
  std::vector<TokenId> a, b;
  std::vector<uint8_t> pa, pb;
  fim_->apply(piece, 42, 0.5, 0.5, a, pa);
  fim_->apply(piece, 42, 0.5, 0.5, b, pb);
  EXPECT_EQ(a, b);
  std::vector<TokenId> none;
  std::vector<uint8_t> none_pad;
  EXPECT_FALSE(fim_->apply(piece, 7, 0.0, 0.5, none, none_pad).applied);
  EXPECT_EQ(none, piece);
}

TEST_F(Fim, ExactBytesOfPiecesCutInsideCharacters) {
  const std::string text = "ä世界🙂";
  const std::vector<TokenId> ids = tokenizer_.encode(text);  // byte tokens: cuts fall inside characters
  for (size_t cut = 0; cut <= ids.size(); ++cut) {
    const std::string left = fim_->bytes(std::span<const TokenId>(ids.data(), cut));
    const std::string right = fim_->bytes(std::span<const TokenId>(ids.data() + cut, ids.size() - cut));
    EXPECT_EQ(left + right, text);
  }
}

TEST(FimTokens, MissingTokensAreNamed) {
  const Tokenizer plain = data_test::test_tokenizer(/*with_fim=*/false);
  auto fim = FimTransform::create(plain);
  ASSERT_FALSE(fim.ok());
  EXPECT_NE(fim.status().message().find("<|fim_prefix|>"), std::string::npos);
}

}  // namespace
}  // namespace flywheel
