// `flywheel cycle`: turns of the flywheel on a git repository (src/cycle):
// replay the serving model over history, learn a candidate from what the
// simulated developers kept, judge it on later history, promote it if it wins.
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/feedback_cli.h"
#include "core/json_output.h"
#include "cycle/cycle.h"

namespace flywheel::cli {
namespace {

struct CycleArgs {
  cycle::CycleOptions options;
  std::string repo, model, work_dir = "flywheel-cycles", objectives = "sft";
  bool no_significance = false;
};

std::string rate_text(const nlohmann::json& rate) {
  if (!rate.is_object()) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%5.1f%% [%4.1f, %4.1f]", 100 * rate.value("value", 0.0), 100 * rate.value("low", 0.0),
                100 * rate.value("high", 0.0));
  return buf;
}

void print_row(const cycle::CycleResult& r) {
  const auto& base = r.baseline;
  const auto& cand = r.candidate_report;
  std::printf("%5d  %-24s %-24s %6lld %6lld  %7.3f %7.3f  %-8s %6.0f  %s\n", r.index,
              rate_text(base.value("acceptance", nlohmann::json())).c_str(),
              rate_text(cand.value("acceptance", nlohmann::json())).c_str(),
              static_cast<long long>(base.value("shown", 0)), static_cast<long long>(cand.value("shown", 0)),
              base.value("chars_saved_per_keystroke", nlohmann::json::object()).value("value", 0.0),
              cand.value("chars_saved_per_keystroke", nlohmann::json::object()).value("value", 0.0),
              r.promoted ? "promoted" : "refused", r.seconds, r.candidate.c_str());
  std::fflush(stdout);
}

Status run_cycle(CycleArgs& a, const GlobalOptions& global) {
  cycle::CycleOptions& o = a.options;
  o.repo = a.repo;
  o.base_model = a.model;
  o.work_dir = a.work_dir;
  o.require_significance = !a.no_significance;
  o.objectives.clear();
  std::stringstream list(a.objectives);
  for (std::string item; std::getline(list, item, ',');)
    if (!item.empty() && item != "none") o.objectives.push_back(item);
  o.show_progress = !global.json;
  if (!global.json)
    std::printf("%5s  %-24s %-24s %6s %6s  %7s %7s  %-8s %6s  %s\n", "cycle", "serving acceptance [95%]",
                "candidate acceptance", "shown", "shown", "saved/k", "saved/k", "decision", "sec", "candidate");
  auto results = cycle::run_cycles(o, [&](const cycle::CycleResult& r) {
    if (global.json)
      print_json_line(r.to_json());
    else
      print_row(r);
  });
  FW_RETURN_IF_ERROR(results.status());
  if (!global.json) {
    std::printf("\nwhy:\n");
    for (const auto& r : *results) std::printf("  cycle %d: %s\n", r.index, r.reason.c_str());
    if (!results->empty() && results->back().since_start.contains("error")) {
      std::printf("\nsince the start: %s\n", results->back().since_start.value("error", "").c_str());
    } else if (!results->empty()) {
      const nlohmann::json& s = results->back().since_start;
      const nlohmann::json& a = s.value("acceptance", nlohmann::json::object());
      const nlohmann::json gain = a.value("relative_gain", nlohmann::json());
      // On held-out hunks that no promotion decision used (cycle.h, since_start).
      std::printf(
          "\nafter %zu cycles, on held-out hunks no decision used: acceptance %.1f%% (%lld shown) against "
          "the starting model's %.1f%% (%lld shown)",
          results->size(), 100 * a.value("candidate", 0.0),
          static_cast<long long>(s.value("model_report", nlohmann::json::object()).value("shown", 0)),
          100 * a.value("baseline", 0.0),
          static_cast<long long>(s.value("start_report", nlohmann::json::object()).value("shown", 0)));
      if (gain.is_object())
        std::printf(", gain %+.0f%% [%+.0f, %+.0f]", 100 * gain.value("value", 0.0), 100 * gain.value("low", 0.0),
                    100 * gain.value("high", 0.0));
      std::printf("\n");
    }
    const std::string db = o.db.empty() ? (o.work_dir / "flywheel.db").string() : o.db;
    std::printf("\nserving now: %s  (flywheel models list --db %s)\n",
                results->empty() ? "-" : results->back().serving_after.c_str(), db.c_str());
    std::printf("serve it:    flywheel serve --db %s --model auto\n", db.c_str());
  }
  return Status::OK();
}

}  // namespace

void add_cycle_command(CLI::App& app, const GlobalOptions& global, CommandAction* action) {
  auto args = std::make_shared<CycleArgs>();
  CLI::App* cmd = app.add_subcommand(
      "cycle",
      "Turns of the flywheel on a git repository: replay the serving model over history (collect), build datasets, "
      "learn a candidate, judge it on held-out later history, promote it only if it wins");
  cmd->footer(global_options_footer());
  cycle::CycleOptions& o = args->options;
  cmd->add_option("--repo", args->repo, "Git repository whose history is replayed (required)")->required();
  cmd->add_option("--model", args->model, "Starting model when the registry serves nothing yet")->type_name("DIR");
  cmd->add_option("--cycles", o.cycles, "Cycles to run")->capture_default_str()->check(positive_integer());
  cmd->add_option("--work-dir", args->work_dir, "Where each cycle's data, models and reports go (re-runs reuse them)")
      ->capture_default_str();
  add_feedback_db_option(*cmd, o.db);
  cmd->add_option("--holdout", o.holdout_fraction, "Share of the newest commits kept for judging")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 0.9));
  cmd->add_option("--collect-suggestions", o.collect_suggestions, "Replay requests per cycle to learn from")
      ->capture_default_str();
  cmd->add_option("--judge-hunks", o.judge_hunks,
                  "Held-out hunks every model is judged on (the same cursor points for all); the next as many "
                  "measure the gain since the start")
      ->capture_default_str();
  cmd->add_option("--objectives", args->objectives,
                  "Stages after continued pretraining, in order: sft,dpo,kto,pg,distill,show or none (show last)")
      ->capture_default_str();
  cmd->add_option("--teacher", o.teacher, "distill: the teacher, a checkpoint directory or an OpenAI-compatible URL");
  cmd->add_option("--show-steps", o.show_steps, "show: steps of the show/no-show head")->capture_default_str();
  cmd->add_option("--show-lr", o.show_lr, "show: learning rate of the show/no-show head")->capture_default_str();
  cmd->add_option("--cpt-steps", o.cpt_steps, "Continued-pretraining steps on the code (0: none)")
      ->capture_default_str();
  cmd->add_option("--steps", o.objective_steps, "Steps per objective stage")->capture_default_str();
  cmd->add_option("--batch-size", o.batch_size, "Sequences per step")->capture_default_str();
  cmd->add_option("--seq-len", o.seq_len, "Tokens per sequence")->capture_default_str();
  cmd->add_option("--lr", o.lr, "Peak learning rate of each stage")->capture_default_str();
  cmd->add_option("--min-shown-ratio", o.min_shown_ratio,
                  "Refuse a candidate that shows fewer than this share of the serving model's suggestions (0: off)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-chars-saved-ratio", o.min_chars_saved_ratio,
                  "Refuse a candidate that saves fewer typed characters than this share of the serving model's "
                  "(0: off)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--margin", o.margin, "Relative acceptance gain the candidate needs (0.05 = 5%)")
      ->capture_default_str();
  cmd->add_flag("--no-significance", args->no_significance,
                "Promote on the point estimate alone (default: the 95% interval of the gain must exclude zero)");
  cmd->add_option("--replay-threads", o.replay_threads, "Replay workers")->capture_default_str();
  cmd->add_option("--min-token-prob", o.min_token_prob,
                  "Replay: end a suggestion before its first token below this probability (0: off)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-show-prob", o.min_show_prob,
                  "Replay: withhold a suggestion when the model's show head puts P(accept) below this (0 or no "
                  "head: off)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--threads", o.threads, "Training threads (0: all cores)")->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed of replay sampling and training")->capture_default_str();
  cmd->callback([args, &global, action] { *action = [args, &global] { return run_cycle(*args, global); }; });
}

}  // namespace flywheel::cli
