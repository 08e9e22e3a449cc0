#include "serve/swap_jobs.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "serve/ids.h"

namespace flywheel::serve {

SwapJobs::~SwapJobs() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

SwapJobs::Job SwapJobs::start(const SwapRequest& request) {
  Job job;
  job.id = new_id("swap-");
  job.state = "loading";
  job.deployment = request.deployment;
  job.model_dir = request.model;
  job.model_id = request.id;
  std::lock_guard lock(mutex_);
  jobs_[job.id] = job;
  order_.push_back(job.id);
  // Forget the oldest finished jobs beyond the bound.
  for (size_t i = 0; order_.size() > kKeptJobs && i < order_.size();) {
    if (jobs_[order_[i]].state != "loading") {
      jobs_.erase(order_[i]);
      order_.erase(order_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  threads_.emplace_back([this, id = job.id, request] { run(id, request); });
  return job;
}

void SwapJobs::run(std::string id, SwapRequest request) {
  spdlog::info("swap {}: loading {} for deployment '{}'", id, request.model, request.deployment);
  auto replaced = models_.swap(request.deployment, request.model, request.id);
  std::string model_id;
  if (replaced.ok()) {
    for (const auto& old : *replaced) engine_.forget_model(old.get());
    if (auto now = models_.resolve(request.deployment)) model_id = now->id;
    spdlog::info("swap {}: deployment '{}' now serves '{}'", id, request.deployment, model_id);
  } else {
    spdlog::error("swap {}: {}", id, replaced.status().to_string());
  }
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(id);
  if (it != jobs_.end()) {
    it->second.state = replaced.ok() ? "done" : "failed";
    if (replaced.ok())
      it->second.model_id = model_id;
    else
      it->second.error = replaced.status().message();
  }
  changed_.notify_all();
}

std::optional<SwapJobs::Job> SwapJobs::get(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::nullopt;
  return it->second;
}

SwapJobs::Job SwapJobs::wait(const std::string& id) const {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] {
    auto it = jobs_.find(id);
    return it == jobs_.end() || it->second.state != "loading";
  });
  auto it = jobs_.find(id);
  return it == jobs_.end() ? Job{id, "failed", "", "", "", "job forgotten"} : it->second;
}

}  // namespace flywheel::serve
