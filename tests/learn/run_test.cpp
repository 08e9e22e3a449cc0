// Short runs of each learn mode: they learn (the objective falls on the data
// they train on), write loadable checkpoints with their recipe, resume, and
// `flywheel train --mode dpo` works end to end.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "learn/advantages.h"
#include "model/generate.h"
#include "model/show_head.h"
#include "tests/learn/learn_test_util.h"

namespace flywheel {
namespace {

using learn_testing::short_run;
using learn_testing::tiny_models;
using learn_testing::write_jsonl;
using nlohmann::json;
namespace fs = std::filesystem;

class LearnRunTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = learn_testing::test_dir("run_"); }

  // step -> metrics line, from out/metrics.jsonl.
  static std::map<int64_t, json> metrics(const fs::path& out) {
    std::map<int64_t, json> lines;
    std::ifstream in(out / "metrics.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      json j = json::parse(line);
      lines[j["step"].get<int64_t>()] = j;
    }
    return lines;
  }

  fs::path dir_;
};

TEST_F(LearnRunTest, DpoLearnsThePreferences) {
  write_jsonl(dir_ / "preferences.jsonl", learn_testing::preference_rows());
  LearnOptions o = short_run("dpo", dir_, dir_ / "run");
  o.train.steps = 8;
  o.train.batch_size = 3;
  o.train.lr = 1e-2;
  o.train.schedule = "constant";
  auto result = run_learning(o);
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  EXPECT_EQ(result->rows, 3);
  auto lines = metrics(dir_ / "run");
  ASSERT_EQ(lines.size(), 8u);
  // Step 1: the policy is the reference, so h = 0 and the loss is log 2.
  EXPECT_NEAR(lines[1]["loss"].get<double>(), std::log(2.0), 1e-5);
  EXPECT_LT(lines[8]["loss"].get<double>(), lines[1]["loss"].get<double>() - 0.01);
  EXPECT_EQ(lines[8]["reward_accuracy"].get<double>(), 1.0);
  EXPECT_GT(lines[8]["reward_margin"].get<double>(), 0.0);
}

TEST_F(LearnRunTest, KtoLearnsTheLabels) {
  write_jsonl(dir_ / "unpaired.jsonl", learn_testing::unpaired_rows());
  LearnOptions o = short_run("kto", dir_, dir_ / "run");
  o.train.steps = 8;
  o.train.batch_size = 4;
  o.train.lr = 1e-2;
  o.train.schedule = "constant";
  auto result = run_learning(o);
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  auto lines = metrics(dir_ / "run");
  // Step 1: r = 0 and z0 = 0, so every row's loss is lambda * (1 - sigmoid(0)) = 0.5.
  EXPECT_NEAR(lines[1]["loss"].get<double>(), 0.5, 1e-5);
  EXPECT_LT(lines[8]["loss"].get<double>(), 0.5 - 0.005);
  EXPECT_GE(lines[8]["kl"].get<double>(), 0.0);
}

TEST_F(LearnRunTest, PolicyGradientRaisesRewardedCompletions) {
  write_jsonl(dir_ / "rewards.jsonl", learn_testing::reward_rows());
  LearnOptions o = short_run("pg", dir_, dir_ / "run");
  o.train.steps = 6;
  o.train.batch_size = 5;
  o.train.lr = 1e-2;
  o.train.schedule = "constant";
  o.kl_coef = 0.01;
  auto result = run_learning(o);
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  auto lines = metrics(dir_ / "run");
  // The loss is -mean(A log pi) + KL: it falls as positive-advantage completions get likelier.
  EXPECT_LT(lines[6]["loss"].get<double>(), lines[1]["loss"].get<double>());
  EXPECT_NEAR(lines[1]["kl"].get<double>(), 0.0, 1e-6);  // policy == reference at step 1
  EXPECT_GT(lines[6]["kl"].get<double>(), 0.0);
}

TEST_F(LearnRunTest, LogitDistillationFromALocalTeacher) {
  // One prompt brings its own completion; the teacher writes the others.
  std::vector<json> rows = {{{"prompt", "def add(a, b):\n    return"}, {"completion", " a + b"}},
                            {{"prompt", "<|fim_prefix|>x = <|fim_suffix|>\n<|fim_middle|>"}},
                            {{"prompt", "for i in range("}}};
  write_jsonl(dir_ / "prompts.jsonl", rows);
  LearnOptions o = short_run("distill", dir_, dir_ / "run");
  o.teacher = tiny_models().reference.string();
  o.teacher_max_tokens = 6;
  o.train.steps = 6;
  o.train.batch_size = 3;
  o.train.lr = 1e-2;
  o.train.schedule = "constant";
  auto result = run_learning(o);
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  EXPECT_EQ(result->teacher_requests, 2);
  EXPECT_EQ(result->teacher_failures, 0);
  EXPECT_EQ(result->rows, 3);
  auto lines = metrics(dir_ / "run");
  EXPECT_LT(lines[6]["loss"].get<double>(), lines[1]["loss"].get<double>());
  std::ifstream lineage(result->train.checkpoint / "flywheel.json");
  const json l = json::parse(lineage);
  EXPECT_EQ(l["recipe"]["mode"], "distill");
  EXPECT_EQ(l["recipe"]["distill"], "logit");
  EXPECT_EQ(l["recipe"]["teacher"], tiny_models().reference.string());
}

TEST_F(LearnRunTest, ResumesWhereItStopped) {
  write_jsonl(dir_ / "preferences.jsonl", learn_testing::preference_rows());
  write_jsonl(dir_ / "unpaired.jsonl", learn_testing::unpaired_rows());
  for (const std::string mode : {"dpo", "show"}) {
    LearnOptions straight = short_run(mode, dir_, dir_ / (mode + "_straight"));
    straight.train.steps = 4;
    ASSERT_TRUE(run_learning(straight).ok());
    LearnOptions stopped = short_run(mode, dir_, dir_ / (mode + "_stopped"));
    stopped.train.steps = 4;
    stopped.train.stop_at_step = 2;
    auto first = run_learning(stopped);
    ASSERT_TRUE(first.ok()) << first.status().to_string();
    EXPECT_TRUE(first->train.interrupted);
    stopped.train.stop_at_step = 0;
    auto second = run_learning(stopped);
    ASSERT_TRUE(second.ok()) << second.status().to_string();
    EXPECT_EQ(second->train.start_step, 2);
    auto a = metrics(dir_ / (mode + "_straight")), b = metrics(dir_ / (mode + "_stopped"));
    ASSERT_EQ(a.size(), 4u);
    ASSERT_EQ(b.size(), 4u);
    for (int64_t step = 1; step <= 4; ++step)
      EXPECT_NEAR(a[step]["loss"].get<double>(), b[step]["loss"].get<double>(), 1e-6) << mode << " step " << step;
  }
  // A run directory of another mode is refused rather than mixed.
  LearnOptions other = short_run("kto", dir_, dir_ / "dpo_stopped");
  other.train.steps = 6;
  auto refused = run_learning(other);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("not written by a --mode kto run"), std::string::npos);
}

TEST_F(LearnRunTest, ShowHeadLearnsWhenSuggestionsAreAccepted) {
  write_jsonl(dir_ / "unpaired.jsonl", learn_testing::unpaired_rows());
  LearnOptions o = short_run("show", dir_, dir_ / "run");
  o.train.steps = 40;
  o.train.batch_size = 4;
  o.train.lr = 0.1;
  o.train.schedule = "constant";
  o.train.save_every = 0;
  auto result = run_learning(o);
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  auto lines = metrics(dir_ / "run");
  EXPECT_NEAR(lines[1]["loss"].get<double>(), std::log(2.0), 1e-6);  // a zero head says 0.5 everywhere
  EXPECT_EQ(lines[40]["accuracy"].get<double>(), 1.0);
  // The checkpoint is --init's weights plus the head, and loads as a model.
  const fs::path checkpoint = result->train.checkpoint;
  auto model = Model::load(checkpoint);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  auto original = Model::load(tiny_models().policy);
  ASSERT_TRUE(original.ok());
  const std::vector<TokenId> probe = {5, 6, 7};
  EXPECT_EQ(*model->logits(probe), *original->logits(probe));
  auto head = load_show_head(checkpoint, model->config().hidden_size);
  ASSERT_TRUE(head.ok()) << head.status().to_string();
  ASSERT_TRUE(head->has_value());
  EXPECT_FALSE(load_show_head(tiny_models().policy, model->config().hidden_size)->has_value());
  // Accepted prompts score above rejected ones; each value agrees with PyTorch.
  std::vector<double> accepted, rejected, mine;
  json prompts = json::array();
  for (const json& row : learn_testing::unpaired_rows()) {
    const std::vector<TokenId> prompt = model->tokenizer().encode(row["prompt"].get<std::string>());
    auto p = show_probability(*model, **head, prompt);
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    (row["label"].get<bool>() ? accepted : rejected).push_back(*p);
    mine.push_back(*p);
    prompts.push_back(prompt);
  }
  std::ofstream(dir_ / "prompts.json") << prompts.dump();
  const std::string command = "/usr/bin/python3 '" + std::string(FLYWHEEL_SOURCE_DIR) +
                              "/tests/learn/learn_reference.py' --probability '" + checkpoint.string() + "' '" +
                              (dir_ / "prompts.json").string() + "' >'" + (dir_ / "p.json").string() + "' 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::stringstream text;
  text << std::ifstream(dir_ / "p.json").rdbuf();
  const json reference = json::parse(text.str(), nullptr, false);
  ASSERT_FALSE(reference.is_discarded()) << text.str();
  ASSERT_EQ(reference["probabilities"].size(), mine.size());
  for (size_t i = 0; i < mine.size(); ++i) EXPECT_NEAR(mine[i], reference["probabilities"][i].get<double>(), 1e-5);
  EXPECT_GT(*std::min_element(accepted.begin(), accepted.end()), *std::max_element(rejected.begin(), rejected.end()));
  EXPECT_FALSE(show_probability(*model, **head, {}).ok());

  // Model::load keeps the head; generation honours min_show_prob with the
  // probability of the same prefill pass (agreeing with the full recomputation).
  ASSERT_NE(model->show_head(), nullptr);
  EXPECT_EQ(model->show_head()->weight, (*head)->weight);
  const std::vector<TokenId> prompt =
      model->tokenizer().encode(learn_testing::unpaired_rows()[0]["prompt"].get<std::string>());
  const float p = *show_probability(*model, **head, prompt);
  GenerationRequest request;
  request.prompt = prompt;
  request.params.temperature = 0;
  request.params.max_tokens = 4;
  auto shown_anyway = generate(*model, request);
  ASSERT_TRUE(shown_anyway.ok());
  EXPECT_FALSE(shown_anyway->show_probability.has_value());  // not asked for
  request.params.min_show_prob = std::max(p - 0.01f, 1e-6f);
  auto shown = generate(*model, request);
  ASSERT_TRUE(shown.ok()) << shown.status().to_string();
  ASSERT_TRUE(shown->show_probability.has_value());
  EXPECT_NEAR(*shown->show_probability, p, 1e-5);
  EXPECT_FALSE(shown->withheld);
  EXPECT_EQ(shown->tokens, shown_anyway->tokens);
  request.params.min_show_prob = std::min(p + 0.01f, 1.0f);
  auto withheld = generate(*model, request);
  ASSERT_TRUE(withheld.ok());
  EXPECT_TRUE(withheld->withheld);
  EXPECT_TRUE(withheld->text.empty());
  EXPECT_TRUE(withheld->tokens.empty());
  EXPECT_EQ(withheld->finish_reason, "stop");
  // A model without a head shows everything; saving keeps the head; training loads leave it out.
  auto plain = generate(*original, request);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->withheld);
  EXPECT_EQ(plain->tokens, shown_anyway->tokens);
  ASSERT_TRUE(model->save(dir_ / "resaved").ok());
  auto resaved = Model::load(dir_ / "resaved");
  ASSERT_TRUE(resaved.ok()) << resaved.status().to_string();
  ASSERT_NE(resaved->show_head(), nullptr);
  EXPECT_EQ(resaved->show_head()->bias, (*head)->bias);
  EXPECT_EQ(*resaved->logits(probe), *original->logits(probe));
  auto without = Model::load(checkpoint, LoadOptions{WeightDtype::kFloat32, 0, /*show_head=*/false});
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(without->show_head(), nullptr);
}

TEST(LearnAdvantagesTest, GroupsAreNormalizedAndLoneRowsUseARunningBaseline) {
  const std::vector<double> rewards = {0.75, -0.25, 0.75, 0.0, 0.75, -0.25};
  const std::vector<std::string> groups = {"a", "a", "b", "a", "c", "d"};
  const auto adv = learn::compute_advantages(rewards, groups);
  ASSERT_EQ(adv.size(), 6u);
  // Group a: rewards 0.75, -0.25, 0 → mean 1/6, unbiased std sqrt(((7/12)^2 + (5/12)^2 + (1/6)^2) / 2).
  const double mean = (0.75 - 0.25 + 0.0) / 3,
               std = std::sqrt(((0.75 - mean) * (0.75 - mean) + (-0.25 - mean) * (-0.25 - mean) + mean * mean) / 2.0);
  EXPECT_NEAR(adv[0], (0.75 - mean) / (std + 1e-4), 1e-12);
  EXPECT_NEAR(adv[1], (-0.25 - mean) / (std + 1e-4), 1e-12);
  EXPECT_NEAR(adv[3], (0.0 - mean) / (std + 1e-4), 1e-12);
  // Lone rows b, c, d in file order: baselines 0, 0.75, 0.75.
  EXPECT_DOUBLE_EQ(adv[2], 0.75);
  EXPECT_DOUBLE_EQ(adv[4], 0.0);
  EXPECT_DOUBLE_EQ(adv[5], -1.0);
}

TEST_F(LearnRunTest, FlywheelTrainModeDpoWritesALoadableCheckpoint) {
  write_jsonl(dir_ / "preferences.jsonl", learn_testing::preference_rows());
  const fs::path out = dir_ / "cli";
  const std::string command = std::string(FLYWHEEL_BINARY_DIR) + "/flywheel train --mode dpo --init '" +
                              tiny_models().policy.string() + "' --data '" + dir_.string() + "' --out '" +
                              out.string() +
                              "' --steps 2 --batch-size 2 --seq-len 64 --warmup 1 --threads 1 --beta 0.2 --json >'" +
                              (dir_ / "cli.log").string() + "' 2>&1";
  const int rc = std::system(command.c_str());
  std::stringstream log;
  log << std::ifstream(dir_ / "cli.log").rdbuf();
  ASSERT_EQ(rc, 0) << log.str();
  json summary;
  std::string line;
  while (std::getline(log, line)) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("checkpoint")) summary = j;
  }
  ASSERT_TRUE(summary.is_object()) << log.str();
  EXPECT_EQ(summary["steps"], 2);
  EXPECT_EQ(summary["rows"], 3);
  const fs::path checkpoint = summary["checkpoint"].get<std::string>();
  EXPECT_EQ(checkpoint, out / "checkpoints" / "step-00000002");
  auto model = Model::load(checkpoint);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  std::ifstream lineage(checkpoint / "flywheel.json");
  const json l = json::parse(lineage);
  EXPECT_EQ(l["parent"], tiny_models().policy.string());
  EXPECT_EQ(l["recipe"]["mode"], "dpo");
  EXPECT_EQ(l["recipe"]["beta"], 0.2);
  EXPECT_TRUE(fs::exists(checkpoint / "optimizer.safetensors"));
}

}  // namespace
}  // namespace flywheel
