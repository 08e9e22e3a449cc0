#include "data/fim.h"

#include <algorithm>

#include "data/rng.h"
#include "data/text_tokens.h"

namespace flywheel {

struct FimTransform::Impl {
  Impl(const Tokenizer& t, FimTokens f) : tokenizer(&t), tokens(f), encoder(t), bytes(t) {}
  const Tokenizer* tokenizer;
  FimTokens tokens;
  data::PlainTextEncoder encoder;
  data::TokenBytes bytes;
};

Result<FimTokens> FimTokens::from_tokenizer(const Tokenizer& tokenizer) {
  FimTokens t;
  std::string missing;
  auto find = [&](std::string_view name, TokenId& id) {
    auto found = tokenizer.token_to_id(name);
    if (found) {
      id = *found;
    } else {
      missing += (missing.empty() ? "" : ", ") + std::string(name);
    }
  };
  find("<|fim_prefix|>", t.prefix);
  find("<|fim_suffix|>", t.suffix);
  find("<|fim_middle|>", t.middle);
  if (auto pad = tokenizer.token_to_id("<|fim_pad|>")) {
    t.pad = *pad;
  } else {
    find("<|endoftext|>", t.pad);
  }
  if (!missing.empty())
    return Status::invalid_argument("fill-in-the-middle needs the special tokens " + missing +
                                    ", which this tokenizer does not have; train one with `flywheel tokenizer train` "
                                    "(it reserves them) or set the FIM rate to 0");
  return t;
}

Result<FimTransform> FimTransform::create(const Tokenizer& tokenizer) {
  FW_ASSIGN_OR_RETURN(FimTokens tokens, FimTokens::from_tokenizer(tokenizer));
  FimTransform t;
  t.impl_ = std::make_shared<const Impl>(tokenizer, tokens);
  return t;
}

const FimTokens& FimTransform::tokens() const { return impl_->tokens; }

std::string FimTransform::bytes(std::span<const TokenId> ids) const {
  std::string out;
  impl_->bytes.append(ids, out);
  return out;
}

std::vector<TokenId> FimTransform::encode_text(std::string_view text) const { return impl_->encoder.encode(text); }

std::vector<TokenId> FimTransform::layout(std::string_view prefix, std::string_view middle, std::string_view suffix,
                                          FimLayout layout) const {
  const FimTokens& t = impl_->tokens;
  std::vector<TokenId> out;
  if (layout == FimLayout::kPsm) {
    out.push_back(t.prefix);
    impl_->encoder.encode_append(prefix, out);
    out.push_back(t.suffix);
    impl_->encoder.encode_append(suffix, out);
    out.push_back(t.middle);
    impl_->encoder.encode_append(middle, out);
  } else {
    out.push_back(t.prefix);
    out.push_back(t.suffix);
    impl_->encoder.encode_append(suffix, out);
    out.push_back(t.middle);
    impl_->encoder.encode_append(prefix, out);
    impl_->encoder.encode_append(middle, out);
  }
  return out;
}

FimChoice FimTransform::apply(std::span<const TokenId> piece, uint64_t seed, double fim_rate, double spm_rate,
                              std::vector<TokenId>& out, std::vector<uint8_t>& is_pad) const {
  FimChoice choice;
  auto keep = [&] {
    out.insert(out.end(), piece.begin(), piece.end());
    is_pad.insert(is_pad.end(), piece.size(), 0);
  };
  data::Rng rng(seed);
  if (piece.empty() || !rng.bernoulli(fim_rate)) {
    keep();
    return choice;
  }
  const std::string text = bytes(piece);
  // Character boundaries: 0, every byte that does not continue a UTF-8 sequence, the end.
  std::vector<size_t> boundaries;
  boundaries.reserve(text.size() + 1);
  for (size_t i = 0; i < text.size(); ++i)
    if (i == 0 || (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) boundaries.push_back(i);
  boundaries.push_back(text.size());
  size_t a = boundaries[rng.below(boundaries.size())];
  size_t b = boundaries[rng.below(boundaries.size())];
  if (a > b) std::swap(a, b);
  const bool spm = rng.bernoulli(spm_rate);

  const data::PlainTextEncoder& enc = impl_->encoder;
  std::vector<TokenId> p = enc.encode(std::string_view(text).substr(0, a));
  std::vector<TokenId> m = enc.encode(std::string_view(text).substr(a, b - a));
  std::vector<TokenId> s = enc.encode(std::string_view(text).substr(b));
  const size_t new_length = p.size() + m.size() + s.size() + 3;
  size_t pads = 0;
  if (new_length > piece.size()) {
    const size_t excess = new_length - piece.size();
    if (s.size() <= excess) {  // no room for the markers in this piece
      keep();
      return choice;
    }
    s.resize(s.size() - excess);
    choice.truncated_tokens = excess;
  } else {
    pads = piece.size() - new_length;
  }
  const FimTokens& t = impl_->tokens;
  auto put = [&](const std::vector<TokenId>& ids) {
    out.insert(out.end(), ids.begin(), ids.end());
    is_pad.insert(is_pad.end(), ids.size(), 0);
  };
  auto put_one = [&](TokenId id, uint8_t pad) {
    out.push_back(id);
    is_pad.push_back(pad);
  };
  put_one(t.prefix, 0);
  if (!spm) put(p);
  put_one(t.suffix, 0);
  put(s);
  for (size_t i = 0; i < pads; ++i) put_one(t.pad, 1);
  put_one(t.middle, 0);
  if (spm) put(p);
  put(m);

  choice.applied = true;
  choice.layout = spm ? FimLayout::kSpm : FimLayout::kPsm;
  choice.prefix_bytes = a;
  choice.middle_end = b;
  choice.pad_tokens = pads;
  return choice;
}

}  // namespace flywheel
