#include "cycle/judge_key.h"

#include <nlohmann/json.hpp>

#include "core/hash.h"
#include "eval/replay.h"

namespace flywheel::cycle {

namespace fs = std::filesystem;

Result<std::string> weights_hash(const fs::path& model_dir) {
  std::string parts;
  for (const char* name : {"model.safetensors", "config.json", "tokenizer.json"}) {
    std::string hash = "absent";
    if (fs::exists(model_dir / name) || std::string_view(name) == "model.safetensors") {
      FW_ASSIGN_OR_RETURN(hash, sha256_file(model_dir / name));
    }
    parts += std::string(name) + "=" + hash + "\n";
  }
  return sha256_hex(parts);
}

std::string judge_key(const std::string& weights_hash, const JudgeSettings& s) {
  const eval::ReplayOptions replay;
  const eval::GenerationOptions generation;
  const nlohmann::json key = {{"weights", weights_hash},
                              {"range", s.range},
                              {"set", s.set},
                              {"hunks", s.hunks},
                              {"seed", s.seed},
                              {"min_token_prob", s.min_token_prob},
                              {"min_show_prob", s.min_show_prob},
                              {"max_tokens", generation.max_tokens},
                              {"temperature", generation.temperature},
                              {"max_hunk_lines", replay.max_hunk_lines},
                              {"max_file_bytes", replay.max_file_bytes},
                              {"resamples", replay.bootstrap_resamples},
                              {"rules", kJudgeRules}};
  return sha256_hex(key.dump()).substr(0, 24);
}

}  // namespace flywheel::cycle
