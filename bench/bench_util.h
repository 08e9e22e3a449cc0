// Helpers shared by the benchmark binaries.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "tokenizer/byte_level.h"

namespace flywheel::bench {

// The benches use random token ids; a model only needs a tokenizer whose
// vocabulary fits: the 256 byte symbols of a byte-level BPE, as tokenizer.json text.
inline std::string byte_tokenizer_json() {
  using Json = nlohmann::ordered_json;
  Json vocab = Json::object();
  const auto& symbols = flywheel::tokenizer::byte_to_unicode();
  for (int b = 0; b < 256; ++b) vocab[symbols[b]] = b;
  Json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", true}};
  return Json{{"version", "1.0"},
              {"truncation", nullptr},
              {"padding", nullptr},
              {"added_tokens", Json::array()},
              {"normalizer", nullptr},
              {"pre_tokenizer", byte_level},
              {"post_processor", byte_level},
              {"decoder", byte_level},
              {"model",
               {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"vocab", vocab},
                {"merges", Json::array()}}}}
      .dump();
}

}  // namespace flywheel::bench
