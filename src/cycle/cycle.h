// The cycle module's public API: turns of the flywheel on a git repository
// (DESIGN.md "The cycle"). Each cycle:
//   1. collect  replay the serving model over the next slice of history,
//               recording suggestions and outcomes (source = replay) under a
//               run id made new for each run (so a redone collect never
//               collides with an earlier one's suggestion ids);
//   2. datasets build SFT / preference / unpaired / reward rows from that
//               run's events only (by its id, never by the source field a
//               client sets: other writers to the store add nothing);
//   3. learn    a candidate from the serving model: continued pretraining on
//               the code as of the slice's last commit (FIM), then the recipe's
//               objectives on the rows (sft by default; dpo, kto, pg, distill
//               from a teacher, and show: the show/no-show head, last);
//   4. judge    candidate and serving model on held-out history (commits
//               newer than anything trained on), paired bootstrap interval;
//               reports are cached by the weights' hash and every setting
//               that changes them (work_dir/judge/);
//   5. decide   promote when the candidate wins by the margin, else refuse
//               and record why (registry; a serve with the same --db follows).
//               The decision (scores, the cycle's result, the promotion or
//               refusal) is one registry transaction; result.json is written
//               after it, and a re-run killed in between reads the decision
//               back from the candidate's record.
// History is split by time: the newest `holdout_fraction` of first-parent
// commits is the judge set; the older commits are cut into `cycles` slices.
//
// A stage that diverges (a NaN or infinite loss) or cannot learn from the
// rows (KTO or the show head with one label) is skipped: the recipe goes on
// from the last good weights and the candidate's lineage records why.
//
// Every step writes its output under work_dir/cycle-N/ and is skipped when a
// re-run finds it done; the registry changes in single transactions, so a
// cycle killed at any point leaves it consistent (never half promoted).
// Tests kill the process after a step with FLYWHEEL_TEST_KILL_AT=cycle-N/decided.
//
// Thread-safety: one run per process (it trains models).
// Errors: Status values naming the step that failed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace flywheel::cycle {

struct CycleOptions {
  std::filesystem::path repo;
  std::filesystem::path work_dir = "flywheel-cycles";
  std::string db;                    // "" = work_dir/flywheel.db
  std::filesystem::path base_model;  // registered and promoted when `auto` serves nothing yet
  int cycles = 3;
  double holdout_fraction = 0.2;      // newest commits kept for judging
  int64_t collect_suggestions = 400;  // replay requests per cycle (whole hunks)
  // The judge set is a fixed number of held-out hunks (in the seeded replay
  // order), so that the serving model and every candidate answer at exactly
  // the same cursor points; a request cap would depend on the model. The
  // next judge_hunks of that order are the report set (since_start).
  int64_t judge_hunks = 12;
  int replay_threads = 2;
  // Replay (collect and judge): a suggestion ends before its first token
  // below this probability (SamplingParams::min_token_prob); 0: off.
  float min_token_prob = 0.0f;
  // Replay: withhold a suggestion when the model's show head puts P(accept)
  // below this (SamplingParams::min_show_prob); 0 or no head: off.
  float min_show_prob = 0.0f;
  uint64_t seed = 0;
  int threads = 0;  // training threads (0: all cores)

  // The recipe: stages after continued pretraining, in order, from
  // "sft", "dpo", "kto", "pg", "distill", "show". Empty: continued
  // pretraining alone. "show" trains the show/no-show head on the final
  // weights, so it must come last; "distill" needs `teacher` and learns from
  // the teacher's completions at the cycle's collected prompts.
  std::vector<std::string> objectives = {"sft"};
  std::string teacher;       // distill: a checkpoint directory or an OpenAI-compatible URL
  int64_t show_steps = 200;  // the show head's steps (a logistic regression on cached features)
  double show_lr = 1e-2;
  int64_t cpt_steps = 40;        // 0: no continued pretraining
  int64_t objective_steps = 30;  // per objective stage
  int64_t batch_size = 4, seq_len = 256;
  double lr = 3e-4;

  // Promotion: the candidate's acceptance rate must beat the serving model's
  // by `margin` (relative), and with require_significance the paired
  // bootstrap interval of the difference must lie above zero.
  double margin = 0.0;
  bool require_significance = true;
  // The acceptance rate rewards showing less, so two guards: a candidate
  // that shows fewer than `min_shown_ratio` of the suggestions on the judged
  // hunks, or whose characters saved per typed character fall below
  // `min_chars_saved_ratio`, of the serving model's or of the run's starting
  // model's, is refused whatever its rate (0: no such floor). The floor
  // against the starting model keeps losses from compounding: each cycle
  // could otherwise give up 20% of the serving model's savings. A
  // show/no-show head that withholds the suggestions developers reject
  // passes both; one that only goes quiet does not.
  double min_shown_ratio = 0.1;
  double min_chars_saved_ratio = 0.8;
  bool show_progress = true;

  // OK, or invalid_argument naming the objective or option.
  Status validate() const;
};

struct CycleResult {
  int index = 0;  // 1-based
  std::string collect_range, judge_range;
  std::string serving_before, candidate, serving_after;
  nlohmann::json baseline;          // judge report summary of the serving model
  nlohmann::json candidate_report;  // judge report summary of the candidate
  nlohmann::json comparison;        // eval::comparison_to_json
  nlohmann::json datasets;          // rows per file
  bool promoted = false;
  std::string reason;
  double seconds = 0;
  bool reused = false;  // read back from an earlier run
  // The model serving after this cycle against the one the first cycle
  // started from, on a second sample of held-out hunks that no decision
  // used (the judge_hunks after the decision's in the seeded order; cached
  // judge reports): {"start", "model", "hunks": "report", "start_report",
  // "model_report", "acceptance": comparison, "chars_saved": comparison},
  // or {"start", "model", "hunks", "error"} when the held-out history has
  // no hunks beyond the decision's. The decision hunks would bias it upward:
  // the promoted candidates are the ones that did well on them.
  nlohmann::json since_start;
  nlohmann::json to_json() const;
};

// Runs the cycles; `on_cycle` sees each result as it is decided.
Result<std::vector<CycleResult>> run_cycles(const CycleOptions& options,
                                            const std::function<void(const CycleResult&)>& on_cycle = {});

}  // namespace flywheel::cycle
