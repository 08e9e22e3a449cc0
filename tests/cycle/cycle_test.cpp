// The cycle end to end on a small repository and a tiny model: results for
// every cycle, a registry that always serves exactly one model, re-runs that
// reuse what is done, and a kill -9 at any moment never leaving a
// half-promoted model.
#include "cycle/cycle.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "core/atomic_file.h"
#include "core/hash.h"
#include "cycle/history_split.h"
#include "feedback/events.h"
#include "feedback/store.h"
#include "registry/registry.h"
#include "tests/common/tiny_model.h"

namespace flywheel::cycle {
namespace {

namespace fs = std::filesystem;

// A repository whose commits each add a C++ file and extend an earlier one.
void make_repo(const fs::path& repo, int commits) {
  fs::create_directories(repo);
  auto git = [&](const std::string& args) {
    const std::string command =
        "cd '" + repo.string() + "' && git -c user.name=t -c user.email=t@t " + args + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  };
  git("init -q -b main");
  for (int c = 0; c < commits; ++c) {
    std::ofstream(repo / ("unit" + std::to_string(c) + ".cpp"))
        << "#include <vector>\n\nint sum" << c << "(const std::vector<int>& values) {\n  int total = 0;\n"
        << "  for (int v : values) total += v * " << c + 1 << ";\n  return total;\n}\n";
    if (c > 0)
      std::ofstream(repo / ("unit" + std::to_string(c - 1) + ".cpp"), std::ios::app)
          << "\nint twice" << c << "(int x) { return x * 2 + " << c << "; }\n";
    git("add -A");
    git("commit -q -m 'commit " + std::to_string(c) + "'");
  }
}

// True when ingest's rule (the first 8 bytes of the text's SHA-256, as a
// fraction of 2^64, below the valid fraction) puts `text` in the valid
// split at the cycle's fraction, 0.1 (0x1999...99 / 2^64 = 0.1).
bool in_valid_split_at_a_tenth(const std::string& text) { return sha256_hex(text).substr(0, 16) <= "1999999999999999"; }

// A small repository: each commit adds a short Python module and edits the
// one before, a dozen files in all. Each version of each file gets a
// trailing comment that keeps it out of the valid split at 0.1, so every
// slice's code has no validation file by ingest's hash rule: the case of a
// small real repository.
void make_small_repo(const fs::path& repo, int commits) {
  fs::create_directories(repo);
  auto git = [&](const std::string& args) {
    const std::string command =
        "cd '" + repo.string() + "' && git -c user.name=t -c user.email=t@t " + args + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  };
  auto write = [&](const std::string& name, std::string text) {
    for (int n = 0; in_valid_split_at_a_tenth(text); ++n) text += "# " + std::to_string(n) + "\n";
    std::ofstream(repo / name) << text;
  };
  git("init -q -b main");
  std::vector<std::string> files;
  for (int c = 0; c < commits; ++c) {
    files.push_back("def scale" + std::to_string(c) + "(values):\n    total = 0\n    for v in values:\n" +
                    "        total += v * " + std::to_string(c + 1) + "\n    return total\n");
    write("mod" + std::to_string(c) + ".py", files.back());
    if (c > 0) {
      files[c - 1] += "\n\ndef twice" + std::to_string(c) + "(x):\n    return x * 2 + " + std::to_string(c) + "\n";
      write("mod" + std::to_string(c - 1) + ".py", files[c - 1]);
    }
    git("add -A");
    git("commit -q -m 'commit " + std::to_string(c) + "'");
  }
}

class CycleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("flywheel_cycle_test_" + std::to_string(getpid()));
    fs::remove_all(root_);
    make_repo(root_ / "repo", 12);
    testing::make_tiny_model(root_ / "base");
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static CycleOptions options(const std::string& work) {
    CycleOptions o;
    o.repo = root_ / "repo";
    o.base_model = root_ / "base";
    o.work_dir = root_ / work;
    o.cycles = 2;
    o.holdout_fraction = 0.25;
    o.collect_suggestions = 30;
    o.judge_hunks = 4;
    o.replay_threads = 1;
    o.threads = 1;
    o.cpt_steps = 2;
    o.objective_steps = 2;
    o.batch_size = 2;
    o.seq_len = 64;
    o.show_progress = false;
    o.require_significance = false;
    return o;
  }

  // Exactly one model serves `auto`; every candidate is serving, retired or refused.
  static void expect_consistent(const std::string& db) {
    auto reg = registry::Registry::open(db);
    ASSERT_TRUE(reg.ok()) << reg.status().to_string();
    auto dep = (*reg)->deployment("auto");
    ASSERT_TRUE(dep.ok());
    ASSERT_EQ(dep->size(), 1u);
    int serving = 0;
    auto models = (*reg)->list();  // held here: a range-for over *temporary would dangle
    ASSERT_TRUE(models.ok());
    for (const auto& m : *models) serving += m.state == registry::ModelState::kServing ? 1 : 0;
    EXPECT_EQ(serving, 1);
    EXPECT_EQ((*reg)->get((*dep)[0].model_id)->state, registry::ModelState::kServing);
  }

  // The quickest cycle: no training (the candidate is the serving model's
  // weights), judged on the held-out hunks.
  static CycleOptions untrained(const std::string& work) {
    CycleOptions o = options(work);
    o.cycles = 1;
    o.cpt_steps = 0;
    o.objectives.clear();
    return o;
  }

  static nlohmann::json read_json(const fs::path& file) {
    auto text = read_file(file);
    EXPECT_TRUE(text.ok()) << text.status().to_string();
    return text.ok() ? nlohmann::json::parse(*text) : nlohmann::json();
  }

  static fs::path root_;
};
fs::path CycleTest::root_;

TEST_F(CycleTest, SplitsHistoryByTime) {
  auto split = split_history(root_ / "repo", 2, 0.25);
  ASSERT_TRUE(split.ok()) << split.status().to_string();
  EXPECT_EQ(split->commits.size(), 12u);
  ASSERT_EQ(split->slice_ranges.size(), 2u);
  EXPECT_EQ(split->slice_ranges[0], split->commits[0] + ".." + split->commits[4]);
  EXPECT_EQ(split->slice_ranges[1], split->commits[4] + ".." + split->commits[8]);
  EXPECT_EQ(split->holdout_range, split->commits[8] + ".." + split->commits[11]);
  EXPECT_EQ(split_history(root_ / "repo", 20, 0.25).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(split_history(root_ / "not-a-repo", 2, 0.25).ok());
}

TEST_F(CycleTest, RunsCyclesAndReusesThemOnARerun) {
  CycleOptions o = options("run");
  std::vector<int> seen;
  auto results = run_cycles(o, [&](const CycleResult& r) { seen.push_back(r.index); });
  ASSERT_TRUE(results.ok()) << results.status().to_string();
  ASSERT_EQ(results->size(), 2u);
  EXPECT_EQ(seen, (std::vector<int>{1, 2}));
  for (const auto& r : *results) {
    EXPECT_FALSE(r.reused);
    EXPECT_FALSE(r.candidate.empty());
    EXPECT_FALSE(r.reason.empty());
    EXPECT_GT(r.baseline.value("requests", 0), 0);
    EXPECT_TRUE(r.comparison.contains("paired_hunks")) << r.comparison.dump();
    EXPECT_EQ(r.serving_after, r.promoted ? r.candidate : r.serving_before);
    // Against the run's starting model: the same hunks, the serving model after this cycle.
    EXPECT_EQ(r.since_start.value("start", ""), (*results)[0].serving_before) << r.since_start.dump();
    EXPECT_EQ(r.since_start.value("model", ""), r.serving_after);
    EXPECT_TRUE(r.since_start["acceptance"].contains("difference")) << r.since_start.dump();
    EXPECT_TRUE(r.since_start["chars_saved"].contains("difference")) << r.since_start.dump();
    EXPECT_TRUE(fs::exists(o.work_dir / ("cycle-" + std::to_string(r.index)) / "model" / "model.safetensors"));
    EXPECT_TRUE(fs::exists(o.work_dir / ("cycle-" + std::to_string(r.index)) / "datasets" / "summary.json"));
  }
  EXPECT_EQ((*results)[1].serving_before, (*results)[0].serving_after);
  expect_consistent((o.work_dir / "flywheel.db").string());
  // since_start is measured on held-out hunks that no decision used.
  std::set<std::string> decision_hunks, report_hunks;
  for (const auto& entry : fs::directory_iterator(o.work_dir / "judge")) {
    const nlohmann::json report = read_json(entry.path());
    const std::string run = report["run_id"];
    const bool decision = run.rfind("judge-decision-", 0) == 0;
    EXPECT_TRUE(decision || run.rfind("judge-report-", 0) == 0) << run;
    auto& hunks = decision ? decision_hunks : report_hunks;
    for (const auto& h : report["hunks"]) hunks.insert(h["id"].get<std::string>());
  }
  EXPECT_EQ(decision_hunks.size(), static_cast<size_t>(o.judge_hunks));
  EXPECT_FALSE(report_hunks.empty());
  for (const std::string& id : report_hunks) EXPECT_FALSE(decision_hunks.contains(id)) << id;
  for (const auto& r : *results) {
    EXPECT_EQ(r.since_start.value("hunks", ""), "report") << r.since_start.dump();
    EXPECT_EQ(r.since_start["acceptance"].value("paired_hunks", 0), static_cast<int64_t>(report_hunks.size()));
  }
  auto candidate =
      registry::Registry::open((o.work_dir / "flywheel.db").string()).value()->get((*results)[0].candidate);
  ASSERT_TRUE(candidate.ok());
  EXPECT_NE(candidate->lineage_json.find("flywheel cycle"), std::string::npos);
  EXPECT_NE(candidate->scores_json.find("comparison"), std::string::npos);

  auto again = run_cycles(o);
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < again->size(); ++i) {
    EXPECT_TRUE((*again)[i].reused);
    EXPECT_EQ((*again)[i].candidate, (*results)[i].candidate);
    EXPECT_EQ((*again)[i].since_start["acceptance"], (*results)[i].since_start["acceptance"]);
  }
}

TEST_F(CycleTest, EveryObjectiveRunsInTheRecipe) {
  CycleOptions o = options("all_objectives");
  o.cycles = 1;
  o.objectives = {"sft", "dpo", "kto", "pg", "distill", "show"};
  o.teacher = (root_ / "base").string();  // a local checkpoint with the same tokenizer: logit distillation
  o.show_steps = 3;
  o.min_show_prob = 0.5f;
  auto results = run_cycles(o);
  ASSERT_TRUE(results.ok()) << results.status().to_string();
  ASSERT_EQ(results->size(), 1u);
  auto candidate =
      registry::Registry::open((o.work_dir / "flywheel.db").string()).value()->get((*results)[0].candidate);
  ASSERT_TRUE(candidate.ok());
  const nlohmann::json lineage = nlohmann::json::parse(candidate->lineage_json);
  const nlohmann::json& stages = lineage["recipe"]["stages"];
  ASSERT_EQ(stages.size(), 7u) << stages.dump();  // continue + the six objectives, each run or skipped with a reason
  for (size_t i = 1; i < stages.size(); ++i) {
    EXPECT_EQ(stages[i]["mode"], o.objectives[i - 1]);
    EXPECT_TRUE(stages[i].contains("steps") || stages[i].contains("skipped")) << stages[i].dump();
  }
  EXPECT_TRUE(stages[5].contains("steps")) << stages[5].dump();  // distill: prompts from the collected suggestions
  EXPECT_TRUE(fs::exists(o.work_dir / "cycle-1" / "datasets" / "train" / "prompts.jsonl"));
}

TEST_F(CycleTest, ADivergingStageIsSkippedAndTheCandidateKeepsTheLastGoodWeights) {
  CycleOptions o = options("diverging");
  o.cycles = 1;
  o.cpt_steps = 0;
  o.objectives = {"sft"};
  o.objective_steps = 3;
  o.lr = 1e12;  // the first update blows the weights up: the next loss is not finite
  auto results = run_cycles(o);
  ASSERT_TRUE(results.ok()) << results.status().to_string();
  auto candidate =
      registry::Registry::open((o.work_dir / "flywheel.db").string()).value()->get((*results)[0].candidate);
  ASSERT_TRUE(candidate.ok());
  const nlohmann::json stages = nlohmann::json::parse(candidate->lineage_json)["recipe"]["stages"];
  ASSERT_EQ(stages.size(), 1u) << stages.dump();
  EXPECT_NE(stages[0].value("skipped", "").find("training diverged"), std::string::npos) << stages.dump();
}

TEST_F(CycleTest, RecipesAreCheckedBeforeAnythingRuns) {
  CycleOptions o = options("bad_recipe");
  o.objectives = {"show", "sft"};
  auto result = run_cycles(o);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("show objective must come last"), std::string::npos);
  o.objectives = {"distill"};
  result = run_cycles(o);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("--teacher"), std::string::npos);
  o.objectives = {"ppo"};
  result = run_cycles(o);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("unknown objective 'ppo'"), std::string::npos);
  EXPECT_FALSE(fs::exists(o.work_dir / "cycle-1"));
}

TEST_F(CycleTest, RowsComeOnlyFromTheCollectRunWhateverOthersClaim) {
  // Another writer to the store (an anonymous client, a `replay --server`)
  // adds a suggestion that claims source "replay", the collect run's name
  // and a time inside the cycle, accepted with a poisoned final text.
  CycleOptions o = untrained("poisoned");
  fs::create_directories(o.work_dir);
  {
    auto store = feedback::open_store((o.work_dir / "flywheel.db").string());
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    feedback::SuggestionEvent s;
    s.id = "collect-cycle-1-hunk@0";
    s.source = "replay";
    s.session = "collect-cycle-1";
    s.path = "unit1.cpp";
    s.prefix_window = "int poisoned(";
    s.text = "x";
    s.shown_at_ms = feedback::unix_millis_now() + 24 * 3600 * 1000;
    feedback::OutcomeEvent accepted;
    accepted.suggestion_id = s.id;
    accepted.kind = feedback::OutcomeKind::kAccepted;
    accepted.accepted_length = 1;
    accepted.final_text = "POISON";
    accepted.at_ms = s.shown_at_ms;
    ASSERT_TRUE((*store)->append(std::vector{s}, std::vector{accepted}).ok());
  }
  auto results = run_cycles(o);
  ASSERT_TRUE(results.ok()) << results.status().to_string();
  const fs::path cycle = o.work_dir / "cycle-1";
  auto sft = read_file(cycle / "datasets" / "train" / "sft.jsonl");
  ASSERT_TRUE(sft.ok());
  EXPECT_EQ(sft->find("POISON"), std::string::npos);
  // Exactly the collect run's requests, each recorded once.
  const nlohmann::json collected = read_json(cycle / "collect.json");
  EXPECT_GT(collected["totals"]["requests"].get<int64_t>(), 0);
  EXPECT_EQ(read_json(cycle / "datasets" / "summary.json")["suggestions"], collected["totals"]["requests"]);
}

TEST_F(CycleTest, ARedoneCycleRecordsItsOwnSuggestions) {
  // Replay ids are "<run id>-<hunk>@<offset>": a run id repeated by the
  // redone collect would collide with the first run's suggestions.
  CycleOptions o = untrained("redone");
  ASSERT_TRUE(run_cycles(o).ok());
  const fs::path cycle = o.work_dir / "cycle-1";
  const std::string first_run = read_json(cycle / "collect.json")["run_id"];
  fs::remove_all(cycle);
  auto again = run_cycles(o);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  const nlohmann::json collected = read_json(cycle / "collect.json");
  EXPECT_NE(collected["run_id"], first_run);
  EXPECT_GT(collected["totals"]["requests"].get<int64_t>(), 0);
  EXPECT_EQ(read_json(cycle / "datasets" / "summary.json")["suggestions"], collected["totals"]["requests"]);
}

TEST_F(CycleTest, AChangedGenerationSettingIsJudgedAfresh) {
  CycleOptions o = untrained("settings");
  auto first = run_cycles(o);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  ASSERT_GT((*first)[0].baseline.value("shown", 0), 0);
  // The same models, now ending each suggestion before its first token
  // under probability 0.99: a random model of 512 tokens is never that
  // sure, so nothing is shown. A report cached for the old setting would
  // still show suggestions.
  o.cycles = 2;
  o.min_token_prob = 0.99f;
  auto second = run_cycles(o);
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  ASSERT_EQ(second->size(), 2u);
  EXPECT_TRUE((*second)[0].reused);
  EXPECT_EQ((*second)[1].baseline.value("shown", -1), 0) << (*second)[1].baseline.dump();
}

TEST_F(CycleTest, ARedoneCycleWithNewWeightsIsANewCandidate) {
  // The first run's candidate is the serving model's weights (no training),
  // refused for no gain; redone with continued pretraining, the same
  // directory holds new weights, which must not inherit the old record and
  // its judge report.
  CycleOptions o = untrained("new_weights");
  auto first = run_cycles(o);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  ASSERT_FALSE((*first)[0].promoted) << (*first)[0].reason;
  fs::remove_all(o.work_dir / "cycle-1");
  o.cpt_steps = 2;
  auto second = run_cycles(o);
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_NE((*second)[0].candidate, (*first)[0].candidate);
  auto reg = registry::Registry::open((o.work_dir / "flywheel.db").string());
  ASSERT_TRUE(reg.ok());
  EXPECT_EQ((*reg)->get((*first)[0].candidate).status().code(), StatusCode::kNotFound);
  auto candidate = (*reg)->get((*second)[0].candidate);
  ASSERT_TRUE(candidate.ok());
  EXPECT_EQ(nlohmann::json::parse(candidate->lineage_json)["recipe"]["stages"][0].value("mode", ""), "continue");
}

TEST_F(CycleTest, KilledAfterAPromotionTheRerunKeepsTheDecision) {
  // Continued pretraining on this repetitive code makes a candidate that
  // beats the random starting model (about 50% accepted against 0%), so
  // cycle 1 promotes; the process is killed right after the promotion's
  // transaction, before result.json is written.
  const std::string flywheel = std::string(FLYWHEEL_BINARY_DIR) + "/flywheel";
  const fs::path work = root_ / "killed_after_promotion";
  const std::string command = flywheel + " cycle --repo " + (root_ / "repo").string() + " --model " +
                              (root_ / "base").string() + " --work-dir " + work.string() +
                              " --cycles 1 --holdout 0.25 --collect-suggestions 30 --judge-hunks 4"
                              " --replay-threads 1 --threads 1 --cpt-steps 40 --lr 3e-3 --objectives none"
                              " --batch-size 4 --seq-len 128 --no-significance --json >/dev/null 2>&1";
  const int killed = std::system(("FLYWHEEL_TEST_KILL_AT=cycle-1/decided " + command).c_str());
  ASSERT_TRUE(WIFSIGNALED(killed) || (WIFEXITED(killed) && WEXITSTATUS(killed) == 128 + SIGKILL)) << killed;
  ASSERT_FALSE(fs::exists(work / "cycle-1" / "result.json"));
  const std::string db = (work / "flywheel.db").string();
  std::string promoted;
  {
    auto reg = registry::Registry::open(db);
    ASSERT_TRUE(reg.ok());
    auto dep = (*reg)->deployment("auto");
    ASSERT_TRUE(dep.ok());
    ASSERT_EQ(dep->size(), 1u);
    promoted = (*dep)[0].model_id;
    ASSERT_EQ(promoted.rfind("cycle1-", 0), 0u) << "cycle 1 did not promote its candidate: " << promoted;
  }
  ASSERT_EQ(std::system(command.c_str()), 0);
  expect_consistent(db);
  const nlohmann::json result = read_json(work / "cycle-1" / "result.json");
  EXPECT_TRUE(result["promoted"].get<bool>()) << result.dump();
  EXPECT_EQ(result["candidate"], promoted);
  EXPECT_EQ(result["serving_after"], promoted);
  auto reg = registry::Registry::open(db);
  ASSERT_TRUE(reg.ok());
  auto start = (*reg)->get(result["serving_before"].get<std::string>());
  ASSERT_TRUE(start.ok()) << result.dump();
  EXPECT_EQ(fs::path(start->path), fs::weakly_canonical(root_ / "base"));
  // The candidate's scores are still those against the starting model.
  const nlohmann::json scores = nlohmann::json::parse((*reg)->get(promoted)->scores_json);
  EXPECT_EQ(scores["baseline"], result["serving_before"]) << scores.dump();
  EXPECT_GT(scores["comparison"]["difference"]["value"].get<double>(), 0) << scores.dump();
}

TEST_F(CycleTest, ASmallRepositoryWhoseSlicesHaveNoValidationFileStillCycles) {
  make_small_repo(root_ / "small", 12);
  CycleOptions o = options("small_run");
  o.repo = root_ / "small";
  auto results = run_cycles(o);
  ASSERT_TRUE(results.ok()) << results.status().to_string();
  ASSERT_EQ(results->size(), 2u);
  for (int i = 1; i <= 2; ++i) {
    auto candidate =
        registry::Registry::open((o.work_dir / "flywheel.db").string()).value()->get((*results)[i - 1].candidate);
    ASSERT_TRUE(candidate.ok());
    const nlohmann::json stages = nlohmann::json::parse(candidate->lineage_json)["recipe"]["stages"];
    ASSERT_FALSE(stages.empty());
    EXPECT_EQ(stages[0].value("mode", ""), "continue") << stages.dump();
    EXPECT_TRUE(stages[0].contains("steps")) << stages.dump();  // it ran, validated on a held-out file
    EXPECT_GE(stages[0].value("valid_documents", 0), 1) << stages.dump();
  }
}

TEST_F(CycleTest, KilledAtAnyMomentTheRegistryStaysConsistentAndARerunFinishes) {
  const std::string flywheel = std::string(FLYWHEEL_BINARY_DIR) + "/flywheel";
  const fs::path work = root_ / "killed";
  const std::string command = flywheel + " cycle --repo " + (root_ / "repo").string() + " --model " +
                              (root_ / "base").string() + " --work-dir " + work.string() +
                              " --cycles 2 --holdout 0.25 --collect-suggestions 30 --judge-hunks 4"
                              " --replay-threads 1 --threads 1 --cpt-steps 40 --lr 3e-3 --steps 2 --batch-size 4"
                              " --seq-len 128 --no-significance --json";
  std::mt19937 rng(7);
  for (int attempt = 0; attempt < 4; ++attempt) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      // exec: the shell becomes flywheel, so the kill below reaches it.
      execl("/bin/sh", "sh", "-c", ("exec " + command + " >/dev/null 2>&1").c_str(), nullptr);
      _exit(127);
    }
    // A whole run takes about 7 s here: kills from 0.5 s to 6 s land in
    // every step of both cycles, before and after cycle 1's promotion.
    usleep(static_cast<useconds_t>(500000 + rng() % 5500000));
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    if (fs::exists(work / "flywheel.db")) {
      auto reg = registry::Registry::open((work / "flywheel.db").string());
      ASSERT_TRUE(reg.ok());
      if (!(*reg)->deployment("auto")->empty()) expect_consistent((work / "flywheel.db").string());
    }
  }
  ASSERT_EQ(std::system((command + " >/dev/null 2>&1").c_str()), 0);
  expect_consistent((work / "flywheel.db").string());
  EXPECT_TRUE(fs::exists(work / "cycle-2" / "result.json"));
  // Continued pretraining wins cycle 1 (KilledAfterAPromotion...), so kills
  // also land after a promotion: no cycle was judged against itself.
  for (int i = 1; i <= 2; ++i) {
    const nlohmann::json r = read_json(work / ("cycle-" + std::to_string(i)) / "result.json");
    EXPECT_NE(r["serving_before"], r["candidate"]) << r.dump();
  }
  EXPECT_TRUE(read_json(work / "cycle-1" / "result.json")["promoted"].get<bool>());
}

}  // namespace
}  // namespace flywheel::cycle
