#include "tokenizer/added_vocabulary.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace flywheel::tokenizer {
namespace {

bool is_word_byte(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

bool is_space_byte(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

void TokenMatcher::add(std::string content, TokenId id, const AddedToken* token) {
  if (content.empty()) return;
  entries_.push_back({std::move(content), id, token});
  auto& bucket = by_first_byte_[static_cast<unsigned char>(entries_.back().content[0])];
  bucket.push_back(static_cast<uint32_t>(entries_.size() - 1));
  std::stable_sort(bucket.begin(), bucket.end(), [this](uint32_t a, uint32_t b) {
    return entries_[a].content.size() > entries_[b].content.size();
  });
}

void TokenMatcher::split(std::string_view text, std::vector<AddedSplit>& out) const {
  size_t plain_start = 0;  // start of the plain text not yet emitted
  size_t i = 0;
  while (i < text.size()) {
    const auto& bucket = by_first_byte_[static_cast<unsigned char>(text[i])];
    const Entry* hit = nullptr;
    for (uint32_t index : bucket) {
      const Entry& e = entries_[index];
      if (text.compare(i, e.content.size(), e.content) != 0) continue;
      if (e.token != nullptr && e.token->single_word) {
        size_t stop = i + e.content.size();
        bool left_ok = i == 0 || !is_word_byte(static_cast<unsigned char>(text[i - 1]));
        bool right_ok = stop == text.size() || !is_word_byte(static_cast<unsigned char>(text[stop]));
        if (!left_ok || !right_ok) continue;
      }
      hit = &e;
      break;
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    size_t start = i, stop = i + hit->content.size();
    if (hit->token != nullptr && hit->token->lstrip)
      while (start > plain_start && is_space_byte(static_cast<unsigned char>(text[start - 1]))) --start;
    if (hit->token != nullptr && hit->token->rstrip)
      while (stop < text.size() && is_space_byte(static_cast<unsigned char>(text[stop]))) ++stop;
    if (start > plain_start) out.push_back({{plain_start, start}, -1});
    out.push_back({{start, stop}, hit->id});
    plain_start = i = stop;
  }
  if (plain_start < text.size()) out.push_back({{plain_start, text.size()}, -1});
}

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer)
    : tokens_(std::move(tokens)) {
  for (size_t k = 0; k < tokens_.size(); ++k) {
    by_id_[tokens_[k].id] = k;
    by_content_[tokens_[k].content] = tokens_[k].id;
  }
  for (const AddedToken& t : tokens_) {
    if (!t.normalized) {
      raw_.add(t.content, t.id, &t);
      continue;
    }
    std::string content = t.content;
    if (normalizer != nullptr) normalizer->normalize(content);
    normalized_.add(std::move(content), t.id, &t);
  }
}

const AddedToken* AddedVocabulary::find(TokenId id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<TokenId> AddedVocabulary::find(std::string_view content) const {
  auto it = by_content_.find(std::string(content));
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

}  // namespace flywheel::tokenizer
