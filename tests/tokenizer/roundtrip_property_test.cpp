// Property: a byte-level tokenizer loses nothing. For thousands of random byte
// strings (random bytes, random UTF-8, damaged UTF-8, mixtures with special
// tokens and code), the ids spell the input's exact bytes, decode gives the
// input (invalid bytes as U+FFFD, as Hugging Face does), and StreamDecoder
// gives the same text in valid UTF-8 pieces. Llama 2 (SentencePiece-style)
// round-trips valid UTF-8 that holds neither '▁' nor added tokens.
//
// The seed is random and printed; FLYWHEEL_TEST_SEED=<n> repeats a run.
#include <gtest/gtest.h>
#include <utf8proc.h>

#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "../reference/reference_support.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace flywheel::testing {
namespace {

constexpr int kCasesPerGenerator = 1000;
constexpr int kMaxReports = 5;

uint64_t test_seed() {
  static const uint64_t seed = []() -> uint64_t {
    if (const char* env = std::getenv("FLYWHEEL_TEST_SEED")) return std::strtoull(env, nullptr, 0);
    return (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  }();
  return seed;
}

std::string seed_note() {
  return "seed " + std::to_string(test_seed()) + " (repeat with FLYWHEEL_TEST_SEED=" + std::to_string(test_seed()) +
         ")";
}

using tokenizer::append_utf8;

class Generator {
 public:
  Generator(uint64_t seed, std::vector<std::string> specials) : rng_(seed), specials_(std::move(specials)) {}

  std::string random_bytes() {
    std::string s(rng_() % 96, '\0');
    for (auto& c : s) c = static_cast<char>(rng_() % 256);
    return s;
  }

  std::string random_utf8(size_t max_chars = 64) {
    static const std::pair<uint32_t, uint32_t> ranges[] = {
        {0x20, 0x7E},     {0x20, 0x7E},       {0x09, 0x0D},       {0x00, 0x1F},       {0x80, 0x24F},
        {0x300, 0x36F},   {0x370, 0x4FF},     {0x590, 0x6FF},     {0x900, 0xE7F},     {0x1100, 0x11FF},
        {0x2000, 0x2BFF}, {0x3000, 0x30FF},   {0x4E00, 0x9FFF},   {0xAC00, 0xD7A3},   {0xE000, 0xF8FF},
        {0xFE00, 0xFFFF}, {0x10000, 0x1FFFF}, {0x1F300, 0x1FAFF}, {0x20000, 0x3FFFF}, {0xE0000, 0x10FFFF}};
    std::string s;
    const size_t n = rng_() % max_chars;
    for (size_t i = 0; i < n; ++i) {
      const auto& r = ranges[rng_() % std::size(ranges)];
      append_utf8(r.first + static_cast<uint32_t>(rng_() % (r.second - r.first + 1)), s);
    }
    return s;
  }

  // Valid UTF-8 with bytes deleted, inserted and changed.
  std::string damaged_utf8() {
    std::string s = random_utf8(32);
    const size_t edits = 1 + rng_() % 4;
    for (size_t e = 0; e < edits; ++e) {
      const size_t pos = s.empty() ? 0 : rng_() % (s.size() + 1);
      switch (rng_() % 3) {
        case 0:
          if (pos < s.size()) s.erase(pos, 1);
          break;
        case 1:
          s.insert(pos, 1, static_cast<char>(0x80 + rng_() % 0x80));
          break;
        default:
          if (pos < s.size()) s[pos] = static_cast<char>(rng_() % 256);
      }
    }
    return s;
  }

  std::string mixture(bool valid_only) {
    static const char* const kCode[] = {"def f(x):\n    return x\n",
                                        "int main() { return 0; }",
                                        "  ",
                                        "\t\t",
                                        "\r\n",
                                        "\n\n",
                                        "    ",
                                        "'s",
                                        "DON'T",
                                        "12345",
                                        "x86_64",
                                        "=>",
                                        "::<T>",
                                        "😀",
                                        "中文",
                                        "e\xCC\x81",
                                        " \xC2\xA0 ",
                                        "\xEF\xBB\xBF"};
    std::string s;
    const size_t parts = rng_() % 10;
    for (size_t p = 0; p < parts; ++p) {
      switch (rng_() % (valid_only ? 3 : 5)) {
        case 0:
          s += kCode[rng_() % std::size(kCode)];
          break;
        case 1:
          s += random_utf8(8);
          break;
        case 2:
          if (!specials_.empty()) s += specials_[rng_() % specials_.size()];
          break;
        case 3:
          s += random_bytes().substr(0, 1 + rng_() % 4);
          break;
        default:
          s += std::string(1 + rng_() % 3, static_cast<char>(0x80 + rng_() % 0x80));
      }
    }
    return s;
  }

 private:
  std::mt19937_64 rng_;
  std::vector<std::string> specials_;
};

// True when NFC leaves each valid run of `s` unchanged (so a tokenizer with an
// NFC normalizer must give `s` back).
bool nfc_stable(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && utf8_char_length(s, j) > 0) j += utf8_char_length(s, j);
    if (j > i) {
      const std::string run(s.substr(i, j - i));
      utf8proc_uint8_t* nfc = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(run.c_str()));
      const bool same = nfc != nullptr && run == reinterpret_cast<const char*>(nfc);
      std::free(nfc);
      if (!same) return false;
    }
    i = j + 1;  // past the invalid byte
  }
  return true;
}

std::string ids_text(const std::vector<TokenId>& ids) {
  std::string out;
  for (TokenId id : ids) out += std::to_string(id) + " ";
  return out;
}

// Runs every generator against `tokenizer`; `label` names it in failures.
void check_round_trip(const std::string& label, const Tokenizer& tokenizer, uint64_t seed_offset) {
  const bool byte_level = tokenizer.kind() == "byte_level";
  const auto json = nlohmann::json::parse(tokenizer.to_json());
  const bool has_normalizer = !json["normalizer"].is_null();
  std::vector<std::string> specials;
  for (const auto& t : tokenizer.added_tokens()) specials.push_back(t.content);
  Generator gen(test_seed() + seed_offset, byte_level ? specials : std::vector<std::string>{});

  int reports = 0;
  size_t checked = 0, skipped = 0;
  auto report = [&](const std::string& generator, const std::string& x, const std::vector<TokenId>& ids,
                    const std::string& what) {
    if (++reports > kMaxReports) return;
    ADD_FAILURE() << "[" << label << "] " << what << "\n  generator: " << generator << "\n  input: " << escape_bytes(x)
                  << "\n  ids: " << ids_text(ids) << "\n  decode: " << escape_bytes(tokenizer.decode(ids)) << "\n  "
                  << seed_note();
  };
  auto check = [&](const std::string& generator, const std::string& x) {
    if (!byte_level && (!is_strict_utf8(x) || x.find("\xE2\x96\x81") != std::string::npos)) {
      ++skipped;
      return;
    }
    if (has_normalizer && byte_level && !nfc_stable(x)) {
      ++skipped;
      return;
    }
    ++checked;
    const auto ids = tokenizer.encode(x);
    if (byte_level) {
      std::string problem;
      auto spelled = byte_level_ids_to_bytes(tokenizer, ids, &problem);
      if (!spelled) {
        report(generator, x, ids, problem);
      } else if (*spelled != x) {
        report(generator, x, ids, "the ids spell " + escape_bytes(*spelled) + ", not the input");
      }
    }
    const std::string decoded = tokenizer.decode(ids);
    const std::string expected = tokenizer::to_valid_utf8(x);
    if (decoded != expected)
      report(generator, x, ids, "decode(encode(x)) != to_valid_utf8(x) = " + escape_bytes(expected));

    StreamDecoder stream(tokenizer);
    std::string streamed;
    for (TokenId id : ids) {
      std::string piece = stream.push(id);
      if (!is_strict_utf8(piece))
        report(generator, x, ids, "StreamDecoder emitted invalid UTF-8 " + escape_bytes(piece));
      streamed += piece;
    }
    const std::string tail = stream.finish();
    if (!is_strict_utf8(tail))
      report(generator, x, ids, "StreamDecoder::finish emitted invalid UTF-8 " + escape_bytes(tail));
    streamed += tail;
    if (streamed != decoded)
      report(generator, x, ids,
             "StreamDecoder gives " + escape_bytes(streamed) + ", decode gives " + escape_bytes(decoded));
  };

  for (int n = 0; n < kCasesPerGenerator; ++n) {
    check("random bytes", gen.random_bytes());
    check("random UTF-8", gen.random_utf8());
    check("damaged UTF-8", gen.damaged_utf8());
    check("mixture", gen.mixture(!byte_level));
  }
  EXPECT_LE(reports, 0) << "[" << label << "] " << reports << " failures in " << checked << " inputs; " << seed_note();
  EXPECT_GT(checked, 500u) << "[" << label << "] too few inputs qualified";
  std::cout << "[" << label << "] " << checked << " inputs round-trip (" << skipped << " not applicable); "
            << seed_note() << "\n";
}

void check_real(const std::string& family, uint64_t seed_offset) {
  const std::string problem = reference_setup_problem(/*need_node=*/false);
  ASSERT_TRUE(problem.empty()) << problem;
  auto tokenizer = Tokenizer::from_file(real_tokenizer_path(family));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().to_string();
  check_round_trip(family, *tokenizer, seed_offset);
}

TEST(RoundTripProperty, Qwen3) { check_real("qwen3", 1); }
TEST(RoundTripProperty, Llama3) { check_real("llama3", 2); }
TEST(RoundTripProperty, Gpt4o) { check_real("gpt4o", 3); }
TEST(RoundTripProperty, Llama2ValidUtf8) { check_real("llama2", 4); }

TEST(RoundTripProperty, TrainedByFlywheel) {
  BpeTrainerOptions options;
  options.vocab_size = 700;
  options.threads = 2;
  options.show_progress = false;
  auto files = list_corpus_files({fs::path(FLYWHEEL_SOURCE_DIR) / "src"}, options);
  ASSERT_TRUE(files.ok()) << files.status().to_string();
  auto tokenizer = train_bpe_tokenizer(*files, options);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().to_string();
  check_round_trip("trained", *tokenizer, 5);
}

}  // namespace
}  // namespace flywheel::testing
