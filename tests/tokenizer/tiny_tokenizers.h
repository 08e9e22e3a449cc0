// Small hand-made tokenizer.json documents for unit tests: a byte-level BPE
// with a few merges, and a SentencePiece-style one with byte fallback.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/byte_level.h"

namespace flywheel::testing {

using OJson = nlohmann::ordered_json;

// Byte-level BPE: 256 byte symbols (ids 0..255) plus merges of byte-level strings.
inline OJson byte_level_tokenizer(const std::vector<std::pair<std::string, std::string>>& merges,
                                  OJson added_tokens = OJson::array()) {
  OJson vocab = OJson::object();
  const auto& symbols = tokenizer::byte_to_unicode();
  int next = 0;
  for (int b = 0; b < 256; ++b) vocab[symbols[b]] = next++;
  OJson merge_list = OJson::array();
  for (const auto& [a, b] : merges) {
    merge_list.push_back(OJson::array({a, b}));
    if (!vocab.contains(a + b)) vocab[a + b] = next++;
  }
  for (auto& t : added_tokens) {
    if (!t.contains("id")) t["id"] = next++;
    for (const char* flag : {"single_word", "lstrip", "rstrip", "normalized"})
      if (!t.contains(flag)) t[flag] = false;
    if (!t.contains("special")) t["special"] = true;
  }
  OJson byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  return OJson{
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added_tokens},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         OJson::array({{{"type", "Split"},
                        {"pattern", {{"Regex", R"( ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"}}},
                        {"behavior", "Isolated"},
                        {"invert", false}},
                       byte_level})}}},
      {"post_processor", byte_level},
      {"decoder", byte_level},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"vocab", vocab},
        {"merges", merge_list}}}};
}

// SentencePiece-style (Llama 2 layout): <unk> <s> </s>, 256 <0xXX> tokens,
// then the given pieces; Prepend/Replace normalizer and the Llama 2 decoder.
inline OJson sentencepiece_tokenizer(const std::vector<std::string>& pieces,
                                     const std::vector<std::pair<std::string, std::string>>& merges) {
  OJson vocab = OJson::object();
  vocab["<unk>"] = 0;
  vocab["<s>"] = 1;
  vocab["</s>"] = 2;
  int next = 3;
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    vocab[buf] = next++;
  }
  for (const auto& p : pieces)
    if (!vocab.contains(p)) vocab[p] = next++;
  OJson merge_list = OJson::array();
  for (const auto& [a, b] : merges) merge_list.push_back(a + " " + b);
  auto special = [](int id, const char* content) {
    return OJson{{"id", id},          {"content", content}, {"single_word", false}, {"lstrip", false},
                 {"rstrip", false}, {"normalized", false}, {"special", true}};
  };
  return OJson{
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", OJson::array({special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")})},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers", OJson::array({{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
                                      {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}})}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", OJson::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                 {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
        {"pair", OJson::array()},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders", OJson::array({{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                                   {{"type", "ByteFallback"}},
                                   {{"type", "Fuse"}},
                                   {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", "<unk>"},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"vocab", vocab},
        {"merges", merge_list}}}};
}

}  // namespace flywheel::testing
