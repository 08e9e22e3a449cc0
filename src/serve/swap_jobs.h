// Hot swaps requested through POST /admin/swap: one at a time, each loads
// its checkpoint on a background thread (ModelSet::swap) with the server's
// load options, then tells the engine to drop the prompt cache of the models
// it replaced. Requests in flight finish on the model they started with
// (they hold its shared_ptr); new ones get the new model as soon as swap()
// returns. The admin route answers 202 with the job id at once, or 200 once
// loaded when the body says "wait": true.
//
// What may be loaded: a model registered in the registry of the server's
// database (by id), or a checkpoint directory under one of the allowed
// directories (after resolving symlinks and ".."). Anything else is refused
// before the file system is touched, and a load that fails reports only that
// it failed (the reason, with its paths, goes to the server's log): the
// route must not tell a caller which files exist.
//
// Thread-safety: all methods may be called from any thread; the destructor
// waits for the running load.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "model/model.h"
#include "serve/api_types.h"
#include "serve/engine.h"
#include "serve/model_set.h"

namespace flywheel::serve {

struct SwapPolicy {
  std::string db_url;                     // the registry's database ("" = no registry)
  std::vector<std::string> allowed_dirs;  // checkpoint directories may lie under these
  LoadOptions load;                       // the server's dtype and threads
};

class SwapJobs {
 public:
  struct Job {
    std::string id;
    std::string state;  // "loading", "done", "failed"
    std::string deployment, model, model_id;
    std::string error;  // when failed
  };

  SwapJobs(ModelSet& models, Engine& engine, SwapPolicy policy)
      : models_(models), engine_(engine), policy_(std::move(policy)) {}
  ~SwapJobs();

  // Starts loading; returns the job (state "loading"). not_found when the
  // model is neither registered nor under an allowed directory;
  // already_exists while another swap is loading.
  Result<Job> start(const SwapRequest& request);
  std::optional<Job> get(const std::string& id) const;
  // Blocks until the job is no longer loading.
  Job wait(const std::string& id) const;

  SwapJobs(const SwapJobs&) = delete;
  SwapJobs& operator=(const SwapJobs&) = delete;

 private:
  static constexpr size_t kKeptJobs = 64;  // finished jobs remembered for GET

  // The checkpoint directory and model id `request` may load.
  Result<std::pair<std::string, std::string>> resolve(const SwapRequest& request) const;
  void run(std::string id, std::string dir, std::string model_id, std::string deployment);

  ModelSet& models_;
  Engine& engine_;
  const SwapPolicy policy_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::map<std::string, Job> jobs_;
  std::vector<std::string> order_;  // job ids, oldest first
  std::string loading_;             // the job loading now, "" when none
  std::thread worker_;              // the last load's thread
};

}  // namespace flywheel::serve
