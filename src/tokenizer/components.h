// The pipeline stages of a Hugging Face tokenizer, each loaded from and saved
// to its tokenizer.json object: normalizer, pre-tokenizer, post-processor and
// decoder. (The BPE model is in bpe_model.h, added tokens in added_vocabulary.h.)
//
// Thread-safety: immutable after loading. Errors: from_json returns
// kUnsupported naming the component type flywheel lacks, kCorruption for a
// malformed object.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"

namespace flywheel::tokenizer {

using Json = nlohmann::ordered_json;

// ---- Normalizers: text -> text, applied to the text between added tokens ----
class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
  virtual Json to_json() const = 0;
};
// `json` may be null (no normalizer): returns nullptr then.
Result<std::unique_ptr<Normalizer>> normalizer_from_json(const Json& json);

// ---- Pre-tokenizers: split text into pieces the model encodes separately ----

// Pieces are spans of `text`; `first` marks a piece list that starts at the
// beginning of the encoded input (Metaspace's prepend_scheme "first" needs it).
struct PieceList {
  std::string text;
  std::vector<Span> pieces;
  bool first = true;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(PieceList& list) const = 0;
  virtual Json to_json() const = 0;
  // True for ByteLevel: the model then maps each piece's bytes to byte symbols.
  virtual bool is_byte_level() const { return false; }
};
Result<std::unique_ptr<PreTokenizer>> pre_tokenizer_from_json(const Json& json);

// ---- Post-processors: add special tokens around the encoded ids ----
class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Adds the template's special tokens around `ids` (add_special_tokens=true).
  virtual std::vector<TokenId> process(std::vector<TokenId> ids) const = 0;
  virtual Json to_json() const = 0;
};
Result<std::unique_ptr<PostProcessor>> post_processor_from_json(const Json& json);

// ---- Decoders: token strings -> text, as Hugging Face's decode_chain ----
class Decoder {
 public:
  virtual ~Decoder() = default;
  // Strings may hold raw bytes until the chain ends (ByteLevel, ByteFallback).
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
  virtual Json to_json() const = 0;
};
Result<std::unique_ptr<Decoder>> decoder_from_json(const Json& json);

// Reads a {"String": s} or {"Regex": r} pattern object.
struct Pattern {
  bool is_regex = false;
  std::string source;
  std::unique_ptr<Regex> regex;  // when is_regex
  Json to_json() const;
  // Non-overlapping matches of the pattern in text.
  void find_all(std::string_view text, std::vector<Span>& out) const;
};
Result<Pattern> pattern_from_json(const Json& json);

// Typed field access for the loaders: a missing or mistyped field is a
// kCorruption naming the component and field.
Result<std::string> json_string(const Json& obj, std::string_view field, std::string_view component);
Result<bool> json_bool(const Json& obj, std::string_view field, std::string_view component, bool fallback);

}  // namespace flywheel::tokenizer
