// `flywheel keys create|list|revoke`: API keys in the feedback store. The
// secret is printed once, by `create`; the store keeps only its SHA-256.
#include <spdlog/fmt/fmt.h>

#include <nlohmann/json.hpp>
#include <string>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/feedback_cli.h"
#include "core/json_output.h"
#include "feedback/store.h"

namespace flywheel::cli {
namespace {

using feedback::ApiKey;

struct CreateArgs {
  std::string db = kDefaultFeedbackDb;
  std::string tenant;
  int64_t rpm = 0;
  int64_t tpm = 0;
  bool admin = false;
};

struct ListArgs {
  std::string db = kDefaultFeedbackDb;
  std::string tenant;
};

struct RevokeArgs {
  std::string db = kDefaultFeedbackDb;
  std::string key_id;
};

std::string limit_text(int64_t limit) { return limit == 0 ? "unlimited" : std::to_string(limit); }

nlohmann::json key_json(const ApiKey& k) {
  return {{"id", k.id},
          {"tenant", k.tenant},
          {"prefix", k.prefix},
          {"rpm", k.rpm},
          {"tpm", k.tpm},
          {"admin", k.admin},
          {"created_ms", k.created_ms},
          {"revoked_ms", k.revoked_ms ? nlohmann::json(*k.revoked_ms) : nlohmann::json(nullptr)}};
}

Status run_create(const CreateArgs& a, const GlobalOptions& global) {
  if (a.tenant.empty()) return Status::invalid_argument("--tenant NAME is required");
  FW_ASSIGN_OR_RETURN(auto store, feedback::open_store(a.db));
  FW_ASSIGN_OR_RETURN(feedback::NewApiKey created, store->create_key(a.tenant, a.rpm, a.tpm, a.admin));
  if (global.json) {
    nlohmann::json out = key_json(created.key);
    out["secret"] = created.secret;
    print_json_line(out);
    return Status::OK();
  }
  print_text(fmt::format(
      "{}\n"
      "  id:      {}\n  tenant:  {}\n  quota:   {} requests/min, {} tokens/min{}\n"
      "This secret is shown once and is not stored: keep it now (clients send 'Authorization: Bearer {}...').\n",
      created.secret, created.key.id, created.key.tenant, limit_text(created.key.rpm), limit_text(created.key.tpm),
      created.key.admin ? "\n  admin:   yes" : "", created.key.prefix));
  return Status::OK();
}

Status run_list(const ListArgs& a, const GlobalOptions& global) {
  FW_ASSIGN_OR_RETURN(auto store, feedback::open_store(a.db));
  FW_ASSIGN_OR_RETURN(std::vector<ApiKey> keys, store->list_keys(a.tenant));
  if (global.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const ApiKey& k : keys) list.push_back(key_json(k));
    print_json_line({{"keys", list}});
    return Status::OK();
  }
  std::string out = fmt::format("{:<18} {:<16} {:<10} {:>10} {:>10} {:<5} {:<20} {}\n", "ID", "TENANT", "PREFIX", "RPM",
                                "TPM", "ADMIN", "CREATED", "STATE");
  for (const ApiKey& k : keys)
    out += fmt::format("{:<18} {:<16} {:<10} {:>10} {:>10} {:<5} {:<20} {}\n", k.id, k.tenant, k.prefix + "...",
                       limit_text(k.rpm), limit_text(k.tpm), k.admin ? "yes" : "no", format_utc(k.created_ms),
                       k.revoked_ms ? "revoked " + format_utc(*k.revoked_ms) : "active");
  if (keys.empty()) out += a.tenant.empty() ? "(no keys)\n" : "(no keys for tenant " + a.tenant + ")\n";
  print_text(out);
  return Status::OK();
}

Status run_revoke(const RevokeArgs& a, const GlobalOptions& global) {
  if (a.key_id.empty()) return Status::invalid_argument("KEY_ID is required (see 'flywheel keys list')");
  FW_ASSIGN_OR_RETURN(auto store, feedback::open_store(a.db));
  FW_RETURN_IF_ERROR(store->revoke_key(a.key_id));
  if (global.json) {
    print_json_line({{"id", a.key_id}, {"revoked", true}});
  } else {
    print_text("revoked " + a.key_id + " (servers stop accepting it within 5 seconds)\n");
  }
  return Status::OK();
}

}  // namespace

void add_keys_command(CLI::App& app, const GlobalOptions& global, CommandAction* action) {
  CLI::App* keys = app.add_subcommand("keys", "Create, list and revoke API keys (tenants and their quotas)");
  keys->require_subcommand(1);
  keys->footer(global_options_footer());

  auto create = std::make_shared<CreateArgs>();
  CLI::App* create_cmd =
      keys->add_subcommand("create", "Make an API key for a tenant and print its secret (shown only this once)");
  create_cmd->add_option("--tenant", create->tenant, "Tenant the key belongs to (required)")->type_name("NAME");
  create_cmd->add_option("--rpm", create->rpm, "Requests per minute (0: unlimited)")
      ->capture_default_str()
      ->check(non_negative_integer());
  create_cmd->add_option("--tpm", create->tpm, "Prompt + completion tokens per minute (0: unlimited)")
      ->capture_default_str()
      ->check(non_negative_integer());
  create_cmd->add_flag("--admin", create->admin, "May call admin routes (e.g. hot swap of the serving model)");
  add_feedback_db_option(*create_cmd, create->db);
  create_cmd->footer(global_options_footer());
  create_cmd->callback(
      [create, &global, action] { *action = [create, &global] { return run_create(*create, global); }; });

  auto list = std::make_shared<ListArgs>();
  CLI::App* list_cmd = keys->add_subcommand("list", "List keys (never their secrets)");
  list_cmd->add_option("--tenant", list->tenant, "Only this tenant's keys")->type_name("NAME");
  add_feedback_db_option(*list_cmd, list->db);
  list_cmd->footer(global_options_footer());
  list_cmd->callback([list, &global, action] { *action = [list, &global] { return run_list(*list, global); }; });

  auto revoke = std::make_shared<RevokeArgs>();
  CLI::App* revoke_cmd = keys->add_subcommand("revoke", "Revoke a key by its id (servers refuse it within 5 s)");
  revoke_cmd->add_option("KEY_ID", revoke->key_id, "The key's id, as 'keys list' shows it (key_...)");
  add_feedback_db_option(*revoke_cmd, revoke->db);
  revoke_cmd->footer(global_options_footer());
  revoke_cmd->callback(
      [revoke, &global, action] { *action = [revoke, &global] { return run_revoke(*revoke, global); }; });
}

}  // namespace flywheel::cli
