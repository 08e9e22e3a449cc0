// The files of a training run directory: checkpoints/step-N, the `latest`
// pointer (written only after its checkpoint is complete), pruning to the
// newest K, and metrics.jsonl (cut back to a resumed step).
// Thread-safety: rank 0's trainer thread only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "core/status.h"

namespace flywheel::train {

class RunDir {
 public:
  explicit RunDir(std::filesystem::path root) : root_(std::move(root)) {}

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path checkpoint_path(int64_t step) const;
  std::filesystem::path metrics_path() const { return root_ / "metrics.jsonl"; }

  // The checkpoint `latest` names, if any (and it exists).
  Result<std::optional<std::filesystem::path>> latest() const;
  // Points `latest` at a complete checkpoint (atomic write).
  Status set_latest(const std::filesystem::path& checkpoint) const;
  // Removes all but the newest `keep` checkpoints (never the latest one).
  Status prune(int64_t keep) const;
  // Drops metrics lines whose "step" is beyond `step` (after a resume).
  Status truncate_metrics(int64_t step) const;
  // Appends one JSON line to metrics.jsonl.
  Status append_metrics(const std::string& json_line) const;

 private:
  std::filesystem::path root_;
};

}  // namespace flywheel::train
