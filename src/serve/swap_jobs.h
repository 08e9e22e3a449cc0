// Hot swaps requested through POST /admin/swap: each loads its checkpoint on
// a background thread (ModelSet::swap), then tells the engine to drop the
// prompt cache of the models it replaced. Requests in flight finish on the
// model they started with (they hold its shared_ptr); new ones get the new
// model as soon as swap() returns. The admin route answers 202 with the job
// id at once, or 200 once loaded when the body says "wait": true.
//
// Thread-safety: all methods may be called from any thread; the destructor
// waits for running loads.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "serve/api_types.h"
#include "serve/engine.h"
#include "serve/model_set.h"

namespace flywheel::serve {

class SwapJobs {
 public:
  struct Job {
    std::string id;
    std::string state;  // "loading", "done", "failed"
    std::string deployment, model_dir, model_id;
    std::string error;  // when failed
  };

  SwapJobs(ModelSet& models, Engine& engine) : models_(models), engine_(engine) {}
  ~SwapJobs();

  // Starts loading; returns the job (state "loading").
  Job start(const SwapRequest& request);
  std::optional<Job> get(const std::string& id) const;
  // Blocks until the job is no longer loading.
  Job wait(const std::string& id) const;

  SwapJobs(const SwapJobs&) = delete;
  SwapJobs& operator=(const SwapJobs&) = delete;

 private:
  static constexpr size_t kKeptJobs = 64;  // finished jobs remembered for GET

  void run(std::string id, SwapRequest request);

  ModelSet& models_;
  Engine& engine_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::map<std::string, Job> jobs_;
  std::vector<std::string> order_;  // job ids, oldest first
  std::vector<std::thread> threads_;
};

}  // namespace flywheel::serve
