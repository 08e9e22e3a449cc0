#include "serve/registry_watcher.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "feedback/sql_connection.h"
#include "registry/registry.h"

namespace flywheel::serve {

namespace fs = std::filesystem;

struct RegistryWatcher::Impl {
  ModelSet& models;
  Engine& engine;
  RegistryWatcherOptions options;
  std::unique_ptr<registry::Registry> registry;
  std::atomic<int64_t> applied{-1};
  std::mutex mutex;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::thread thread;

  Impl(ModelSet& m, Engine& e, RegistryWatcherOptions o) : models(m), engine(e), options(std::move(o)) {}

  Status apply(int64_t version);
  void poll();
};

RegistryWatcher::RegistryWatcher(ModelSet& models, Engine& engine, RegistryWatcherOptions options)
    : impl_(std::make_unique<Impl>(models, engine, std::move(options))) {}

RegistryWatcher::~RegistryWatcher() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->stop_cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Status RegistryWatcher::Impl::apply(int64_t version) {
  FW_ASSIGN_OR_RETURN(auto names, registry->deployment_names());
  // Models already loaded are reused by id: a promotion loads only the newcomer.
  std::map<std::string, std::shared_ptr<ServedModel>> loaded;
  for (auto& m : models.models()) loaded[m->id] = m;
  std::vector<std::pair<std::string, std::vector<WeightedModel>>> next;
  for (const auto& name : names) {
    FW_ASSIGN_OR_RETURN(auto entries, registry->deployment(name));
    std::vector<WeightedModel> weighted;
    for (const auto& e : entries) {
      auto it = loaded.find(e.model_id);
      if (it == loaded.end()) {
        FW_ASSIGN_OR_RETURN(registry::ModelRecord record, registry->get(e.model_id));
        spdlog::info("registry: loading {} from {}", record.id, record.path);
        auto served = load_served_model(record.path, record.id, options.load);
        if (!served.ok()) return served.status().with_context("registry model " + record.id);
        it = loaded.emplace(record.id, *served).first;
      }
      weighted.push_back({it->second, e.weight});
    }
    next.emplace_back(name, std::move(weighted));
  }
  std::set<const ServedModel*> keep;
  for (auto& [name, weighted] : next) {
    for (auto& w : weighted) keep.insert(w.model.get());
    models.set_deployment(name, weighted);
  }
  for (auto& [id, m] : loaded)
    if (!keep.count(m.get())) engine.forget_model(m.get());
  applied = version;
  spdlog::info("registry: serving version {} ({} deployments)", version, next.size());
  return Status::OK();
}

Status RegistryWatcher::sync() {
  FW_ASSIGN_OR_RETURN(int64_t version, impl_->registry->version());
  return impl_->apply(version);
}

Status RegistryWatcher::start() {
  FW_ASSIGN_OR_RETURN(impl_->registry, registry::Registry::open(impl_->options.db_url));
  FW_ASSIGN_OR_RETURN(auto names, impl_->registry->deployment_names());
  if (names.empty())
    return Status::not_found("the registry in " + impl_->options.db_url +
                             " has no deployment (flywheel models promote ID)");
  FW_RETURN_IF_ERROR(sync());
  impl_->thread = std::thread([impl = impl_.get()] { impl->poll(); });
  return Status::OK();
}

void RegistryWatcher::Impl::poll() {
  std::unique_lock lock(mutex);
  while (!stop_cv.wait_for(lock, options.poll_interval, [&] { return stopping; })) {
    lock.unlock();
    auto version = registry->version();
    if (!version.ok()) {
      spdlog::warn("registry: cannot read the version: {}", version.status().to_string());
    } else if (*version != applied) {
      Status s = apply(*version);
      if (!s.ok())
        spdlog::error("registry: version {} not applied, still serving the previous one: {}", *version, s.to_string());
    }
    lock.lock();
  }
}

int64_t RegistryWatcher::applied_version() const { return impl_->applied; }

Result<std::pair<std::string, std::string>> resolve_model_argument(const std::string& model,
                                                                   const std::string& db_url) {
  std::error_code ec;
  if (fs::is_directory(model, ec)) return std::pair{model, std::string()};
  if (!registry::Registry::may_exist(db_url))
    return Status::not_found("--model '" + model + "' is neither a checkpoint directory nor in a registry (no --db)");
  FW_ASSIGN_OR_RETURN(auto reg, registry::Registry::open(db_url));
  auto record = reg->get(model);
  if (record.ok()) return std::pair{record->path, record->id};
  FW_ASSIGN_OR_RETURN(auto entries, reg->deployment(model));
  if (entries.empty())
    return Status::not_found("--model '" + model + "' is neither a checkpoint directory nor a model or deployment in " +
                             db_url + " (flywheel models list)");
  FW_ASSIGN_OR_RETURN(record, reg->get(entries.front().model_id));
  return std::pair{record->path, record->id};
}

}  // namespace flywheel::serve
