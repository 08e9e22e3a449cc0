// Makes a running server follow the registry: a background thread polls the
// registry's version, and when a deployment changes (promote, rollback, A/B
// weights) it loads the models it does not hold yet, then swaps them into the
// ModelSet atomically. Requests in flight finish on the model they started
// on; the engine forgets the prompt caches of models that no longer serve.
// A model that fails to load leaves the deployment as it was (logged, and
// retried at the next change).
//
// Thread-safety: start/stop from one thread; the watcher thread owns loading.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/status.h"
#include "model/model.h"
#include "serve/engine.h"
#include "serve/model_set.h"

namespace flywheel::serve {

struct RegistryWatcherOptions {
  std::string db_url;
  std::chrono::milliseconds poll_interval{1000};
  LoadOptions load;
};

class RegistryWatcher {
 public:
  RegistryWatcher(ModelSet& models, Engine& engine, RegistryWatcherOptions options);
  ~RegistryWatcher();  // stops the thread

  // Applies the registry's deployments once (in the caller's thread), then
  // starts polling. Fails when the registry cannot be opened or holds no
  // deployment to serve.
  Status start();
  // Applies the current deployments now (tests; the poller calls it on change).
  Status sync();
  int64_t applied_version() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Resolves `flywheel serve --model X`: a checkpoint directory, or else a
// registry model id or deployment name in `db_url`. Returns the directory and
// the id to serve it under.
Result<std::pair<std::string, std::string>> resolve_model_argument(const std::string& model, const std::string& db_url);

}  // namespace flywheel::serve
