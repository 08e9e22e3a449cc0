#include "serve/swap_jobs.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "registry/registry.h"
#include "serve/ids.h"

namespace flywheel::serve {
namespace fs = std::filesystem;

namespace {

Status not_swappable(const std::string& model) {
  return Status::not_found("model: '" + model +
                           "' is neither a registered model (flywheel models list) nor a checkpoint under the "
                           "server's --swap-dir");
}

Status busy(const std::string& loading) {
  return Status(
      StatusCode::kAlreadyExists,
      "swap job '" + loading + "' is still loading; one swap runs at a time (GET /admin/swap/" + loading + ")");
}

// `path` lies under `dir` (both canonical, so symlinks and ".." cannot leave it).
bool is_under(const fs::path& path, const fs::path& dir) {
  auto [d, p] = std::mismatch(dir.begin(), dir.end(), path.begin(), path.end());
  return d == dir.end();
}

}  // namespace

SwapJobs::~SwapJobs() {
  if (worker_.joinable()) worker_.join();
}

Result<std::pair<std::string, std::string>> SwapJobs::resolve(const SwapRequest& request) const {
  std::error_code ec;
  if (registry::Registry::may_exist(policy_.db_url) && !request.model.empty() &&
      request.model.find('/') == std::string::npos) {
    auto registry = registry::Registry::open(policy_.db_url);
    if (!registry.ok()) {
      spdlog::error("swap: cannot open the registry: {}", registry.status().to_string());
      return Status(StatusCode::kUnavailable, "the model registry cannot be read now (the server's log says why)");
    }
    auto record = (*registry)->get(request.model);
    if (record.ok()) return std::pair{record->path, request.id.empty() ? record->id : request.id};
    if (record.status().code() != StatusCode::kNotFound) {
      spdlog::error("swap: registry lookup of '{}': {}", request.model, record.status().to_string());
      return Status(StatusCode::kUnavailable, "the model registry cannot be read now (the server's log says why)");
    }
  }
  const fs::path wanted = fs::path(request.model);
  if (wanted.is_absolute()) {
    // Canonical paths of an existing directory; a path that does not resolve
    // under an allowed directory gets the same answer as one that does not exist.
    const fs::path real = fs::weakly_canonical(wanted, ec);
    if (!ec) {
      for (const std::string& allowed : policy_.allowed_dirs) {
        const fs::path dir = fs::weakly_canonical(allowed, ec);
        if (!ec && is_under(real, dir) && real != dir) return std::pair{real.string(), request.id};
      }
    }
  }
  return not_swappable(request.model);
}

Result<SwapJobs::Job> SwapJobs::start(const SwapRequest& request) {
  {
    std::lock_guard lock(mutex_);
    if (!loading_.empty()) return busy(loading_);
  }
  FW_ASSIGN_OR_RETURN(auto target, resolve(request));
  Job job;
  job.id = new_id("swap-");
  job.state = "loading";
  job.deployment = request.deployment;
  job.model = request.model;
  job.model_id = target.second;
  std::lock_guard lock(mutex_);
  if (!loading_.empty()) return busy(loading_);  // another request won the race while this one resolved
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
  loading_ = job.id;
  // The previous load has finished (loading_ was empty): its thread is ending.
  if (worker_.joinable()) worker_.join();
  worker_ = std::thread([this, id = job.id, dir = target.first, model_id = target.second,
                         deployment = request.deployment] { run(id, dir, model_id, deployment); });
  return job;
}

void SwapJobs::run(std::string id, std::string dir, std::string model_id, std::string deployment) {
  spdlog::info("swap {}: loading {} for deployment '{}'", id, dir, deployment);
  auto replaced = models_.swap(deployment, dir, model_id, policy_.load);
  std::string served_id;
  if (replaced.ok()) {
    for (const auto& old : *replaced) engine_.forget_model(old.get());
    if (auto now = models_.resolve(deployment)) served_id = now->id;
    spdlog::info("swap {}: deployment '{}' now serves '{}'", id, deployment, served_id);
  } else {
    spdlog::error("swap {}: {}", id, replaced.status().to_string());
  }
  std::lock_guard lock(mutex_);
  loading_.clear();
  auto it = jobs_.find(id);
  if (it != jobs_.end()) {
    it->second.state = replaced.ok() ? "done" : "failed";
    if (replaced.ok())
      it->second.model_id = served_id;
    else
      it->second.error = "the checkpoint could not be loaded (the server's log says why)";
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
