// The model registry: every checkpoint the flywheel made or was given, with
// its lineage (parent, datasets, recipe, scores), and the deployments that
// say which model serves. `auto` is the deployment editors get; it may hold
// several models with traffic weights (an A/B split).
//
// Tables live in the feedback store's database (SQLite file or PostgreSQL):
// models, deployments, deployment_history. Every change is one transaction,
// so a process killed at any point leaves the registry either before or
// after the change, never half promoted. `flywheel serve` polls version()
// and hot-swaps when a deployment changes.
//
// Thread-safety: a Registry may be used from several threads.
// Errors: Status values (kNotFound for unknown ids, kFailedPrecondition-like
// invalid_argument for promoting a missing checkpoint directory).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace flywheel::registry {

enum class ModelState { kCandidate, kServing, kRetired, kRefused };
std::string_view model_state_name(ModelState state);

struct ModelRecord {
  std::string id;      // e.g. "default-3f2a9c1b" (name + hash of the weights file's path and time)
  std::string path;    // checkpoint directory (absolute)
  std::string parent;  // parent model id, "" for a root
  int64_t created_ms = 0;
  std::string lineage_json = "{}";  // flywheel.json of the checkpoint (datasets, recipe, git revision)
  std::string scores_json = "{}";   // judge results, e.g. {"acceptance": 0.31, "interval": [0.28, 0.34]}
  ModelState state = ModelState::kCandidate;
  std::string note;  // why it was refused or retired
};

struct DeploymentEntry {
  std::string model_id;
  double weight = 1.0;
};

struct HistoryEntry {
  int64_t version = 0;
  std::string deployment;
  std::vector<DeploymentEntry> models;
  std::string reason;
  int64_t at_ms = 0;
};

class Registry {
 public:
  // `db_url` as for the feedback store: a SQLite path or postgresql://...
  static Result<std::unique_ptr<Registry>> open(const std::string& db_url);
  // Whether `db_url` can hold a registry without creating one: a PostgreSQL
  // URL, or a SQLite file that exists ("" never).
  static bool may_exist(const std::string& db_url);
  ~Registry();

  // Adds a checkpoint directory (it must hold config.json and
  // model.safetensors). `id` empty: derived from the directory name.
  // Registering the same path twice returns the existing record.
  Result<ModelRecord> add(const std::string& checkpoint_dir, const std::string& parent = "",
                          const std::string& id = "");
  Result<ModelRecord> get(const std::string& id);
  Result<std::vector<ModelRecord>> list();
  Status set_scores(const std::string& id, const std::string& scores_json);
  Status refuse(const std::string& id, const std::string& reason);
  // A judged candidate's decision in one transaction: its scores, then its
  // promotion to `deployment` (as promote()) or its refusal with `reason`.
  // A process killed around it leaves all of it done or none.
  Status decide(const std::string& id, const std::string& scores_json, bool promote, const std::string& reason,
                const std::string& deployment = "auto");

  // Removes a model that never served (a candidate or a refused one, in no
  // deployment's history, no model's parent), so that its directory can be
  // registered again with new weights. invalid_argument when it served or
  // has children (rollback and lineage refer to it); kNotFound when unknown.
  Status forget(const std::string& id);

  // Makes `id` the only model of `deployment` (state serving; the models it
  // replaces become retired unless they still serve elsewhere). One transaction.
  Status promote(const std::string& id, const std::string& deployment = "auto", const std::string& reason = "");
  // Several models with weights (an A/B split) under one deployment.
  Status set_deployment(const std::string& deployment, const std::vector<DeploymentEntry>& models,
                        const std::string& reason = "");
  // Back to the deployment's previous models (from the history).
  Status rollback(const std::string& deployment = "auto", const std::string& reason = "");

  Result<std::vector<DeploymentEntry>> deployment(const std::string& name);
  Result<std::vector<std::string>> deployment_names();
  Result<std::vector<HistoryEntry>> history(const std::string& deployment, int64_t limit = 20);
  // Increases with every deployment change (the latest history version).
  Result<int64_t> version();

 private:
  struct Impl;
  explicit Registry(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flywheel::registry
