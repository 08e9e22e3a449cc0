// The models a server offers, by name, and which one `auto` means.
//
// A request's `model` field is looked up here: "auto" (or an empty field) is
// the serving deployment; any other name is a served checkpoint's id or a
// deployment name. Hot swap: swap() loads a checkpoint in the caller's thread
// (the admin route runs it on a background thread), then replaces the
// deployment's model atomically. Requests that already resolved a model keep
// their shared_ptr and finish on it.
//
// A deployment may hold several models with traffic weights (an A/B split):
// resolve() picks one by a stable hash of `routing_key` (tenant or session).
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "serve/engine.h"

namespace flywheel::serve {

struct WeightedModel {
  std::shared_ptr<ServedModel> model;
  double weight = 1.0;
};

class ModelSet {
 public:
  // Sets (or replaces) a deployment. The first deployment set becomes "auto"
  // unless one named "auto" is set.
  void set_deployment(const std::string& name, std::vector<WeightedModel> models);

  // nullptr when the name is neither a deployment nor a served model id.
  std::shared_ptr<ServedModel> resolve(const std::string& name, const std::string& routing_key = "") const;

  // Every distinct model currently served (for GET /v1/models), and the
  // deployment names.
  std::vector<std::shared_ptr<ServedModel>> models() const;
  std::vector<std::string> deployment_names() const;

  // Loads `dir` and makes it the only model of `deployment`. Returns the
  // previous models of that deployment (the caller may tell the engine to
  // forget their prompt caches).
  Result<std::vector<std::shared_ptr<ServedModel>>> swap(const std::string& deployment, const std::string& dir,
                                                         const std::string& id, const LoadOptions& options = {});

  // Increases on every change; lets watchers see that something changed.
  uint64_t generation() const;

 private:
  struct Deployment {
    std::string name;
    std::vector<WeightedModel> models;
  };
  mutable std::mutex mutex_;
  std::vector<Deployment> deployments_;
  uint64_t generation_ = 0;
};

}  // namespace flywheel::serve
