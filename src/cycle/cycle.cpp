#include "cycle/cycle.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "core/atomic_file.h"
#include "core/hash.h"
#include "cycle/history_split.h"
#include "cycle/judge_key.h"
#include "cycle/promotion.h"
#include "cycle/slice_code.h"
#include "data/data.h"
#include "eval/replay.h"
#include "feedback/datasets.h"
#include "feedback/event_writer.h"
#include "feedback/store.h"
#include "learn/feedback_rows.h"
#include "learn/learn.h"
#include "model/model.h"
#include "model/prompt_format.h"
#include "registry/registry.h"
#include "train/divergence.h"
#include "train/train.h"

namespace flywheel::cycle {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

json rate_json(const eval::RateEstimate& r) { return {{"value", r.value}, {"low", r.low}, {"high", r.high}}; }

// What the cycle table shows of a judge report.
json report_summary(const eval::ReplayReport& r) {
  return {{"acceptance", rate_json(r.rates.acceptance)},
          {"chars_saved_per_keystroke", rate_json(r.rates.chars_saved)},
          {"shown", r.totals.shown},
          {"requests", r.totals.requests},
          {"accepted", r.totals.accepted},
          {"latency_p50_ms", r.latency_p50_ms},
          {"wall_seconds", r.wall_seconds}};
}

struct Context {
  const CycleOptions& o;
  std::string db;
  std::unique_ptr<registry::Registry> reg;
  std::unique_ptr<feedback::Store> store;
  HistorySplit split;
  std::map<std::string, std::string> weights;  // model directory -> weights_hash
};

// Fault injection for the kill tests: FLYWHEEL_TEST_KILL_AT=cycle-N/STEP
// kills the process (SIGKILL: no cleanup, nothing flushed) right after that
// step of cycle N.
void kill_point(const fs::path& cycle_dir, std::string_view step) {
  static const char* at = std::getenv("FLYWHEEL_TEST_KILL_AT");
  if (at != nullptr && cycle_dir.filename().string() + "/" + std::string(step) == at) std::raise(SIGKILL);
}

// 64 random bits as hex: run ids that no re-run (and no client) repeats.
std::string random_hex() {
  std::random_device device;
  const uint64_t random = (static_cast<uint64_t>(device()) << 32) ^ device();
  return to_hex(std::string_view(reinterpret_cast<const char*>(&random), sizeof random));
}

// weights_hash (judge_key.h), computed once per directory.
Result<std::string> weights_hash(Context& c, const fs::path& model_dir) {
  const std::string key = fs::absolute(model_dir).lexically_normal().string();
  if (auto it = c.weights.find(key); it != c.weights.end()) return it->second;
  FW_ASSIGN_OR_RETURN(std::string hash, cycle::weights_hash(model_dir));
  return c.weights[key] = hash;
}

// The model `auto` serves; registers and promotes the base model the first time.
Result<registry::ModelRecord> serving_model(Context& c) {
  FW_ASSIGN_OR_RETURN(auto entries, c.reg->deployment("auto"));
  if (!entries.empty()) return c.reg->get(entries.front().model_id);
  if (c.o.base_model.empty())
    return Status::invalid_argument("the registry serves nothing yet: give the starting model (--model DIR)");
  FW_ASSIGN_OR_RETURN(registry::ModelRecord base, c.reg->add(c.o.base_model.string()));
  FW_RETURN_IF_ERROR(c.reg->promote(base.id, "auto", "the starting model"));
  return c.reg->get(base.id);
}

eval::ReplayOptions replay_options(const Context& c, const std::string& range, int64_t suggestions, int64_t hunks,
                                   const std::string& run_id) {
  eval::ReplayOptions r;
  r.repo = c.o.repo;
  r.range = range;
  r.seed = c.o.seed;
  r.threads = c.o.replay_threads;
  r.max_suggestions = suggestions;
  r.max_hunks = hunks;
  r.run_id = run_id;
  r.show_progress = c.o.show_progress;
  return r;
}

Result<eval::BackendFactory> model_backend(const Context& c, const std::string& model_dir) {
  eval::ModelBackendOptions m;
  m.model_dir = model_dir;
  m.model_per_worker = c.o.replay_threads > 1;
  m.threads_per_model = 1;
  m.generation.min_token_prob = c.o.min_token_prob;
  m.generation.min_show_prob = c.o.min_show_prob;
  return eval::model_backend_factory(m);
}

// The held-out hunks come as two disjoint samples of the seeded order: the
// first judge_hunks decide every promotion; the next judge_hunks measure
// the run's gain since its start, which no decision saw, so it is not biased
// upward by the choice of winners on the same hunks (the winner's curse).
enum class JudgeSet { kDecision, kReport };
std::string_view judge_set_name(JudgeSet set) { return set == JudgeSet::kDecision ? "decision" : "report"; }

// Judge reports are cached by judge_key: the serving model is judged once,
// not every cycle.
Result<std::string> judge_key(Context& c, const registry::ModelRecord& model, JudgeSet set) {
  FW_ASSIGN_OR_RETURN(std::string weights, weights_hash(c, model.path));
  return cycle::judge_key(weights, {c.split.holdout_range, std::string(judge_set_name(set)), c.o.judge_hunks, c.o.seed,
                                    c.o.min_token_prob, c.o.min_show_prob});
}

Result<eval::ReplayReport> judge(Context& c, const registry::ModelRecord& model, JudgeSet set = JudgeSet::kDecision) {
  FW_ASSIGN_OR_RETURN(std::string key, judge_key(c, model, set));
  const fs::path cached = c.o.work_dir / "judge" / (key + ".json");
  if (fs::exists(cached)) {
    auto report = eval::read_report(cached);
    if (report.ok() && report->range == c.split.holdout_range) return report;
  }
  spdlog::info("cycle: judging {} on held-out history {} ({} hunks)", model.id, c.split.holdout_range,
               judge_set_name(set));
  FW_ASSIGN_OR_RETURN(auto backend, model_backend(c, model.path));
  auto options = replay_options(c, c.split.holdout_range, 0, c.o.judge_hunks,
                                "judge-" + std::string(judge_set_name(set)) + "-" + model.id + "-" + random_hex());
  options.skip_hunks = set == JudgeSet::kReport ? c.o.judge_hunks : 0;
  options.backend_name = "model:" + model.path;
  FW_ASSIGN_OR_RETURN(eval::ReplayReport report, eval::run_replay(options, backend));
  fs::create_directories(cached.parent_path());
  FW_RETURN_IF_ERROR(eval::write_report(cached, report));
  return report;
}

// Step 1: the serving model's suggestions over the slice, recorded as events.
Status collect(Context& c, const registry::ModelRecord& serving, const std::string& range, const fs::path& dir) {
  const fs::path done = dir / "collect.json";
  if (fs::exists(done)) return Status::OK();
  spdlog::info("cycle: collecting {} with {} over {}", dir.filename().string(), serving.id, range);
  auto writer = std::make_shared<feedback::EventWriter>(*c.store);
  FW_ASSIGN_OR_RETURN(auto inner, model_backend(c, serving.path));
  auto backend = eval::recording_backend_factory(inner, writer, serving.id);
  // A new run id each time (recorded in collect.json): a redone collect
  // writes new suggestions rather than colliding with an earlier run's ids,
  // and build_rows takes exactly this run's events.
  auto options =
      replay_options(c, range, c.o.collect_suggestions, 0, "collect-" + dir.filename().string() + "-" + random_hex());
  options.backend_name = "model:" + serving.path;
  FW_ASSIGN_OR_RETURN(eval::ReplayReport report, eval::run_replay(options, backend));
  FW_RETURN_IF_ERROR(writer->flush());
  return eval::write_report(done, report);
}

// Step 2: rows from this cycle's events: those of its collect run's session
// (a random id no client knows), whatever their source field says, so
// that no other writer to the store (an anonymous client, a `replay
// --server` over the held-out commits) adds rows while the cycle runs.
Result<json> build_rows(Context& c, const registry::ModelRecord& serving, const fs::path& dir) {
  const fs::path out = dir / "datasets";
  if (fs::exists(out / "summary.json")) {
    FW_ASSIGN_OR_RETURN(std::string text, read_file(out / "summary.json"));
    return json::parse(text).value("rows", json::object());
  }
  FW_ASSIGN_OR_RETURN(eval::ReplayReport collected, eval::read_report(dir / "collect.json"));
  FW_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::from_file(fs::path(serving.path) / "tokenizer.json"));
  FW_ASSIGN_OR_RETURN(PromptFormat format, detect_prompt_format(tokenizer));
  feedback::DatasetOptions d;
  d.session = collected.run_id;
  d.out = out;
  d.render = [tokenizer, format](const feedback::FimContext& f) -> Result<std::string> {
    FW_ASSIGN_OR_RETURN(Prompt prompt, build_fim_prompt(format, tokenizer, {f.prefix, f.suffix, f.path, f.repo, {}},
                                                        preferred_fim_order(format)));
    return prompt.text;
  };
  FW_ASSIGN_OR_RETURN(feedback::DatasetStats stats, feedback::build_datasets(*c.store, d));
  json rows = stats.rows;
  return rows;
}

TrainOptions stage_options(const CycleOptions& o, const std::string& mode, const fs::path& init, const fs::path& out,
                           int64_t steps) {
  TrainOptions t;
  t.mode = mode;
  t.init = init;
  t.out = out;
  t.steps = steps;
  t.batch_size = o.batch_size;
  t.seq_len = o.seq_len;
  t.lr = o.lr;
  t.min_lr = o.lr / 10;
  t.warmup = std::max<int64_t>(1, steps / 10);
  t.log_every = 5;
  t.eval_every = 0;
  t.eval_batches = 4;
  t.save_every = 0;
  t.keep = 1;
  t.seed = o.seed;
  t.threads = o.threads;
  return t;
}

// The newest checkpoint of a finished stage, or of a stage that was done before.
Result<fs::path> run_stage(const CycleOptions& o, const std::string& mode, const fs::path& init, const fs::path& out,
                           int64_t steps, const fs::path& data) {
  TrainOptions t = stage_options(o, mode, init, out, steps);
  if (mode == "continue") {
    t.data = data;
  } else if (mode == "sft") {
    t.sft_data = data;
  }
  if (mode == "show") {
    t.steps = o.show_steps;
    t.lr = o.show_lr;
    t.min_lr = o.show_lr / 10;
    t.warmup = std::max<int64_t>(1, t.steps / 10);
  }
  if (is_learn_mode(mode)) {
    LearnOptions l;
    l.train = t;
    l.train.data = data;
    l.teacher = o.teacher;
    FW_ASSIGN_OR_RETURN(LearnSummary s, run_learning(l));
    return s.train.checkpoint;
  }
  FW_ASSIGN_OR_RETURN(TrainSummary s, run_training(t));
  return s.checkpoint;
}

// Lines of a JSONL file (0 when missing).
int64_t count_rows(const fs::path& file) {
  auto text = read_file(file);
  return text.ok() ? static_cast<int64_t>(std::count(text->begin(), text->end(), '\n')) : 0;
}

// The rows file of each objective in a cycle's datasets/train.
const std::map<std::string, std::string>& objective_files() {
  static const std::map<std::string, std::string> files = {{"sft", "sft.jsonl"},       {"dpo", "preferences.jsonl"},
                                                           {"kto", "unpaired.jsonl"},  {"pg", "rewards.jsonl"},
                                                           {"show", "unpaired.jsonl"}, {"distill", "prompts.jsonl"}};
  return files;
}

// Distillation's prompts: each distinct prompt of the cycle's suggestions
// (unpaired.jsonl), without a completion, so the teacher writes one.
Result<fs::path> write_distill_prompts(const fs::path& train_dir, const fs::path& out) {
  if (fs::exists(out)) return out;
  std::string lines;
  const fs::path unpaired = train_dir / "unpaired.jsonl";
  if (fs::exists(unpaired)) {
    FW_ASSIGN_OR_RETURN(std::vector<learn::UnpairedRow> rows, learn::read_unpaired_rows(unpaired));
    std::set<std::string> seen;
    for (const learn::UnpairedRow& r : rows)
      if (seen.insert(r.prompt).second) lines += json{{"prompt", r.prompt}}.dump() + "\n";
  }
  FW_RETURN_IF_ERROR(write_file_atomically(out, lines));
  return out;
}

// Step 3: continued pretraining on the slice's code, then the recipe's objectives.
Result<fs::path> learn_candidate(Context& c, const registry::ModelRecord& serving, const fs::path& dir,
                                 const std::string& slice_end) {
  const fs::path model_dir = dir / "model";
  if (fs::exists(model_dir / "model.safetensors")) return model_dir;
  fs::path current = serving.path;
  json recipe = {{"parent", serving.id}, {"stages", json::array()}};
  if (c.o.cpt_steps > 0) {
    FW_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::from_file(fs::path(serving.path) / "tokenizer.json"));
    IngestOptions ingest;
    ingest.sources = {c.o.repo.string()};
    ingest.revision = slice_end;
    ingest.out = dir / "code";
    ingest.tokenizer_path = fs::path(serving.path) / "tokenizer.json";
    ingest.valid_fraction = 0.1;
    ingest.threads = c.o.threads;
    ingest.show_progress = c.o.show_progress;
    FW_ASSIGN_OR_RETURN(IngestStats stats, ingest_slice_code(ingest, tokenizer));
    if (stats.valid_documents == 0 || stats.train_documents == 0) {
      spdlog::warn("cycle: the code as of {} has {} file(s): nothing to validate on; continued pretraining skipped",
                   slice_end.substr(0, 12), stats.documents);
      recipe["stages"].push_back({{"mode", "continue"}, {"skipped", "a single file: nothing to validate on"}});
    } else {
      spdlog::info("cycle: continued pretraining on {} files ({} tokens) as of {}, validated on {}",
                   stats.train_documents, stats.train_tokens, slice_end.substr(0, 12), stats.valid_documents);
      FW_ASSIGN_OR_RETURN(current, run_stage(c.o, "continue", current, dir / "cpt", c.o.cpt_steps, ingest.out));
      recipe["stages"].push_back({{"mode", "continue"},
                                  {"steps", c.o.cpt_steps},
                                  {"code_at", slice_end},
                                  {"train_documents", stats.train_documents},
                                  {"valid_documents", stats.valid_documents}});
    }
  }
  for (const std::string& objective : c.o.objectives) {
    fs::path data = dir / "datasets" / "train" / objective_files().at(objective);
    if (objective == "distill") {
      FW_ASSIGN_OR_RETURN(data, write_distill_prompts(dir / "datasets" / "train", data));
    }
    const int64_t rows = count_rows(data);
    if (rows == 0) {
      spdlog::warn("cycle: no rows for {} in {}; stage skipped", objective, data.string());
      recipe["stages"].push_back({{"mode", objective}, {"skipped", "no rows"}});
      continue;
    }
    const fs::path learn_data = objective == "sft" ? data : data.parent_path();
    auto next = run_stage(c.o, objective, current, dir / objective, c.o.objective_steps, learn_data);
    // Skipped, the recipe going on from the last good weights: a stage that
    // diverged, and KTO or the show head on a cycle whose suggestions were all
    // accepted (or all rejected), since they need both labels.
    const bool one_label = (objective == "kto" || objective == "show") && !next.ok() &&
                           next.status().code() == StatusCode::kInvalidArgument;
    if (!next.ok() && (one_label || train::is_divergence(next.status()))) {
      spdlog::warn("cycle: {} skipped: {}", objective, next.status().to_string());
      recipe["stages"].push_back({{"mode", objective}, {"skipped", next.status().message()}});
      continue;
    }
    FW_ASSIGN_OR_RETURN(current, std::move(next));
    recipe["stages"].push_back(
        {{"mode", objective}, {"steps", objective == "show" ? c.o.show_steps : c.o.objective_steps}, {"rows", rows}});
  }
  // The servable candidate: weights without trainer state, with its lineage.
  FW_ASSIGN_OR_RETURN(Model model, Model::load(current));
  json lineage = {{"parent", serving.id},
                  {"created_by", "flywheel cycle"},
                  {"recipe", recipe},
                  {"datasets", (dir / "datasets").string()}};
  FW_RETURN_IF_ERROR(model.save(model_dir, lineage.dump(2) + "\n"));
  return model_dir;
}

// Steps 4 and 5: judge, then promote or refuse. The decision (scores, the
// whole cycle result, and the promotion or refusal) is one registry
// transaction, so a kill after it leaves a decision a re-run reads back
// (recorded_decision) rather than judging the new serving model against itself.
Status decide(Context& c, CycleResult& result, const registry::ModelRecord& serving,
              const registry::ModelRecord& candidate, const registry::ModelRecord& start, const std::string& weights) {
  FW_ASSIGN_OR_RETURN(eval::ReplayReport base, judge(c, serving));
  FW_ASSIGN_OR_RETURN(eval::ReplayReport cand, judge(c, candidate));
  FW_ASSIGN_OR_RETURN(eval::ReplayReport first, judge(c, start));
  FW_ASSIGN_OR_RETURN(std::string cand_key, judge_key(c, candidate, JudgeSet::kDecision));
  const PromotionRule rule{c.o.margin, c.o.require_significance, c.o.min_shown_ratio, c.o.min_chars_saved_ratio,
                           c.o.seed};
  FW_ASSIGN_OR_RETURN(PromotionDecision d, decide_promotion(cand, base, first, rule));
  result.baseline = report_summary(base);
  result.candidate_report = report_summary(cand);
  result.comparison = eval::comparison_to_json(d.comparison);
  result.promoted = d.promoted;
  result.reason = d.reason;
  result.serving_after = d.promoted ? candidate.id : serving.id;
  json scores = {{"judge_range", c.split.holdout_range},
                 {"acceptance", result.candidate_report["acceptance"]},
                 {"baseline", serving.id},
                 {"comparison", result.comparison},
                 {"weights", weights},
                 {"judge_key", cand_key},
                 {"cycle", result.to_json()}};
  return c.reg->decide(candidate.id, scores.dump(), d.promoted, result.reason);
}

// The serving model `now` against the run's starting model on the report
// hunks (JudgeSet): held out like the decision hunks, used by no decision.
Result<json> compare_to_start(Context& c, const std::string& start_id, const std::string& now_id) {
  FW_ASSIGN_OR_RETURN(registry::ModelRecord start, c.reg->get(start_id));
  FW_ASSIGN_OR_RETURN(registry::ModelRecord now, c.reg->get(now_id));
  json out = {{"start", start_id}, {"model", now_id}, {"hunks", "report"}};
  FW_ASSIGN_OR_RETURN(eval::ReplayReport base, judge(c, start, JudgeSet::kReport));
  if (base.hunks.empty()) {
    out["error"] = "the held-out history has no hunks beyond the " + std::to_string(c.o.judge_hunks) +
                   " that decide: hold out more (--holdout) or judge fewer (--judge-hunks)";
    return out;
  }
  FW_ASSIGN_OR_RETURN(eval::ReplayReport cand, judge(c, now, JudgeSet::kReport));
  out["start_report"] = report_summary(base);
  out["model_report"] = report_summary(cand);
  for (auto [name, metric] : {std::pair{"acceptance", eval::ReplayMetric::kAcceptance},
                              std::pair{"chars_saved", eval::ReplayMetric::kCharsSaved}}) {
    FW_ASSIGN_OR_RETURN(eval::ReportComparison cmp, eval::compare_reports(cand, base, metric, 1000, c.o.seed));
    out[name] = eval::comparison_to_json(cmp);
  }
  return out;
}

// Deterministic for the weights, so a re-run after a kill finds the same
// record, and new weights (a redone cycle) are a new model.
std::string candidate_id(int cycle, const std::string& weights) {
  return "cycle" + std::to_string(cycle) + "-" + weights.substr(0, 12);
}

CycleResult result_from_json(const json& j, int index) {
  CycleResult r;
  r.index = index;
  r.collect_range = j.value("collect_range", "");
  r.judge_range = j.value("judge_range", "");
  r.serving_before = j.value("serving_before", "");
  r.candidate = j.value("candidate", "");
  r.serving_after = j.value("serving_after", "");
  r.baseline = j.value("baseline", json());
  r.candidate_report = j.value("candidate_report", json());
  r.comparison = j.value("comparison", json());
  r.datasets = j.value("datasets", json());
  r.promoted = j.value("promoted", false);
  r.reason = j.value("reason", "");
  r.seconds = j.value("seconds", 0.0);
  return r;
}

// A cycle decided in an earlier run that was killed before it wrote
// result.json: the decision its candidate's registry record holds, when the
// candidate's weights and the judge's settings are still the ones it used.
Result<std::optional<CycleResult>> recorded_decision(Context& c, int index, const fs::path& dir) {
  const fs::path model_dir = dir / "model";
  if (!fs::exists(model_dir / "model.safetensors")) return std::optional<CycleResult>();
  FW_ASSIGN_OR_RETURN(std::string weights, weights_hash(c, model_dir));
  auto record = c.reg->get(candidate_id(index, weights));
  if (!record.ok()) return std::optional<CycleResult>();
  // Judged with today's settings too (a changed setting decides again).
  FW_ASSIGN_OR_RETURN(std::string key, judge_key(c, *record, JudgeSet::kDecision));
  const json scores = json::parse(record->scores_json, nullptr, false);
  if (!scores.is_object() || scores.value("weights", "") != weights || scores.value("judge_key", "") != key ||
      !scores.contains("cycle"))
    return std::optional<CycleResult>();
  return std::optional<CycleResult>(result_from_json(scores["cycle"], index));
}

}  // namespace

json CycleResult::to_json() const {
  return {{"cycle", index},
          {"collect_range", collect_range},
          {"judge_range", judge_range},
          {"serving_before", serving_before},
          {"candidate", candidate},
          {"serving_after", serving_after},
          {"baseline", baseline},
          {"candidate_report", candidate_report},
          {"comparison", comparison},
          {"datasets", datasets},
          {"promoted", promoted},
          {"reason", reason},
          {"seconds", seconds},
          {"since_start", since_start}};
}

Status CycleOptions::validate() const {
  if (repo.empty()) return Status::invalid_argument("no repository given (--repo PATH)");
  if (judge_hunks < 1)
    return Status::invalid_argument("--judge-hunks must be at least 1 (a fixed sample of held-out hunks)");
  for (size_t i = 0; i < objectives.size(); ++i) {
    const std::string& objective = objectives[i];
    if (!objective_files().contains(objective))
      return Status::invalid_argument("unknown objective '" + objective + "' (sft, dpo, kto, pg, distill, show)");
    if (objective == "show" && i + 1 != objectives.size())
      return Status::invalid_argument(
          "the show objective must come last: it trains a head on the final weights, and a later stage would "
          "change them");
    if (objective == "distill" && teacher.empty())
      return Status::invalid_argument("the distill objective needs --teacher (a checkpoint directory or a URL)");
  }
  if (show_steps < 1) return Status::invalid_argument("--show-steps must be at least 1");
  if (!(show_lr > 0)) return Status::invalid_argument("--show-lr must be positive");
  return Status::OK();
}

Result<std::vector<CycleResult>> run_cycles(const CycleOptions& o,
                                            const std::function<void(const CycleResult&)>& on_cycle) {
  FW_RETURN_IF_ERROR(o.validate());
  Context c{o, o.db.empty() ? (o.work_dir / "flywheel.db").string() : o.db, nullptr, nullptr, {}, {}};
  std::error_code ec;
  fs::create_directories(o.work_dir, ec);
  if (ec) return Status::io_error("cannot create " + o.work_dir.string() + ": " + ec.message());
  FW_ASSIGN_OR_RETURN(c.split, split_history(o.repo, o.cycles, o.holdout_fraction));
  FW_ASSIGN_OR_RETURN(c.reg, registry::Registry::open(c.db));
  FW_ASSIGN_OR_RETURN(c.store, feedback::open_store(c.db));

  std::vector<CycleResult> results;
  // The serving model after `r` against the one the first cycle started from.
  auto since_start = [&](const CycleResult& r) {
    return compare_to_start(c, results.empty() ? r.serving_before : results.front().serving_before, r.serving_after);
  };
  for (int i = 1; i <= o.cycles; ++i) {
    const auto started = std::chrono::steady_clock::now();
    const fs::path dir = o.work_dir / ("cycle-" + std::to_string(i));
    const fs::path result_file = dir / "result.json";
    // A cycle decided in an earlier run is reported as decided then;
    // `write` when that run was killed before it wrote result.json.
    const auto reuse = [&](CycleResult r, bool write) -> Status {
      r.reused = true;
      FW_ASSIGN_OR_RETURN(r.since_start, since_start(r));
      if (write) FW_RETURN_IF_ERROR(write_file_atomically(result_file, r.to_json().dump(2) + "\n"));
      if (on_cycle) on_cycle(r);
      results.push_back(std::move(r));
      return Status::OK();
    };
    if (fs::exists(result_file)) {
      FW_ASSIGN_OR_RETURN(std::string text, read_file(result_file));
      FW_RETURN_IF_ERROR(reuse(result_from_json(json::parse(text), i), false));
      continue;
    }
    FW_ASSIGN_OR_RETURN(std::optional<CycleResult> decided, recorded_decision(c, i, dir));
    if (decided) {
      FW_RETURN_IF_ERROR(reuse(std::move(*decided), true));
      continue;
    }
    fs::create_directories(dir, ec);
    CycleResult result;
    result.index = i;
    result.collect_range = c.split.slice_ranges[static_cast<size_t>(i - 1)];
    result.judge_range = c.split.holdout_range;
    FW_ASSIGN_OR_RETURN(registry::ModelRecord serving, serving_model(c));
    result.serving_before = serving.id;

    FW_RETURN_IF_ERROR(
        collect(c, serving, result.collect_range, dir).with_context("cycle " + std::to_string(i) + ": collect"));
    FW_ASSIGN_OR_RETURN(result.datasets, build_rows(c, serving, dir));
    auto model_dir = learn_candidate(c, serving, dir, c.split.slice_ends[static_cast<size_t>(i - 1)]);
    if (!model_dir.ok()) return model_dir.status().with_context("cycle " + std::to_string(i) + ": learn");
    FW_ASSIGN_OR_RETURN(std::string weights, weights_hash(c, *model_dir));
    const std::string id = candidate_id(i, weights);
    FW_ASSIGN_OR_RETURN(registry::ModelRecord candidate, c.reg->add(model_dir->string(), serving.id, id));
    if (candidate.id != id) {
      // A redone cycle learned other weights into the same directory: the
      // record of the old ones goes (when they never served), so the new
      // weights are a new model with their own judge reports.
      FW_RETURN_IF_ERROR(c.reg->forget(candidate.id)
                             .with_context("cycle " + std::to_string(i) + ": " + model_dir->string() +
                                           " holds new weights, registered as " + candidate.id +
                                           " with other weights; start the run in a new --work-dir"));
      FW_ASSIGN_OR_RETURN(candidate, c.reg->add(model_dir->string(), serving.id, id));
    }
    result.candidate = candidate.id;
    FW_ASSIGN_OR_RETURN(registry::ModelRecord start,
                        c.reg->get(results.empty() ? serving.id : results.front().serving_before));
    FW_RETURN_IF_ERROR(
        decide(c, result, serving, candidate, start, weights).with_context("cycle " + std::to_string(i) + ": judge"));
    kill_point(dir, "decided");
    FW_ASSIGN_OR_RETURN(registry::ModelRecord after, serving_model(c));
    result.serving_after = after.id;
    result.seconds = seconds_since(started);
    FW_ASSIGN_OR_RETURN(result.since_start, since_start(result));
    FW_RETURN_IF_ERROR(write_file_atomically(result_file, result.to_json().dump(2) + "\n"));
    spdlog::info("cycle {}: {} ({})", i, result.promoted ? "promoted " + candidate.id : "refused " + candidate.id,
                 result.reason);
    if (on_cycle) on_cycle(result);
    results.push_back(std::move(result));
  }
  return results;
}

}  // namespace flywheel::cycle
