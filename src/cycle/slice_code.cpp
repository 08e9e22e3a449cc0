#include "cycle/slice_code.h"

#include <algorithm>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace flywheel::cycle {

Result<IngestStats> ingest_slice_code(IngestOptions options, const Tokenizer& tokenizer) {
  options.overwrite = true;
  FW_ASSIGN_OR_RETURN(IngestStats stats, ingest_corpus(options, tokenizer));
  if (stats.valid_documents > 0 || stats.documents < 2) return stats;
  // Ingest's split key: the first 8 bytes of the text's SHA-256, big-endian.
  FW_ASSIGN_OR_RETURN(Dataset dataset, Dataset::open(options.out));
  std::vector<uint64_t> keys;
  for (const ShardEntry& shard : dataset.shards("train")) {
    FW_ASSIGN_OR_RETURN(std::vector<DocumentInfo> documents, dataset.read_documents(shard));
    for (const DocumentInfo& d : documents) keys.push_back(std::stoull(d.hash.substr(0, 16), nullptr, 16));
  }
  if (keys.size() < 2) return stats;
  std::partial_sort(keys.begin(), keys.begin() + 2, keys.end());
  // Halfway between the two smallest keys: exactly the first one is below.
  const long double two_to_64 = 18446744073709551616.0L;
  options.valid_fraction =
      static_cast<double>((static_cast<long double>(keys[0]) + static_cast<long double>(keys[1])) / 2 / two_to_64);
  return ingest_corpus(options, tokenizer);
}

}  // namespace flywheel::cycle
