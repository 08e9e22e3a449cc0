#include "data/minhash.h"

#include <algorithm>
#include <limits>
#include <unordered_set>

#include "data/rng.h"

namespace flywheel::data {
namespace {

bool is_word_byte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
bool is_space_byte(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// FNV-1a over the token's bytes, finished with a mixer.
uint64_t hash_bytes(std::string_view s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return mix64(h);
}

std::vector<uint64_t> shingle_hashes(std::string_view text, int shingle) {
  const std::vector<uint64_t> tokens = code_token_hashes(text);
  std::vector<uint64_t> out;
  if (tokens.empty()) return out;
  const size_t k = static_cast<size_t>(std::max(shingle, 1));
  const size_t count = tokens.size() >= k ? tokens.size() - k + 1 : 1;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    uint64_t h = tokens[i];
    for (size_t j = 1; j < k && i + j < tokens.size(); ++j) h = mix64(h ^ tokens[i + j]);
    out.push_back(h);
  }
  return out;
}

// The permutations' coefficients: fixed, so signatures are comparable across runs.
const std::vector<std::pair<uint64_t, uint64_t>>& coefficients(int permutations) {
  static thread_local std::vector<std::pair<uint64_t, uint64_t>> cache;
  if (static_cast<int>(cache.size()) != permutations) {
    cache.clear();
    Rng rng(0x4D696E4861736821ull);  // "MinHash!"
    for (int i = 0; i < permutations; ++i) {
      const uint64_t a = rng.next() | 1;
      const uint64_t b = rng.next();
      cache.emplace_back(a, b);
    }
  }
  return cache;
}

}  // namespace

std::vector<uint64_t> code_token_hashes(std::string_view text) {
  std::vector<uint64_t> out;
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (is_space_byte(c)) {
      ++i;
      continue;
    }
    size_t end = i + 1;
    if (is_word_byte(c))
      while (end < n && is_word_byte(static_cast<unsigned char>(text[end]))) ++end;
    out.push_back(hash_bytes(text.substr(i, end - i)));
    i = end;
  }
  return out;
}

MinHashSignature minhash_signature(std::string_view text, const NearDedupOptions& options) {
  const int p = std::max(options.permutations, 1);
  MinHashSignature sig(static_cast<size_t>(p), std::numeric_limits<uint32_t>::max());
  const auto& coef = coefficients(p);
  for (const uint64_t h : shingle_hashes(text, options.shingle)) {
    for (int i = 0; i < p; ++i) {
      const auto v = static_cast<uint32_t>((coef[i].first * h + coef[i].second) >> 32);
      sig[i] = std::min(sig[i], v);
    }
  }
  return sig;
}

double signature_similarity(const MinHashSignature& a, const MinHashSignature& b) {
  if (a.empty() || a.size() != b.size()) return 0.0;
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i] ? 1 : 0;
  return static_cast<double>(same) / static_cast<double>(a.size());
}

double shingle_jaccard(std::string_view a, std::string_view b, int shingle) {
  const auto ha = shingle_hashes(a, shingle), hb = shingle_hashes(b, shingle);
  std::unordered_set<uint64_t> sa(ha.begin(), ha.end()), sb(hb.begin(), hb.end());
  if (sa.empty() && sb.empty()) return 1.0;
  size_t common = 0;
  for (uint64_t h : sa) common += sb.count(h);
  return static_cast<double>(common) / static_cast<double>(sa.size() + sb.size() - common);
}

LshIndex::LshIndex(const NearDedupOptions& options) : options_(options) {
  const int p = std::max(options.permutations, 1);
  const int bands = std::clamp(options.bands, 1, p);
  rows_ = p / bands;
  bands_.resize(static_cast<size_t>(bands));
}

uint64_t LshIndex::band_key(const MinHashSignature& signature, int band) const {
  uint64_t h = static_cast<uint64_t>(band) + 1;
  for (int r = 0; r < rows_; ++r) h = mix64(h ^ signature[static_cast<size_t>(band * rows_ + r)]);
  return h;
}

std::optional<uint32_t> LshIndex::find(const MinHashSignature& signature) const {
  std::optional<uint32_t> best;  // earliest inserted position that passes
  for (int band = 0; band < static_cast<int>(bands_.size()); ++band) {
    auto it = bands_[static_cast<size_t>(band)].find(band_key(signature, band));
    if (it == bands_[static_cast<size_t>(band)].end()) continue;
    for (uint32_t position : it->second) {
      if (best && position >= *best) break;  // positions are in insertion order
      if (signature_similarity(signature, signatures_[position]) >= options_.threshold) {
        best = position;
        break;
      }
    }
  }
  if (!best) return std::nullopt;
  return ids_[*best];
}

void LshIndex::insert(uint32_t id, MinHashSignature signature) {
  const auto position = static_cast<uint32_t>(signatures_.size());
  for (int band = 0; band < static_cast<int>(bands_.size()); ++band)
    bands_[static_cast<size_t>(band)][band_key(signature, band)].push_back(position);
  signatures_.push_back(std::move(signature));
  ids_.push_back(id);
}

}  // namespace flywheel::data
