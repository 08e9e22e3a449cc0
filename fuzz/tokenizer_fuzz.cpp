// libFuzzer target: tokenizer.json loading, and encoding/decoding of
// arbitrary text (scripts/fuzz builds and runs it; `make fuzz`).
//
// An input is JSON_TEXT, optionally followed by kSeparator and TEXT; without
// the separator the whole input is both. Per input:
//   1. Tokenizer::from_json(JSON_TEXT) must return (a Status or a tokenizer,
//      never a crash or hang). When it loads: encode TEXT (with and without
//      special tokens), decode, stream-decode, and save: to_json() must load
//      again and give the same ids.
//   2. TEXT goes through real byte-level tokenizers (one trained on flywheel's
//      source at start-up, plus FLYWHEEL_FUZZ_TOKENIZERS, a ':'-separated list of
//      tokenizer.json files): decode(encode(x)) must equal x made valid UTF-8,
//      and streaming decode must equal decode.
// A broken invariant aborts, which libFuzzer reports as a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

using flywheel::StreamDecoder;
using flywheel::TokenId;
using flywheel::Tokenizer;

constexpr std::string_view kSeparator = "\n%%TEXT%%\n";

std::vector<std::unique_ptr<Tokenizer>>& real_tokenizers() {
  static std::vector<std::unique_ptr<Tokenizer>> tokenizers;
  return tokenizers;
}

[[noreturn]] void finding(const char* what, std::string_view text) {
  std::fprintf(stderr, "tokenizer_fuzz: %s (text of %zu bytes)\n", what, text.size());
  std::abort();
}

std::string stream_decode(const Tokenizer& t, const std::vector<TokenId>& ids, bool skip_special) {
  StreamDecoder stream(t, skip_special);
  std::string out;
  for (TokenId id : ids) out += stream.push(id);
  out += stream.finish();
  return out;
}

void exercise_loaded(const Tokenizer& t, std::string_view text) {
  const std::vector<TokenId> ids = t.encode(text, false);
  const std::vector<TokenId> with_special = t.encode(text, true);
  (void)t.decode(ids, false);
  (void)t.decode(with_special, true);
  (void)stream_decode(t, ids, false);
  // Ids straight from the input bytes: unknown ones must be skipped, not read.
  std::vector<TokenId> raw;
  for (size_t i = 0; i + 4 <= text.size() && raw.size() < 64; i += 4) {
    TokenId id = 0;
    std::memcpy(&id, text.data() + i, 4);
    raw.push_back(id % 200000);  // mostly out of range, some negative
  }
  (void)t.decode(raw, false);
  (void)stream_decode(t, raw, true);
  for (TokenId id : raw) {
    (void)t.id_to_token(id);
    (void)t.is_special(id);
  }
  (void)t.vocab_size();
  (void)t.merge_count();
  (void)t.content_hash();

  auto again = Tokenizer::from_json(t.to_json());
  if (!again.ok())
    finding(("a loaded tokenizer's to_json() does not load: " + again.status().to_string()).c_str(), text);
  if (again->encode(text, false) != ids) finding("to_json() round trip changed the ids", text);
}

void check_real(const Tokenizer& t, std::string_view text) {
  const std::vector<TokenId> ids = t.encode(text, false);
  const std::string decoded = t.decode(ids, false);
  if (decoded != flywheel::tokenizer::to_valid_utf8(text)) finding("decode(encode(x)) != x", text);
  if (stream_decode(t, ids, false) != decoded) finding("streaming decode != decode", text);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  flywheel::BpeTrainerOptions options;
  options.vocab_size = 1024;
  options.threads = 1;
  options.show_progress = false;
  auto files = flywheel::list_corpus_files({std::string(FLYWHEEL_SOURCE_DIR) + "/src/tokenizer"}, options);
  if (!files.ok()) {
    std::fprintf(stderr, "tokenizer_fuzz: %s\n", files.status().to_string().c_str());
    std::exit(2);
  }
  auto trained = flywheel::train_bpe_tokenizer(*files, options);
  if (!trained.ok()) {
    std::fprintf(stderr, "tokenizer_fuzz: training failed: %s\n", trained.status().to_string().c_str());
    std::exit(2);
  }
  real_tokenizers().push_back(std::make_unique<Tokenizer>(std::move(trained).value()));

  if (const char* list = std::getenv("FLYWHEEL_FUZZ_TOKENIZERS")) {
    std::string_view rest(list);
    while (!rest.empty()) {
      const size_t colon = rest.find(':');
      const std::string path(rest.substr(0, colon));
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
      if (path.empty()) continue;
      auto t = Tokenizer::from_file(path);
      if (!t.ok()) {
        std::fprintf(stderr, "tokenizer_fuzz: %s: %s\n", path.c_str(), t.status().to_string().c_str());
        std::exit(2);
      }
      if (t->kind() != "byte_level") continue;  // the round-trip check holds for byte-level ones
      std::fprintf(stderr, "tokenizer_fuzz: also encoding with %s\n", path.c_str());
      real_tokenizers().push_back(std::make_unique<Tokenizer>(std::move(t).value()));
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t sep = input.find(kSeparator);
  const std::string_view json = input.substr(0, sep);
  const std::string_view text = sep == std::string_view::npos ? input : input.substr(sep + kSeparator.size());

  auto loaded = Tokenizer::from_json(json);
  if (loaded.ok()) exercise_loaded(*loaded, text);
  for (const auto& t : real_tokenizers()) check_real(*t, text);
  return 0;
}
