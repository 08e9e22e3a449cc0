#include "serve/model_set.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/hash.h"

namespace flywheel::serve {

Result<std::shared_ptr<ServedModel>> load_served_model(const std::string& dir, const std::string& id,
                                                       const LoadOptions& options) {
  FW_ASSIGN_OR_RETURN(Model model, Model::load(dir, options));
  auto served = std::make_shared<ServedModel>();
  served->model = std::make_shared<Model>(std::move(model));
  FW_ASSIGN_OR_RETURN(served->format, detect_prompt_format(served->tokenizer()));
  served->context_length = served->model->config().max_position_embeddings;
  served->path = dir;
  served->id = id.empty() ? std::filesystem::path(dir).lexically_normal().filename().string() : id;
  if (served->id.empty()) served->id = std::filesystem::path(dir).lexically_normal().parent_path().filename().string();
  return served;
}

void ModelSet::set_deployment(const std::string& name, std::vector<WeightedModel> models) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(deployments_.begin(), deployments_.end(), [&](const auto& d) { return d.name == name; });
  if (it != deployments_.end())
    it->models = std::move(models);
  else
    deployments_.push_back({name, std::move(models)});
  ++generation_;
}

std::shared_ptr<ServedModel> ModelSet::resolve(const std::string& requested, const std::string& routing_key) const {
  std::lock_guard lock(mutex_);
  if (deployments_.empty()) return nullptr;
  const std::string name = requested.empty() ? "auto" : requested;
  const Deployment* deployment = nullptr;
  for (const auto& d : deployments_)
    if (d.name == name) deployment = &d;
  // "auto" is the deployment of that name, else the first one set.
  if (!deployment && name == "auto") deployment = &deployments_.front();
  if (deployment) {
    if (deployment->models.empty()) return nullptr;
    double total = 0;
    for (const auto& m : deployment->models) total += std::max(0.0, m.weight);
    if (deployment->models.size() == 1 || total <= 0) return deployment->models.front().model;
    // A stable split: the same routing key always lands on the same model.
    const double point = static_cast<double>(xxh3_64(routing_key) % 1'000'000) / 1'000'000.0 * total;
    double acc = 0;
    for (const auto& m : deployment->models) {
      acc += std::max(0.0, m.weight);
      if (point < acc) return m.model;
    }
    return deployment->models.back().model;
  }
  for (const auto& d : deployments_)
    for (const auto& m : d.models)
      if (m.model->id == name) return m.model;
  return nullptr;
}

std::vector<std::shared_ptr<ServedModel>> ModelSet::models() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<ServedModel>> out;
  std::set<const ServedModel*> seen;
  for (const auto& d : deployments_)
    for (const auto& m : d.models)
      if (seen.insert(m.model.get()).second) out.push_back(m.model);
  return out;
}

std::vector<std::string> ModelSet::deployment_names() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  for (const auto& d : deployments_) names.push_back(d.name);
  return names;
}

Result<std::vector<std::shared_ptr<ServedModel>>> ModelSet::swap(const std::string& deployment, const std::string& dir,
                                                                 const std::string& id, const LoadOptions& options) {
  // Loading takes seconds; the lock is held only for the pointer exchange.
  FW_ASSIGN_OR_RETURN(auto loaded, load_served_model(dir, id, options));
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<ServedModel>> previous;
  auto it = std::find_if(deployments_.begin(), deployments_.end(), [&](const auto& d) { return d.name == deployment; });
  if (it == deployments_.end() && deployment == "auto" && !deployments_.empty()) it = deployments_.begin();
  if (it != deployments_.end()) {
    for (auto& m : it->models) previous.push_back(m.model);
    it->models = {{loaded, 1.0}};
  } else {
    deployments_.push_back({deployment, {{loaded, 1.0}}});
  }
  ++generation_;
  return previous;
}

uint64_t ModelSet::generation() const {
  std::lock_guard lock(mutex_);
  return generation_;
}

}  // namespace flywheel::serve
