#include "train/run_dir.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/atomic_file.h"

namespace flywheel::train {

namespace fs = std::filesystem;

fs::path RunDir::checkpoint_path(int64_t step) const {
  char name[32];
  std::snprintf(name, sizeof(name), "step-%08lld", static_cast<long long>(step));
  return root_ / "checkpoints" / name;
}

Result<std::optional<fs::path>> RunDir::latest() const {
  const fs::path pointer = root_ / "latest";
  std::error_code ec;
  if (!fs::exists(pointer, ec)) return std::optional<fs::path>();
  FW_ASSIGN_OR_RETURN(std::string name, read_file(pointer));
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  fs::path checkpoint = root_ / "checkpoints" / name;
  if (name.empty() || !fs::is_directory(checkpoint, ec))
    return Status::corruption(pointer.string() + " names '" + name + "', which is not a checkpoint directory");
  return std::optional<fs::path>(checkpoint);
}

Status RunDir::set_latest(const fs::path& checkpoint) const {
  return write_file_atomically(root_ / "latest", checkpoint.filename().string() + "\n");
}

Status RunDir::prune(int64_t keep) const {
  std::error_code ec;
  const fs::path dir = root_ / "checkpoints";
  if (!fs::is_directory(dir, ec)) return Status::OK();
  std::vector<fs::path> checkpoints;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_directory() && entry.path().filename().string().rfind("step-", 0) == 0)
      checkpoints.push_back(entry.path());
  std::sort(checkpoints.begin(), checkpoints.end());
  FW_ASSIGN_OR_RETURN(auto current, latest());
  const int64_t excess = static_cast<int64_t>(checkpoints.size()) - std::max<int64_t>(keep, 1);
  for (int64_t i = 0; i < excess; ++i) {
    if (current && checkpoints[i] == *current) continue;
    fs::remove_all(checkpoints[i], ec);
    if (ec) return Status::io_error("cannot remove old checkpoint " + checkpoints[i].string() + ": " + ec.message());
  }
  return Status::OK();
}

Status RunDir::truncate_metrics(int64_t step) const {
  std::error_code ec;
  if (!fs::exists(metrics_path(), ec)) return Status::OK();
  FW_ASSIGN_OR_RETURN(std::string text, read_file(metrics_path()));
  std::istringstream in(text);
  std::string line, kept;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("step") || j["step"].get<int64_t>() > step) continue;
    kept += line + "\n";
  }
  return write_file_atomically(metrics_path(), kept);
}

Status RunDir::append_metrics(const std::string& json_line) const {
  FILE* f = std::fopen(metrics_path().c_str(), "a");
  if (f == nullptr) return Status::from_errno("cannot open " + metrics_path().string(), errno);
  const bool ok = std::fputs((json_line + "\n").c_str(), f) >= 0;
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) return Status::from_errno("cannot append to " + metrics_path().string(), errno);
  return Status::OK();
}

}  // namespace flywheel::train
