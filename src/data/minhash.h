// Near-duplicate detection for the ingest pipeline: MinHash signatures of
// code-token shingles and an LSH index over them (Broder 1997; Leskovec,
// Rajaraman, Ullman, "Mining of Massive Datasets", ch. 3). Private to the
// data module; the parameters are NearDedupOptions (ingest.h).
//
// Code tokens: maximal runs of letters, digits, '_' and non-ASCII bytes, and
// every other non-space byte on its own; whitespace separates and is
// dropped, so re-indented or re-wrapped copies still match. Shingles are
// `shingle` consecutive tokens (a text with fewer tokens is one shingle).
// Permutation i is h -> (a_i * h + b_i) >> 32 over a 64-bit shingle hash, a_i odd.
//
// Thread-safety: minhash_signature is pure; a LshIndex belongs to one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "data/ingest.h"

namespace flywheel::data {

using MinHashSignature = std::vector<uint32_t>;

// Hashes of the code tokens of `text`, in order.
std::vector<uint64_t> code_token_hashes(std::string_view text);

// options.permutations values; empty text gives all 0xFFFFFFFF.
MinHashSignature minhash_signature(std::string_view text, const NearDedupOptions& options);

// Share of positions where the signatures agree: the MinHash estimate of
// the Jaccard similarity.
double signature_similarity(const MinHashSignature& a, const MinHashSignature& b);

// The exact Jaccard similarity of the two texts' shingle sets (for tests).
double shingle_jaccard(std::string_view a, std::string_view b, int shingle);

class LshIndex {
 public:
  explicit LshIndex(const NearDedupOptions& options);
  // The id of an inserted signature at least options.threshold similar to
  // `signature` (the earliest inserted when several are), if any.
  std::optional<uint32_t> find(const MinHashSignature& signature) const;
  void insert(uint32_t id, MinHashSignature signature);
  size_t size() const { return signatures_.size(); }

 private:
  uint64_t band_key(const MinHashSignature& signature, int band) const;

  NearDedupOptions options_;
  int rows_ = 1;
  std::vector<std::unordered_map<uint64_t, std::vector<uint32_t>>> bands_;  // band key -> positions
  std::vector<MinHashSignature> signatures_;
  std::vector<uint32_t> ids_;
};

}  // namespace flywheel::data
