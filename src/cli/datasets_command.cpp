// `flywheel datasets build`: training data from the event store
// (feedback/datasets.h), with prompts in the FIM layout of --model.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/feedback_cli.h"
#include "core/json_output.h"
#include "feedback/datasets.h"
#include "model/config.h"
#include "model/prompt_format.h"

namespace flywheel::cli {
namespace {

struct DatasetsArgs {
  std::string db = kDefaultFeedbackDb;
  std::string tenant;
  std::string since, until, valid_since;
  std::string source;
  std::string out;
  std::string model;
};

// The FIM prompt text of the model in `dir` (tokenizer.json and config.json).
Result<feedback::PromptRenderer> renderer_for(const std::string& dir) {
  FW_ASSIGN_OR_RETURN(Tokenizer tokenizer, load_tokenizer(dir + "/tokenizer.json"));
  FW_ASSIGN_OR_RETURN(PromptFormat format, detect_prompt_format(tokenizer));
  if (format.fim == FimStyle::kNone)
    return Status::unsupported("the model in " + dir + " has no fill-in-the-middle tokens (format " + format.name +
                               ")");
  return feedback::PromptRenderer([tokenizer, format](const feedback::FimContext& c) -> Result<std::string> {
    FimRequest request{c.prefix, c.suffix, c.path, c.repo, {}};
    FW_ASSIGN_OR_RETURN(Prompt prompt, build_fim_prompt(format, tokenizer, request, preferred_fim_order(format)));
    return prompt.text;
  });
}

Status run_build(const DatasetsArgs& a, const GlobalOptions& global) {
  if (a.out.empty()) return Status::invalid_argument("--out DIR is required");
  if (a.model.empty()) return Status::invalid_argument("--model DIR is required (its FIM layout shapes the prompts)");
  feedback::DatasetOptions o;
  o.tenant = a.tenant;
  o.source = a.source;
  o.out = a.out;
  if (!a.since.empty()) {
    FW_ASSIGN_OR_RETURN(o.since_ms, parse_time(a.since, "--since"));
  }
  if (!a.until.empty()) {
    FW_ASSIGN_OR_RETURN(int64_t until, parse_time(a.until, "--until"));
    o.until_ms = until;
  }
  if (!a.valid_since.empty()) {
    FW_ASSIGN_OR_RETURN(int64_t valid_since, parse_time(a.valid_since, "--valid-since"));
    o.valid_since_ms = valid_since;
  }
  FW_ASSIGN_OR_RETURN(o.render, renderer_for(a.model));
  FW_ASSIGN_OR_RETURN(auto store, feedback::open_store(a.db));
  FW_ASSIGN_OR_RETURN(feedback::DatasetStats s, feedback::build_datasets(*store, o));
  nlohmann::json rows = s.rows;
  if (global.json) {
    print_json_line({{"out", a.out},
                     {"suggestions", s.suggestions},
                     {"with_outcome", s.with_outcome},
                     {"accepted", s.accepted},
                     {"partially_accepted", s.partially_accepted},
                     {"rejected", s.rejected},
                     {"ignored", s.ignored},
                     {"duplicates_dropped", s.duplicates_dropped},
                     {"rows", rows}});
    return Status::OK();
  }
  std::printf("%lld suggestions (%lld with an outcome: %lld accepted, %lld partly, %lld rejected, %lld ignored)\n",
              static_cast<long long>(s.suggestions), static_cast<long long>(s.with_outcome),
              static_cast<long long>(s.accepted), static_cast<long long>(s.partially_accepted),
              static_cast<long long>(s.rejected), static_cast<long long>(s.ignored));
  for (const auto& [file, count] : s.rows)
    std::printf("  %-28s %lld rows\n", file.c_str(), static_cast<long long>(count));
  std::printf("written to %s (%lld duplicates dropped)\n", a.out.c_str(), static_cast<long long>(s.duplicates_dropped));
  return Status::OK();
}

}  // namespace

void add_datasets_command(CLI::App& app, const GlobalOptions& global, CommandAction* action) {
  CLI::App* datasets = app.add_subcommand("datasets", "Training data from recorded suggestions and outcomes");
  datasets->require_subcommand(1);
  datasets->footer(global_options_footer());
  auto args = std::make_shared<DatasetsArgs>();
  CLI::App* build = datasets->add_subcommand(
      "build",
      "Write sft.jsonl (FIM at the real cursor, kept text), preferences.jsonl (kept over rejected), unpaired.jsonl "
      "(accepted/rejected labels) and rewards.jsonl (+0.75 accepted, -0.25 rejected, 0 not decided) under "
      "OUT/train and OUT/valid");
  build->add_option("--out", args->out, "Output folder (required)")->type_name("DIR");
  build->add_option("--model", args->model, "Checkpoint whose FIM layout the prompts use (required)")->type_name("DIR");
  build->add_option("--tenant", args->tenant, "Tenant whose events to read (\"\": the unauthenticated tenant)");
  build->add_option("--since", args->since, "Events from this time (YYYY-MM-DD or ISO 8601)")->type_name("WHEN");
  build->add_option("--until", args->until, "Events before this time")->type_name("WHEN");
  build->add_option("--valid-since", args->valid_since, "Events from this time go to valid/ (a time split)")
      ->type_name("WHEN");
  build->add_option("--source", args->source, "Only events from this source (editor or replay)")
      ->check(CLI::IsMember({"", "editor", "replay"}));
  add_feedback_db_option(*build, args->db);
  build->callback([args, &global, action] { *action = [args, &global] { return run_build(*args, global); }; });
}

}  // namespace flywheel::cli
