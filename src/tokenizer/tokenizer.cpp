// Tokenizer: the encode and decode pipelines, and the public API.
#include "tokenizer/tokenizer.h"

#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/hash.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace flywheel {

using tokenizer::AddedSplit;
using tokenizer::PieceList;

// Normalizer, pre-tokenizer and model over text that holds no raw added token.
void TokenizerImpl::encode_plain(std::string_view text, bool first, std::vector<TokenId>& out) const {
  std::string normalized(text);
  if (normalizer) normalizer->normalize(normalized);

  std::vector<AddedSplit> splits;
  if (added->normalized_matcher().empty()) {
    splits.push_back({{0, normalized.size()}, -1});
  } else {
    added->normalized_matcher().split(normalized, splits);
  }
  PieceList list;
  for (const AddedSplit& split : splits) {
    if (split.id >= 0) {
      out.push_back(split.id);
      continue;
    }
    list.text.assign(normalized, split.span.begin, split.span.end - split.span.begin);
    list.pieces.assign(1, {0, list.text.size()});
    list.first = first && split.span.begin == 0;
    if (pre_tokenizer) pre_tokenizer->pre_tokenize(list);
    for (const tokenizer::Span& piece : list.pieces)
      model->tokenize(std::string_view(list.text).substr(piece.begin, piece.end - piece.begin), byte_level, out);
  }
}

std::vector<TokenId> TokenizerImpl::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<TokenId> ids;
  ids.reserve(text.size() / 3 + 4);
  if (added->raw_matcher().empty()) {
    if (!text.empty()) encode_plain(text, true, ids);
  } else {
    std::vector<AddedSplit> splits;
    added->raw_matcher().split(text, splits);
    for (const AddedSplit& split : splits) {
      if (split.id >= 0) ids.push_back(split.id);
      else encode_plain(text.substr(split.span.begin, split.span.end - split.span.begin), split.span.begin == 0, ids);
    }
  }
  if (add_special_tokens && post_processor) ids = post_processor->process(std::move(ids));
  return ids;
}

std::string TokenizerImpl::decode(std::span<const TokenId> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (TokenId id : ids) {
    if (const AddedToken* t = added->find(id)) {
      if (!(skip_special_tokens && t->special)) tokens.push_back(t->content);
    } else if (const std::string* token = model->id_to_token(id)) {
      tokens.push_back(*token);
    }
  }
  std::string text;
  if (decoder) {
    decoder->decode_chain(tokens);
    for (const std::string& t : tokens) text += t;
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) text += ' ';
      text += tokens[i];
    }
  }
  if (!tokenizer::is_valid_utf8(text)) text = tokenizer::to_valid_utf8(text);
  return text;
}

const std::string& TokenizerImpl::content_hash() const {
  std::call_once(hash_once_, [this] { hash_ = sha256_hex(to_json()); });
  return hash_;
}

// ---- Tokenizer ----

Tokenizer::Tokenizer(std::shared_ptr<const TokenizerImpl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(const Tokenizer&) = default;
Tokenizer& Tokenizer::operator=(const Tokenizer&) = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Result<Tokenizer> Tokenizer::from_json(std::string_view json_text) {
  FW_ASSIGN_OR_RETURN(auto impl, load_tokenizer_json(json_text));
  return Tokenizer(std::move(impl));
}

Result<Tokenizer> Tokenizer::from_file(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text.ok()) return text.status();
  auto tokenizer = from_json(*text);
  if (!tokenizer.ok()) return tokenizer.status().with_context(path.string());
  return tokenizer;
}

std::string Tokenizer::to_json() const { return impl_->to_json(); }

Status Tokenizer::save(const std::filesystem::path& path) const { return write_file_atomically(path, to_json()); }

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return impl_->encode(text, add_special_tokens);
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool skip_special_tokens) const {
  return impl_->decode(ids, skip_special_tokens);
}

size_t Tokenizer::vocab_size() const {
  size_t size = impl_->model->id_space();
  for (const AddedToken& t : impl_->added->tokens()) size = std::max(size, static_cast<size_t>(t.id) + 1);
  return size;
}

std::optional<TokenId> Tokenizer::token_to_id(std::string_view token) const {
  if (auto id = impl_->added->find(token)) return id;
  return impl_->model->token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(TokenId id) const {
  if (const AddedToken* t = impl_->added->find(id)) return t->content;
  if (const std::string* token = impl_->model->id_to_token(id)) return *token;
  return std::nullopt;
}

const std::vector<AddedToken>& Tokenizer::added_tokens() const { return impl_->added->tokens(); }

bool Tokenizer::is_special(TokenId id) const {
  const AddedToken* t = impl_->added->find(id);
  return t != nullptr && t->special;
}

std::string_view Tokenizer::kind() const { return impl_->byte_level ? "byte_level" : "sentencepiece"; }

size_t Tokenizer::merge_count() const { return impl_->model->merge_count(); }

const std::string& Tokenizer::content_hash() const { return impl_->content_hash(); }

// ---- StreamDecoder ----

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : impl_(tokenizer.impl_), skip_special_tokens_(skip_special_tokens) {}

namespace {
bool ends_with_replacement(const std::string& s) {
  return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}
}  // namespace

std::string StreamDecoder::push(TokenId id) {
  if (prefix_.empty() && !ids_.empty()) {
    std::string new_prefix = impl_->decode(ids_, skip_special_tokens_);
    if (!ends_with_replacement(new_prefix)) {
      prefix_ = std::move(new_prefix);
      prefix_index_ = ids_.size();
    }
  }
  ids_.push_back(id);
  std::string text = impl_->decode(ids_, skip_special_tokens_);
  if (text.size() <= prefix_.size() || ends_with_replacement(text)) return {};
  // The window's decoding extends the previous one: emit the new part, then
  // slide the window to keep a little context for decoders like Strip.
  std::string new_text = text.compare(0, prefix_.size(), prefix_) == 0 ? text.substr(prefix_.size()) : text;
  size_t new_prefix_index = ids_.size() - prefix_index_;
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_index_));
  prefix_ = impl_->decode(ids_, skip_special_tokens_);
  prefix_index_ = new_prefix_index;
  return new_text;
}

std::string StreamDecoder::finish() {
  std::string text = impl_->decode(ids_, skip_special_tokens_);
  std::string rest = text.size() > prefix_.size() && text.compare(0, prefix_.size(), prefix_) == 0
                         ? text.substr(prefix_.size())
                         : std::string();
  ids_.clear();
  prefix_.clear();
  prefix_index_ = 0;
  return rest;
}

}  // namespace flywheel
