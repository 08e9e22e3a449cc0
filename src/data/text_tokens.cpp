#include "data/text_tokens.h"

#include <algorithm>
#include <unordered_map>

namespace flywheel::data {
namespace {

size_t utf8_char_length(unsigned char c) {
  if (c >= 0xF0 && c <= 0xF7) return 4;
  if (c >= 0xE0) return 3;
  if (c >= 0xC0) return 2;
  return 1;
}

// Code points of a UTF-8 string (valid input assumed; token strings are).
std::vector<std::string_view> utf8_chars(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    const size_t n = std::min(utf8_char_length(static_cast<unsigned char>(s[i])), s.size() - i);
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

PlainTextEncoder::PlainTextEncoder(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {
  for (const AddedToken& t : tokenizer.added_tokens())
    if (t.special && !t.content.empty()) specials_.push_back(t.content);
}

std::vector<TokenId> PlainTextEncoder::encode(std::string_view text) const {
  std::vector<TokenId> out;
  encode_append(text, out);
  return out;
}

void PlainTextEncoder::encode_append(std::string_view text, std::vector<TokenId>& out) const {
  size_t start = 0;
  while (start < text.size()) {
    size_t hit = std::string_view::npos;
    for (const std::string& s : specials_) hit = std::min(hit, text.find(s, start));
    if (hit == std::string_view::npos) break;
    const size_t cut = hit + utf8_char_length(static_cast<unsigned char>(text[hit]));
    const auto ids = tokenizer_->encode(text.substr(start, cut - start));
    out.insert(out.end(), ids.begin(), ids.end());
    start = cut;
  }
  if (start < text.size()) {
    const auto ids = tokenizer_->encode(text.substr(start));
    out.insert(out.end(), ids.begin(), ids.end());
  }
}

TokenBytes::TokenBytes(const Tokenizer& tokenizer) {
  const size_t n = tokenizer.vocab_size();
  bytes_.resize(n);
  const bool byte_level = tokenizer.kind() == "byte_level";
  // Byte-level: learn the ByteLevel character of every byte from the
  // tokenizer itself (each single byte encodes to the one token spelled by
  // its character).
  std::unordered_map<std::string, char> char_to_byte;
  if (byte_level) {
    for (int b = 0; b < 256; ++b) {
      const std::string one(1, static_cast<char>(b));
      const auto ids = tokenizer.encode(one);
      if (ids.size() != 1) continue;
      const auto token = tokenizer.id_to_token(ids[0]);
      if (token && utf8_chars(*token).size() == 1) char_to_byte.emplace(*token, static_cast<char>(b));
    }
  }
  std::vector<bool> added(n, false);
  for (const AddedToken& t : tokenizer.added_tokens()) {
    if (t.id < 0 || static_cast<size_t>(t.id) >= n) continue;
    added[static_cast<size_t>(t.id)] = true;
    bytes_[static_cast<size_t>(t.id)] = t.special ? std::string() : t.content;
  }
  for (size_t id = 0; id < n; ++id) {
    if (added[id]) continue;
    const auto token = tokenizer.id_to_token(static_cast<TokenId>(id));
    if (!token) continue;
    std::string& out = bytes_[id];
    if (byte_level) {
      bool ok = true;
      for (std::string_view ch : utf8_chars(*token)) {
        auto it = char_to_byte.find(std::string(ch));
        if (it == char_to_byte.end()) {
          ok = false;
          break;
        }
        out += it->second;
      }
      if (!ok) {
        const TokenId one[] = {static_cast<TokenId>(id)};
        out = tokenizer.decode(one);
      }
      continue;
    }
    // SentencePiece style: <0xXX> byte pieces, ▁ for spaces.
    const std::string& t = *token;
    if (t.size() == 6 && t.starts_with("<0x") && t.back() == '>' && hex_digit(t[3]) >= 0 && hex_digit(t[4]) >= 0) {
      out = std::string(1, static_cast<char>(hex_digit(t[3]) * 16 + hex_digit(t[4])));
      continue;
    }
    size_t i = 0;
    while (i < t.size()) {
      if (t.compare(i, 3, "\xE2\x96\x81") == 0) {
        out += ' ';
        i += 3;
      } else {
        out += t[i++];
      }
    }
  }
}

const std::string& TokenBytes::bytes(TokenId id) const {
  if (id < 0 || static_cast<size_t>(id) >= bytes_.size()) return empty_;
  return bytes_[static_cast<size_t>(id)];
}

void TokenBytes::append(std::span<const TokenId> ids, std::string& out) const {
  for (TokenId id : ids) out += bytes(id);
}

}  // namespace flywheel::data
