#include "learn/feedback_rows.h"

#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/jsonl.h"

namespace flywheel::learn {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Every line's object of `file` (core/jsonl.h), with errors naming the file.
Status for_each_object(const fs::path& file, std::string_view expected, const std::function<bool(const json&)>& row) {
  FW_ASSIGN_OR_RETURN(std::string text, read_file(file));
  return for_each_jsonl_object(text, file.string(), expected, row);
}

bool string_field(const json& v, const char* name, std::string* out) {
  auto it = v.find(name);
  if (it == v.end() || !it->is_string()) return false;
  *out = it->get<std::string>();
  return true;
}

}  // namespace

Result<fs::path> resolve_rows_file(const fs::path& path, std::string_view file_name) {
  std::error_code ec;
  if (path.empty())
    return Status::invalid_argument("--data is required (a JSONL file or a directory with " + std::string(file_name) +
                                    ")");
  const fs::path file = fs::is_directory(path, ec) ? path / file_name : path;
  if (!fs::is_regular_file(file, ec)) return Status::not_found("no data file " + file.string());
  return file;
}

Result<std::vector<PreferenceRow>> read_preference_rows(const fs::path& file) {
  std::vector<PreferenceRow> rows;
  FW_RETURN_IF_ERROR(
      for_each_object(file, R"({"prompt": string, "chosen": string, "rejected": string})", [&](const json& v) {
        PreferenceRow r;
        if (!string_field(v, "prompt", &r.prompt) || !string_field(v, "chosen", &r.chosen) ||
            !string_field(v, "rejected", &r.rejected))
          return false;
        rows.push_back(std::move(r));
        return true;
      }));
  return rows;
}

Result<std::vector<UnpairedRow>> read_unpaired_rows(const fs::path& file) {
  std::vector<UnpairedRow> rows;
  FW_RETURN_IF_ERROR(
      for_each_object(file, R"({"prompt": string, "completion": string, "label": bool})", [&](const json& v) {
        UnpairedRow r;
        auto label = v.find("label");
        if (!string_field(v, "prompt", &r.prompt) || !string_field(v, "completion", &r.completion) ||
            label == v.end() || !label->is_boolean())
          return false;
        r.desirable = label->get<bool>();
        rows.push_back(std::move(r));
        return true;
      }));
  return rows;
}

Result<std::vector<RewardRow>> read_reward_rows(const fs::path& file) {
  std::vector<RewardRow> rows;
  FW_RETURN_IF_ERROR(
      for_each_object(file, R"({"prompt": string, "completion": string, "reward": finite number, "group": string})",
                      [&](const json& v) {
                        RewardRow r;
                        auto reward = v.find("reward");
                        if (!string_field(v, "prompt", &r.prompt) || !string_field(v, "completion", &r.completion) ||
                            !string_field(v, "group", &r.group) || reward == v.end() || !reward->is_number())
                          return false;
                        r.reward = reward->get<double>();
                        if (!std::isfinite(r.reward)) return false;
                        rows.push_back(std::move(r));
                        return true;
                      }));
  return rows;
}

Result<std::vector<PromptRow>> read_prompt_rows(const fs::path& file) {
  std::vector<PromptRow> rows;
  FW_RETURN_IF_ERROR(for_each_object(file, R"({"prompt": string[, "completion": string]})", [&](const json& v) {
    PromptRow r;
    if (!string_field(v, "prompt", &r.prompt)) return false;
    auto completion = v.find("completion");
    if (completion != v.end()) {
      if (!completion->is_string()) return false;
      r.completion = completion->get<std::string>();
    }
    rows.push_back(std::move(r));
    return true;
  }));
  return rows;
}

Status require_both_labels(const fs::path& file, const std::vector<UnpairedRow>& rows, std::string_view objective) {
  size_t desirable = 0;
  for (const UnpairedRow& r : rows) desirable += r.desirable ? 1 : 0;
  if (desirable > 0 && desirable < rows.size()) return Status::OK();
  return Status::invalid_argument(file.string() + " has " + std::to_string(desirable) + " desirable and " +
                                  std::to_string(rows.size() - desirable) + " undesirable rows; " +
                                  std::string(objective) +
                                  " needs both (all-accepted data: use --mode sft on the accepted completions; "
                                  "all-rejected data: collect accepted suggestions first)");
}

}  // namespace flywheel::learn
