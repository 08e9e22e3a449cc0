// `flywheel models list|show|add|promote|rollback|deploy`: the registry of
// checkpoints and deployments (src/registry). A running `flywheel serve`
// with the same --db follows promotions and rollbacks by hot swap.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/feedback_cli.h"
#include "core/json_output.h"
#include "registry/registry.h"

namespace flywheel::cli {
namespace {

using registry::DeploymentEntry;
using registry::ModelRecord;
using registry::Registry;

struct ModelsArgs {
  std::string db = kDefaultFeedbackDb;
  std::string id;
  std::string dir;
  std::string parent;
  std::string deployment = "auto";
  std::string reason;
  std::vector<std::string> weighted;  // ID=WEIGHT
};

nlohmann::json record_json(const ModelRecord& r) {
  auto parse = [](const std::string& text) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    return j.is_discarded() ? nlohmann::json(text) : j;
  };
  return {{"id", r.id},
          {"path", r.path},
          {"parent", r.parent},
          {"created_ms", r.created_ms},
          {"state", registry::model_state_name(r.state)},
          {"note", r.note},
          {"scores", parse(r.scores_json)},
          {"lineage", parse(r.lineage_json)}};
}

nlohmann::json deployment_json(const std::vector<DeploymentEntry>& entries) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& e : entries) j.push_back({{"model", e.model_id}, {"weight", e.weight}});
  return j;
}

Status run_list(const ModelsArgs& a, const GlobalOptions& global) {
  FW_ASSIGN_OR_RETURN(auto reg, Registry::open(a.db));
  FW_ASSIGN_OR_RETURN(auto models, reg->list());
  FW_ASSIGN_OR_RETURN(auto names, reg->deployment_names());
  if (global.json) {
    nlohmann::json out = {{"models", nlohmann::json::array()}, {"deployments", nlohmann::json::object()}};
    for (const auto& m : models) out["models"].push_back(record_json(m));
    for (const auto& n : names) {
      FW_ASSIGN_OR_RETURN(auto entries, reg->deployment(n));
      out["deployments"][n] = deployment_json(entries);
    }
    print_json_line(out);
    return Status::OK();
  }
  std::printf("%-28s %-10s %-24s %s\n", "ID", "STATE", "PARENT", "PATH");
  for (const auto& m : models)
    std::printf("%-28s %-10s %-24s %s\n", m.id.c_str(), std::string(registry::model_state_name(m.state)).c_str(),
                m.parent.empty() ? "-" : m.parent.c_str(), m.path.c_str());
  for (const auto& n : names) {
    FW_ASSIGN_OR_RETURN(auto entries, reg->deployment(n));
    std::string line;
    for (const auto& e : entries)
      line +=
          (line.empty() ? "" : ", ") + e.model_id + (entries.size() > 1 ? " (" + std::to_string(e.weight) + ")" : "");
    std::printf("deployment %s -> %s\n", n.c_str(), line.c_str());
  }
  return Status::OK();
}

Status run_show(const ModelsArgs& a, const GlobalOptions& global) {
  FW_ASSIGN_OR_RETURN(auto reg, Registry::open(a.db));
  FW_ASSIGN_OR_RETURN(ModelRecord m, reg->get(a.id));
  const nlohmann::json j = record_json(m);
  if (global.json)
    print_json_line(j);
  else
    print_text(j.dump(2) + "\n");
  return Status::OK();
}

Status run_add(const ModelsArgs& a, const GlobalOptions& global) {
  FW_ASSIGN_OR_RETURN(auto reg, Registry::open(a.db));
  FW_ASSIGN_OR_RETURN(ModelRecord m, reg->add(a.dir, a.parent, a.id));
  if (global.json)
    print_json_line(record_json(m));
  else
    print_text("added " + m.id + " (" + m.path + ")\n");
  return Status::OK();
}

Status report_deployment(Registry& reg, const std::string& deployment, const std::string& verb,
                         const GlobalOptions& global) {
  FW_ASSIGN_OR_RETURN(auto entries, reg.deployment(deployment));
  FW_ASSIGN_OR_RETURN(int64_t version, reg.version());
  if (global.json) {
    print_json_line({{"deployment", deployment}, {"models", deployment_json(entries)}, {"version", version}});
  } else {
    std::string names;
    for (const auto& e : entries) names += (names.empty() ? "" : ", ") + e.model_id;
    print_text(verb + ": " + deployment + " -> " + names + " (registry version " + std::to_string(version) + ")\n");
  }
  return Status::OK();
}

Status run_promote(const ModelsArgs& a, const GlobalOptions& global) {
  FW_ASSIGN_OR_RETURN(auto reg, Registry::open(a.db));
  FW_RETURN_IF_ERROR(reg->promote(a.id, a.deployment, a.reason));
  return report_deployment(*reg, a.deployment, "promoted", global);
}

Status run_rollback(const ModelsArgs& a, const GlobalOptions& global) {
  FW_ASSIGN_OR_RETURN(auto reg, Registry::open(a.db));
  FW_RETURN_IF_ERROR(reg->rollback(a.deployment, a.reason));
  return report_deployment(*reg, a.deployment, "rolled back", global);
}

Status run_deploy(const ModelsArgs& a, const GlobalOptions& global) {
  std::vector<DeploymentEntry> entries;
  for (const auto& item : a.weighted) {
    const auto eq = item.rfind('=');
    DeploymentEntry e{item.substr(0, eq), 1.0};
    if (eq != std::string::npos) {
      try {
        e.weight = std::stod(item.substr(eq + 1));
      } catch (const std::exception&) {
        return Status::invalid_argument("--model " + item + ": the weight after '=' must be a number");
      }
    }
    entries.push_back(e);
  }
  FW_ASSIGN_OR_RETURN(auto reg, Registry::open(a.db));
  FW_RETURN_IF_ERROR(reg->set_deployment(a.deployment, entries, a.reason.empty() ? "deploy" : a.reason));
  return report_deployment(*reg, a.deployment, "deployed", global);
}

}  // namespace

void add_models_command(CLI::App& app, const GlobalOptions& global, CommandAction* action) {
  CLI::App* models = app.add_subcommand("models", "The model registry: checkpoints, lineage, and what serves");
  models->require_subcommand(1);
  models->footer(global_options_footer());
  auto args = std::make_shared<ModelsArgs>();
  auto db_option = [&](CLI::App* cmd) { add_feedback_db_option(*cmd, args->db); };
  auto deployment_option = [&](CLI::App* cmd) {
    cmd->add_option("--deployment", args->deployment, "Deployment name")->capture_default_str();
    cmd->add_option("--reason", args->reason, "Recorded in the deployment history");
  };

  CLI::App* list = models->add_subcommand("list", "Models with their state, and each deployment");
  db_option(list);
  list->callback([args, &global, action] { *action = [args, &global] { return run_list(*args, global); }; });

  CLI::App* show = models->add_subcommand("show", "One model's record: lineage, scores, state");
  show->add_option("id", args->id, "Model id")->required();
  db_option(show);
  show->callback([args, &global, action] { *action = [args, &global] { return run_show(*args, global); }; });

  CLI::App* add = models->add_subcommand("add", "Register a checkpoint directory (reads its flywheel.json)");
  add->add_option("dir", args->dir, "Checkpoint directory")->required();
  add->add_option("--parent", args->parent, "Parent model id");
  add->add_option("--id", args->id, "Model id (default: from the directory name)");
  db_option(add);
  add->callback([args, &global, action] { *action = [args, &global] { return run_add(*args, global); }; });

  CLI::App* promote = models->add_subcommand("promote", "Make a model the only one of a deployment (default auto)");
  promote->add_option("id", args->id, "Model id")->required();
  db_option(promote);
  deployment_option(promote);
  promote->callback([args, &global, action] { *action = [args, &global] { return run_promote(*args, global); }; });

  CLI::App* rollback = models->add_subcommand("rollback", "Return a deployment to its previous models");
  db_option(rollback);
  deployment_option(rollback);
  rollback->callback([args, &global, action] { *action = [args, &global] { return run_rollback(*args, global); }; });

  CLI::App* deploy = models->add_subcommand("deploy", "Serve several models under one deployment with traffic weights");
  deploy->add_option("--model", args->weighted, "ID=WEIGHT (repeat), e.g. --model a=0.9 --model b=0.1")
      ->required()
      ->expected(1, -1);
  db_option(deploy);
  deployment_option(deploy);
  deploy->callback([args, &global, action] { *action = [args, &global] { return run_deploy(*args, global); }; });
}

}  // namespace flywheel::cli
