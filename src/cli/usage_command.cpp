// `flywheel usage`: a tenant's metered requests and tokens per model and
// route over a time range (the store keeps them per minute).
#include <spdlog/fmt/fmt.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/feedback_cli.h"
#include "core/json_output.h"
#include "feedback/store.h"

namespace flywheel::cli {
namespace {

struct UsageArgs {
  std::string db = kDefaultFeedbackDb;
  std::string tenant;
  std::string since;
  std::string until;
};

Status run_usage(const UsageArgs& a, const GlobalOptions& global) {
  if (a.tenant.empty()) return Status::invalid_argument("--tenant NAME is required");
  int64_t since = 0;
  std::optional<int64_t> until;
  if (!a.since.empty()) {
    FW_ASSIGN_OR_RETURN(since, parse_time(a.since, "--since"));
  }
  if (!a.until.empty()) {
    FW_ASSIGN_OR_RETURN(until, parse_time(a.until, "--until"));
  }
  if (until && *until <= since) return Status::invalid_argument("--until must be later than --since");
  FW_ASSIGN_OR_RETURN(auto store, feedback::open_store(a.db));
  FW_ASSIGN_OR_RETURN(std::vector<feedback::UsageRecord> rows, store->usage(a.tenant, since, until));

  feedback::UsageRecord total{a.tenant, "", "", 0, 0, 0};
  for (const auto& r : rows) {
    total.requests += r.requests;
    total.prompt_tokens += r.prompt_tokens;
    total.completion_tokens += r.completion_tokens;
  }
  auto counts = [](const feedback::UsageRecord& r) {
    return nlohmann::json{{"requests", r.requests},
                          {"prompt_tokens", r.prompt_tokens},
                          {"completion_tokens", r.completion_tokens},
                          {"total_tokens", r.prompt_tokens + r.completion_tokens}};
  };
  if (global.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& r : rows) {
      nlohmann::json row = {{"model", r.model_id}, {"route", r.route}};
      row.update(counts(r));
      list.push_back(row);
    }
    print_json_line({{"tenant", a.tenant},
                     {"since_ms", since},
                     {"until_ms", until ? nlohmann::json(*until) : nlohmann::json(nullptr)},
                     {"rows", list},
                     {"total", counts(total)}});
    return Status::OK();
  }
  std::string out = fmt::format("usage of tenant {} from {} to {} (UTC)\n", a.tenant,
                                since > 0 ? format_utc(since) : "the beginning", until ? format_utc(*until) : "now");
  constexpr const char* kRow = "{:<24} {:<24} {:>10} {:>14} {:>18}\n";
  out += fmt::format(kRow, "MODEL", "ROUTE", "REQUESTS", "PROMPT TOKENS", "COMPLETION TOKENS");
  for (const auto& r : rows)
    out += fmt::format(kRow, r.model_id, r.route, r.requests, r.prompt_tokens, r.completion_tokens);
  out += fmt::format(kRow, "total", "", total.requests, total.prompt_tokens, total.completion_tokens);
  print_text(out);
  return Status::OK();
}

}  // namespace

void add_usage_command(CLI::App& app, const GlobalOptions& global, CommandAction* action) {
  auto args = std::make_shared<UsageArgs>();
  CLI::App* usage = app.add_subcommand(
      "usage", "Show a tenant's metered requests and tokens per model and route (minute resolution, UTC)");
  usage->add_option("--tenant", args->tenant, "Tenant (required)")->type_name("NAME");
  usage->add_option("--since", args->since, "From this date or time (YYYY-MM-DD or ISO 8601; default: the beginning)")
      ->type_name("DATE");
  usage->add_option("--until", args->until, "Up to this date or time, excluded (default: now)")->type_name("DATE");
  add_feedback_db_option(*usage, args->db);
  usage->footer(global_options_footer());
  usage->callback([args, &global, action] { *action = [args, &global] { return run_usage(*args, global); }; });
}

}  // namespace flywheel::cli
