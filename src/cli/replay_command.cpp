// `flywheel replay`: a git range typed again by simulated developers against
// a checkpoint or a running server; the report goes to --out (JSON) and to
// stdout (a table, or one JSON line with --json).
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/json_output.h"
#include "eval/replay.h"
#include "feedback/event_writer.h"
#include "feedback/store.h"

namespace flywheel::cli {
namespace {

struct ReplayArgs {
  eval::ReplayOptions replay;
  std::string repo, model, server, out, db, api_key;
  eval::GenerationOptions generation;
  bool bf16 = false;
  bool shared_model = false;
};

Status run_replay_command(ReplayArgs& a, const GlobalOptions& global) {
  if (a.repo.empty()) return Status::invalid_argument("--repo PATH is required");
  if (a.replay.range.empty()) return Status::invalid_argument("--range OLDER..NEWER is required");
  if (a.out.empty()) return Status::invalid_argument("--out FILE is required (the report, as JSON)");
  if (a.model.empty() == a.server.empty()) return Status::invalid_argument("give one of --model DIR or --server URL");
  if (!a.db.empty() && !a.server.empty())
    return Status::invalid_argument("--db is for --model: a server records the replay's events in its own store");
  a.replay.repo = a.repo;

  eval::BackendFactory backend;
  std::unique_ptr<feedback::Store> store;  // outlives the writer
  std::shared_ptr<feedback::EventWriter> writer;
  if (!a.model.empty()) {
    eval::ModelBackendOptions m;
    m.model_dir = a.model;
    m.generation = a.generation;
    m.bf16 = a.bf16;
    m.model_per_worker = !a.shared_model;
    m.threads_per_model = a.shared_model ? 0 : 1;  // a shared model takes every core
    FW_ASSIGN_OR_RETURN(backend, eval::model_backend_factory(m));
    a.replay.backend_name = "model:" + a.model;
    if (!a.db.empty()) {
      FW_ASSIGN_OR_RETURN(store, feedback::open_store(a.db));
      writer = std::make_shared<feedback::EventWriter>(*store);
      const std::string model_id = std::filesystem::absolute(a.model).lexically_normal().string();
      backend = eval::recording_backend_factory(std::move(backend), writer, model_id);
    }
  } else {
    eval::ServerBackendOptions s;
    s.url = a.server;
    s.api_key = a.api_key;
    s.generation = a.generation;
    FW_ASSIGN_OR_RETURN(backend, eval::server_backend_factory(s));
    a.replay.backend_name = "server:" + a.server;
  }

  FW_ASSIGN_OR_RETURN(eval::ReplayReport report, eval::run_replay(a.replay, backend));
  if (writer) {
    FW_RETURN_IF_ERROR(writer->flush().with_context("writing replay events to " + a.db));
    writer.reset();
  }
  FW_RETURN_IF_ERROR(eval::write_report(a.out, report));
  if (global.json) {
    nlohmann::json out = eval::report_to_json(report);
    out.erase("hunks");  // in the --out file
    out["out"] = a.out;
    print_json_line(out);
  } else {
    print_text(eval::format_report_table(report) + "report: " + a.out + "\n");
  }
  return Status::OK();
}

}  // namespace

void add_replay_command(CLI::App& app, const GlobalOptions& global, CommandAction* action) {
  auto a = std::make_shared<ReplayArgs>();
  CLI::App* cmd = app.add_subcommand(
      "replay", "Replay a git range as developers typing it, against a model or a server (docs/replay.md)");
  cmd->add_option("--repo", a->repo, "Git repository")->type_name("PATH");
  cmd->add_option("--range", a->replay.range, "Commits OLDER..NEWER (first parents), or one revision: all its history")
      ->type_name("A..B");
  cmd->add_option("--model", a->model, "Checkpoint directory, run in this process")->type_name("DIR");
  cmd->add_option("--server", a->server, "A running `flywheel serve`, e.g. http://127.0.0.1:8080")->type_name("URL");
  cmd->add_option("--out", a->out, "Where to write the report (JSON)")->type_name("FILE");
  cmd->add_option("--seed", a->replay.seed, "Seed of the hunk order, sampling and bootstrap")->capture_default_str();
  cmd->add_option("--threads", a->replay.threads, "Hunks replayed in parallel")
      ->check(positive_integer())
      ->capture_default_str();
  cmd->add_option("--max-hunks", a->replay.max_hunks, "Replay at most this many hunks (0: all)")
      ->check(non_negative_integer());
  cmd->add_option("--max-suggestions", a->replay.max_suggestions,
                  "Stop after the hunk that brings the requests to this many (0: no limit)")
      ->check(non_negative_integer());
  cmd->add_option("--max-tokens", a->generation.max_tokens, "Most tokens per suggestion")->capture_default_str();
  cmd->add_option("--min-token-prob", a->generation.min_token_prob,
                  "End a suggestion before its first token below this probability (an empty one is not shown; "
                  "0: off)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-show-prob", a->generation.min_show_prob,
                  "Withhold a suggestion when the model's show head (flywheel train --mode show) puts P(accept) "
                  "below this (0, or a model without a head: off)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--temperature", a->generation.temperature, "Sampling temperature; 0 is greedy")
      ->capture_default_str();
  cmd->add_option("--resamples", a->replay.bootstrap_resamples, "Bootstrap resamples for the 95% intervals")
      ->check(non_negative_integer())
      ->capture_default_str();
  cmd->add_option("--db", a->db, "With --model: also write the events (source replay) to this store")->type_name("URL");
  cmd->add_option("--api-key", a->api_key, "With --server: the API key")->envname("FLYWHEEL_API_KEY");
  cmd->add_option("--run-id", a->replay.run_id,
                  "Session id of the events (default: replay-<time>-<random>); suggestion ids derive from it, so "
                  "one reused with --db is refused by the store");
  cmd->add_flag("--bf16", a->bf16, "With --model: keep weights in bf16");
  cmd->add_flag("--shared-model", a->shared_model,
                "With --model: one model on all cores shared by the threads (default: one single-threaded copy "
                "per thread)");
  cmd->footer(global_options_footer());
  cmd->callback([a, &global, action] { *action = [a, &global] { return run_replay_command(*a, global); }; });
}

}  // namespace flywheel::cli
