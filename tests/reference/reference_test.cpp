// The acceptance test of flywheel's tokenizer: token ids and decoded text must
// equal those of Hugging Face's tokenizers library (npm `tokenizers`, the Rust
// implementation) on real tokenizer.json files (Qwen3, Llama 2, Llama 3,
// GPT-4o), on a tokenizer flywheel trains and saves, and on each real
// tokenizer after flywheel re-saves it. No expected ids are written here: the
// reference computes them in the same run, over reference_texts.h's text set.
//
// Needs node and tests/reference/node_modules (`make npm-deps`); without them
// the tests fail and say so.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <map>
#include <random>
#include <unordered_set>

#include "hf_runner.h"
#include "reference_support.h"
#include "reference_texts.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace flywheel::testing {
namespace {

constexpr size_t kMaxDetails = 8;  // detailed reports per kind of mismatch

fs::path work_dir(std::string_view label) {
  return fs::path(FLYWHEEL_BINARY_DIR) / "reference-test" / std::string(label);
}

#define REQUIRE_REFERENCE_SETUP()                          \
  do {                                                     \
    const std::string problem = reference_setup_problem(); \
    if (!problem.empty()) FAIL() << problem;               \
  } while (0)

// Shows the part of `text` around byte `offset` (all of it when short).
std::string text_excerpt(std::string_view text, size_t offset) {
  constexpr size_t kShort = 400, kContext = 160;
  if (text.size() <= kShort) return escape_bytes(text, kShort);
  size_t begin = offset > kContext ? offset - kContext : 0;
  while (begin > 0 && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) --begin;
  return "bytes " + std::to_string(begin) + ".. of " + std::to_string(text.size()) + ": " +
         escape_bytes(text.substr(begin), 2 * kContext);
}

// Collects the mismatches of one tokenizer against the reference and prints
// the first few of each kind in full.
class Mismatches {
 public:
  Mismatches(std::string label, const Tokenizer& tokenizer) : label_(std::move(label)), tokenizer_(tokenizer) {}

  void ids(const std::string& kind, const TextCase& c, std::string_view text, const std::vector<TokenId>& fw,
           const std::vector<TokenId>& hf) {
    if (fw == hf) return;
    auto& names = failed_[kind];
    names.push_back(c.name);
    if (names.size() > kMaxDetails) return;
    const size_t pos = first_difference(fw, hf);
    // Where in the text the ids part ways (exact for byte-level tokenizers).
    const size_t offset = tokenizer_.decode(std::span<const TokenId>(fw.data(), pos)).size();
    const bool whole = fw.size() <= 150 && hf.size() <= 150;
    const size_t begin = whole ? 0 : (pos > 12 ? pos - 12 : 0), end = whole ? SIZE_MAX : pos + 24;
    ADD_FAILURE() << "[" << label_ << "] " << kind << " differs on text '" << c.name << "' (" << text.size()
                  << " bytes)\n  text: " << text_excerpt(text, offset) << "\n  first difference at id #" << pos
                  << " (near byte " << offset << "); flywheel gives " << fw.size() << " ids, Hugging Face " << hf.size()
                  << "\n  flywheel: " << format_ids(tokenizer_, fw, begin, end)
                  << "\n  HF:       " << format_ids(tokenizer_, hf, begin, end);
  }

  void text(const std::string& kind, const std::string& name, const std::string& input, const std::string& fw,
            const std::string& hf) {
    if (fw == hf) return;
    auto& names = failed_[kind];
    names.push_back(name);
    if (names.size() > kMaxDetails) return;
    size_t pos = 0;
    while (pos < fw.size() && pos < hf.size() && fw[pos] == hf[pos]) ++pos;
    ADD_FAILURE() << "[" << label_ << "] " << kind << " differs on '" << name << "'\n  input: " << input
                  << "\n  first difference at byte " << pos << " (flywheel " << fw.size() << " bytes, HF " << hf.size()
                  << ")\n  flywheel: " << text_excerpt(fw, pos) << "\n  HF:       " << text_excerpt(hf, pos);
  }

  void other(const std::string& kind, const std::string& name, const std::string& message) {
    auto& names = failed_[kind];
    names.push_back(name);
    if (names.size() <= kMaxDetails)
      ADD_FAILURE() << "[" << label_ << "] " << kind << " on '" << name << "': " << message;
  }

  // One line per kind with every failing name (details above are capped).
  void summarize(size_t text_count, size_t probe_count) const {
    for (const auto& [kind, names] : failed_) {
      std::string list;
      for (const auto& n : names) list += "\n    " + n;
      ADD_FAILURE() << "[" << label_ << "] " << kind << ": " << names.size() << " failing cases (of " << text_count
                    << " texts and " << probe_count << " id lists checked):" << list;
    }
  }

 private:
  std::string label_;
  const Tokenizer& tokenizer_;
  std::map<std::string, std::vector<std::string>> failed_;
};

std::string ids_text(const std::vector<TokenId>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  return out + "]";
}

// Id sequences for decode-only comparison: random ids, added tokens among
// them, and single-byte tokens that spell invalid UTF-8 (byte-level characters
// or SentencePiece <0xNN> tokens).
std::vector<std::vector<TokenId>> decode_probes(const Tokenizer& tokenizer) {
  std::mt19937_64 rng(kReferenceTextSeed + 1);
  const auto vocab = static_cast<TokenId>(tokenizer.vocab_size());
  std::vector<TokenId> added, bytes;
  for (const auto& t : tokenizer.added_tokens()) added.push_back(t.id);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    auto id = tokenizer.kind() == "byte_level" ? tokenizer.token_to_id(byte_level_char(static_cast<uint8_t>(b)))
                                               : tokenizer.token_to_id(name);
    if (id) bytes.push_back(*id);
  }
  std::vector<std::vector<TokenId>> probes;
  for (int n = 0; n < 300; ++n) {
    std::vector<TokenId> ids;
    const size_t len = 1 + rng() % 40;
    for (size_t k = 0; k < len; ++k) {
      const auto r = rng() % 10;
      if (r < 2 && !added.empty()) {
        ids.push_back(added[rng() % added.size()]);
      } else if (r < 5 && !bytes.empty()) {
        ids.push_back(bytes[rng() % bytes.size()]);
      } else {
        ids.push_back(static_cast<TokenId>(rng() % vocab));
      }
    }
    probes.push_back(std::move(ids));
  }
  probes.push_back({});
  if (!added.empty()) probes.push_back({added.front(), added.front(), added.back()});
  return probes;
}

// Compares flywheel's `fw` with Hugging Face's library loaded from `hf_json`
// over the whole text set: encode with and without special tokens, decode of
// Hugging Face's ids with and without skip_special_tokens, decode of random
// ids, and (byte-level) the exact bytes behind the ids of invalid UTF-8.
void compare_with_hf(const std::string& label, const Tokenizer& fw, const fs::path& hf_json) {
  const auto& texts = reference_texts();
  const auto& invalid = invalid_utf8_texts();

  std::vector<TextCase> cases(texts.begin(), texts.end());
  for (const auto& c : invalid) {
    cases.push_back({c.name + " (as to_valid_utf8)", tokenizer::to_valid_utf8(c.text)});
  }
  HfRequest request;
  request.tokenizer = hf_json;
  for (const auto& c : cases) request.texts.push_back(c.text);
  request.decode_ids = decode_probes(fw);
  const size_t first_invalid_probe = request.decode_ids.size();
  for (const auto& c : invalid) request.decode_ids.push_back(fw.encode(c.text));
  // The vocabulary: every 97th id, the first and last ones, and the added tokens.
  const auto vocab = static_cast<TokenId>(fw.vocab_size());
  for (TokenId id = 0; id < vocab; id += id < 300 ? 1 : 97) request.id_to_token.push_back(id);
  request.id_to_token.push_back(vocab - 1);
  for (const auto& t : fw.added_tokens()) request.id_to_token.push_back(t.id);

  auto started = std::chrono::steady_clock::now();
  auto hf = run_hf(request, work_dir(label));
  ASSERT_TRUE(hf.ok()) << "[" << label << "] " << hf.status().to_string();
  const double hf_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  started = std::chrono::steady_clock::now();
  Mismatches mismatches(label, fw);
  size_t bytes = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const TextCase& c = cases[i];
    const HfTextResult& r = hf->results[i];
    bytes += c.text.size();
    mismatches.ids("encode", c, c.text, fw.encode(c.text, false), r.ids);
    mismatches.ids("encode with special tokens", c, c.text, fw.encode(c.text, true), r.ids_special);
    // Decode Hugging Face's ids, so decode is checked even where encode differs.
    const std::string input = "ids of '" + c.name + "'";
    mismatches.text("decode", c.name, input, fw.decode(r.ids, false), r.decode);
    mismatches.text("decode skip_special", c.name, input, fw.decode(r.ids, true), r.decode_skip);
    mismatches.text("decode (with special)", c.name, input + " with special tokens", fw.decode(r.ids_special, false),
                    r.decode_special);
    mismatches.text("decode (with special) skip_special", c.name, input + " with special tokens",
                    fw.decode(r.ids_special, true), r.decode_special_skip);
  }
  for (size_t i = 0; i < request.decode_ids.size(); ++i) {
    const auto& ids = request.decode_ids[i];
    const std::string name = i < first_invalid_probe
                                 ? "random ids #" + std::to_string(i)
                                 : "flywheel's ids of '" + invalid[i - first_invalid_probe].name + "'";
    mismatches.text("decode of id list", name, ids_text(ids), fw.decode(ids, false), hf->decoded_ids[i].decode);
    mismatches.text("decode of id list, skip_special", name, ids_text(ids), fw.decode(ids, true),
                    hf->decoded_ids[i].decode_skip);
  }
  if (hf->vocab_size != fw.vocab_size()) {
    mismatches.other(
        "vocab_size", hf_json.string(),
        "flywheel " + std::to_string(fw.vocab_size()) + ", HF (largest id + 1) " + std::to_string(hf->vocab_size));
  }
  for (size_t i = 0; i < request.id_to_token.size(); ++i) {
    const TokenId id = request.id_to_token[i];
    const auto token = fw.id_to_token(id);
    if (token != hf->tokens[i]) {
      mismatches.other("id_to_token", "id " + std::to_string(id),
                       "flywheel " + (token ? escape_bytes(*token) : "none") + ", HF " +
                           (hf->tokens[i] ? escape_bytes(*hf->tokens[i]) : "none"));
    }
  }
  // Invalid UTF-8 cannot reach Hugging Face (JS strings cannot hold it); a
  // byte-level tokenizer must keep every byte, so the ids spell the input back.
  if (fw.kind() == "byte_level") {
    for (size_t i = 0; i < invalid.size(); ++i) {
      const auto& ids = request.decode_ids[first_invalid_probe + i];
      std::string problem;
      auto spelled = byte_level_ids_to_bytes(fw, ids, &problem);
      if (!spelled) {
        mismatches.other("byte-level round trip of invalid UTF-8", invalid[i].name, problem);
      } else if (*spelled != invalid[i].text) {
        mismatches.other("byte-level round trip of invalid UTF-8", invalid[i].name,
                         "input " + escape_bytes(invalid[i].text) + "\n  ids " + ids_text(ids) + "\n  spell " +
                             escape_bytes(*spelled));
      }
    }
  }
  mismatches.summarize(cases.size(), request.decode_ids.size());
  const double fw_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "[" << label << "] " << cases.size() << " texts (" << bytes / 1024 << " KiB) and "
            << request.decode_ids.size() << " id lists and " << request.id_to_token.size()
            << " vocabulary entries compared with Hugging Face tokenizers " << hf->tokenizers_version << " (node "
            << hf_seconds << " s, flywheel " << fw_seconds << " s)\n";
}

void check_real(std::string_view family) {
  const auto path = real_tokenizer_path(family);
  auto fw = Tokenizer::from_file(path);
  ASSERT_TRUE(fw.ok()) << "flywheel cannot load " << path << ": " << fw.status().to_string();
  compare_with_hf(std::string(family), *fw, path);
}

// flywheel re-saves a real tokenizer; Hugging Face loads flywheel's file and
// must give the ids flywheel gives with the original; flywheel loads it back
// to the same tokenizer.
void check_resaved(std::string_view family) {
  const auto path = real_tokenizer_path(family);
  auto fw = Tokenizer::from_file(path);
  ASSERT_TRUE(fw.ok()) << "flywheel cannot load " << path << ": " << fw.status().to_string();
  const std::string label = std::string(family) + "-resaved";
  const fs::path saved = work_dir(label) / "tokenizer.json";
  fs::create_directories(saved.parent_path());
  ASSERT_TRUE(fw->save(saved).is_ok()) << "cannot save " << saved;

  auto reloaded = Tokenizer::from_file(saved);
  ASSERT_TRUE(reloaded.ok()) << "flywheel cannot load its own " << saved << ": " << reloaded.status().to_string();
  EXPECT_EQ(reloaded->to_json(), fw->to_json()) << "to_json is not stable across save and load (" << saved << ")";
  size_t differ = 0;
  for (const auto& c : reference_texts()) {
    if (reloaded->encode(c.text, true) != fw->encode(c.text, true) && ++differ <= kMaxDetails) {
      ADD_FAILURE() << "[" << label << "] flywheel's reloaded tokenizer encodes '" << c.name << "' differently";
    }
  }
  EXPECT_EQ(differ, 0u);
  compare_with_hf(label, *fw, saved);
}

TEST(HfReference, Qwen3) {
  REQUIRE_REFERENCE_SETUP();
  check_real("qwen3");
}
TEST(HfReference, Llama2) {
  REQUIRE_REFERENCE_SETUP();
  check_real("llama2");
}
TEST(HfReference, Llama3) {
  REQUIRE_REFERENCE_SETUP();
  check_real("llama3");
}
TEST(HfReference, Gpt4o) {
  REQUIRE_REFERENCE_SETUP();
  check_real("gpt4o");
}

TEST(HfReference, Qwen3ResavedByFlywheel) {
  REQUIRE_REFERENCE_SETUP();
  check_resaved("qwen3");
}
TEST(HfReference, Llama2ResavedByFlywheel) {
  REQUIRE_REFERENCE_SETUP();
  check_resaved("llama2");
}
TEST(HfReference, Llama3ResavedByFlywheel) {
  REQUIRE_REFERENCE_SETUP();
  check_resaved("llama3");
}
TEST(HfReference, Gpt4oResavedByFlywheel) {
  REQUIRE_REFERENCE_SETUP();
  check_resaved("gpt4o");
}

// A tokenizer flywheel trains on a small code corpus and saves: Hugging Face
// must load the file and give the ids flywheel gives.
TEST(HfReference, TrainedByFlywheel) {
  REQUIRE_REFERENCE_SETUP();
  BpeTrainerOptions options;
  options.vocab_size = 2000;
  options.threads = 2;
  options.max_corpus_bytes = 4 << 20;
  options.show_progress = false;
  std::vector<fs::path> inputs = {fs::path(FLYWHEEL_SOURCE_DIR) / "src"};
  for (const auto& p : default_corpus_paths()) {
    // A slice of the default corpus keeps the test quick: a few Python packages.
    for (const char* sub : {"json", "email", "asyncio"}) {
      if (fs::is_directory(p / sub)) inputs.push_back(p / sub);
    }
  }
  auto files = list_corpus_files(inputs, options);
  ASSERT_TRUE(files.ok()) << files.status().to_string();
  ASSERT_FALSE(files->empty()) << "no corpus files under " << inputs.front();
  BpeTrainerStats stats;
  auto trained = train_bpe_tokenizer(*files, options, &stats);
  ASSERT_TRUE(trained.ok()) << trained.status().to_string();
  EXPECT_EQ(trained->vocab_size(), options.vocab_size);

  const fs::path saved = work_dir("trained") / "tokenizer.json";
  fs::create_directories(saved.parent_path());
  ASSERT_TRUE(trained->save(saved).is_ok()) << "cannot save " << saved;
  auto reloaded = Tokenizer::from_file(saved);
  ASSERT_TRUE(reloaded.ok()) << "flywheel cannot load its own " << saved << ": " << reloaded.status().to_string();
  for (const auto& c : reference_texts()) {
    ASSERT_EQ(reloaded->encode(c.text), trained->encode(c.text)) << "reloaded " << saved << " differs on " << c.name;
  }
  std::cout << "[trained] " << stats.files << " files, " << stats.bytes / 1024 << " KiB, " << stats.merges
            << " merges\n";
  compare_with_hf("trained", *trained, saved);
}

// flywheel's to_valid_utf8 (what invalid input becomes before it reaches
// Hugging Face) against node's WHATWG UTF-8 decoder, which replaces maximal
// invalid subparts with U+FFFD exactly as Rust's String::from_utf8_lossy.
TEST(HfReference, ToValidUtf8MatchesWhatwgDecoding) {
  REQUIRE_REFERENCE_SETUP();
  HfRequest request;
  request.tokenizer = real_tokenizer_path("llama2");
  for (const auto& c : invalid_utf8_texts()) request.lossy.push_back(c.text);
  std::mt19937_64 rng(kReferenceTextSeed + 2);
  const std::string pieces[] = {"\xC3", "\xA9", "\xE4\xB8", "\xAD", "\xF0\x9F", "\x98\x80", "\xED",        "\xA0",
                                "\xF4", "\x90", "\xC0",     "\xFF", "a",        " ",        "\xE2\x82\xAC"};
  for (int n = 0; n < 2000; ++n) {
    std::string s;
    const size_t len = rng() % 16;
    for (size_t k = 0; k < len; ++k) {
      s += rng() % 2 ? pieces[rng() % std::size(pieces)] : std::string(1, static_cast<char>(rng() % 256));
    }
    request.lossy.push_back(s);
  }
  auto hf = run_hf(request, work_dir("to_valid_utf8"));
  ASSERT_TRUE(hf.ok()) << hf.status().to_string();
  size_t failures = 0;
  for (size_t i = 0; i < request.lossy.size(); ++i) {
    const std::string fw = tokenizer::to_valid_utf8(request.lossy[i]);
    if (fw != hf->lossy[i] && ++failures <= kMaxDetails) {
      ADD_FAILURE() << "to_valid_utf8(" << escape_bytes(request.lossy[i]) << ") = " << escape_bytes(fw)
                    << ", node gives " << escape_bytes(hf->lossy[i]);
    }
    EXPECT_EQ(tokenizer::is_valid_utf8(request.lossy[i]), is_strict_utf8(request.lossy[i]))
        << escape_bytes(request.lossy[i]);
  }
  EXPECT_EQ(failures, 0u);
}

}  // namespace
}  // namespace flywheel::testing
