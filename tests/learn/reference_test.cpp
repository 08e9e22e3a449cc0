// Each objective's loss and gradients on one fixed batch against an
// independent PyTorch computation (tests/learn/learn_reference.py, written
// from the papers' and TRL's formulas with tests/reference/llama_reference.py
// for the forward), within 1e-5.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <numeric>
#include <sstream>

#include "data/prompt_completion.h"
#include "learn/objective.h"
#include "model/checkpoint.h"
#include "model/transformer.h"
#include "tests/learn/learn_test_util.h"

namespace flywheel {
namespace {

using learn_testing::tiny_models;
using nlohmann::json;
namespace fs = std::filesystem;

constexpr double kTolerance = 1e-5;

class LearnReferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = learn_testing::test_dir("");
    at::set_num_threads(1);
  }

  // Token ids of a prompt/completion pair as the objectives cut them.
  json ids(const Tokenizer& tokenizer, const std::string& prompt, const std::string& completion) {
    auto eot = tokenizer.token_to_id("<|endoftext|>");
    EXPECT_TRUE(eot.has_value());
    auto t = data::encode_prompt_completion(tokenizer, prompt, completion, *eot, 257);  // seq_len + 1: nothing is cut
    return {{"prompt", t.prompt}, {"completion", t.completion}};
  }

  // Runs the objective on all its rows in file order, saves flywheel's
  // gradients, and returns what the Python reference says about them.
  json compare(learn::Objective& objective, Model& policy, json batch, const fs::path& policy_dir,
               const fs::path& frozen) {
    policy.module().train();
    const auto trained = objective.parameters(policy);
    for (const auto& [name, tensor] : trained) tensor.set_requires_grad(true);
    std::vector<size_t> rows(objective.rows());
    std::iota(rows.begin(), rows.end(), size_t{0});
    auto loss = objective.loss(policy, rows);
    EXPECT_TRUE(loss.ok()) << loss.status().to_string();
    if (!loss.ok()) return json();
    metrics_ = loss->metrics;
    loss->loss.backward();
    std::vector<std::pair<std::string, torch::Tensor>> grads;
    for (const auto& [name, tensor] : trained) grads.emplace_back(name, tensor.grad());
    const fs::path grads_path = dir_ / "grads.safetensors";
    EXPECT_TRUE(model::save_tensors(grads_path, grads).ok());
    batch["policy"] = policy_dir.string();
    batch["frozen"] = frozen.string();
    batch["gradients"] = grads_path.string();
    batch["loss"] = loss->loss.item<double>();
    const fs::path batch_path = dir_ / "batch.json";
    std::ofstream(batch_path) << batch.dump();
    const fs::path log = dir_ / "python.log";
    const std::string command = "/usr/bin/python3 '" + std::string(FLYWHEEL_SOURCE_DIR) +
                                "/tests/learn/learn_reference.py' '" + batch_path.string() + "' >'" + log.string() +
                                "' 2>&1";
    const int rc = std::system(command.c_str());
    std::stringstream text;
    text << std::ifstream(log).rdbuf();
    EXPECT_EQ(rc, 0) << text.str();
    std::string last_line, line;
    while (std::getline(text, line))
      if (!line.empty()) last_line = line;
    json result = json::parse(last_line, nullptr, false);
    EXPECT_FALSE(result.is_discarded()) << text.str();
    if (result.is_discarded()) return json();
    std::printf("[ reference ] %s: loss %.6f, |loss diff| %.3g, max |grad diff| %.3g (max |grad| %.3g, %d tensors)\n",
                batch["objective"].get<std::string>().c_str(), batch["loss"].get<double>(),
                result["loss_diff"].get<double>(), result["grad_max_diff"].get<double>(),
                result["grad_max_abs"].get<double>(), result["tensors"].get<int>());
    return result;
  }

  static void expect_close(const json& result) {
    ASSERT_TRUE(result.is_object());
    EXPECT_LT(result["loss_diff"].get<double>(), kTolerance);
    EXPECT_LT(result["grad_max_diff"].get<double>(), kTolerance);
    // The comparison means something only if the gradients are not all ~0,
    // and it must hold relative to their size too.
    EXPECT_GT(result["grad_max_abs"].get<double>(), 1e-3);
    EXPECT_LT(result["grad_max_diff"].get<double>(), 1e-4 * result["grad_max_abs"].get<double>());
  }

  static Model load(const fs::path& dir) {
    auto m = Model::load(dir, LoadOptions{WeightDtype::kFloat32, 1});
    EXPECT_TRUE(m.ok()) << m.status().to_string();
    return std::move(*m);
  }

  static LearnOptions options(const std::string& mode) {
    LearnOptions o;
    o.train.mode = mode;
    o.train.seq_len = 256;  // no row is cut: the Python side sees whole rows
    return o;
  }

  double metric(const std::string& name) const {
    for (const auto& [key, value] : metrics_)
      if (key == name) return value;
    ADD_FAILURE() << "no metric " << name;
    return 0;
  }

  fs::path dir_;
  std::vector<std::pair<std::string, double>> metrics_;
};

TEST_F(LearnReferenceTest, DpoMatchesPyTorch) {
  const fs::path file = dir_ / "preferences.jsonl";
  learn_testing::write_jsonl(file, learn_testing::preference_rows());
  Model policy = load(tiny_models().policy), reference = load(tiny_models().reference);
  LearnOptions o = options("dpo");
  o.beta = 0.5;  // larger than the default so the sigmoid is not flat around 0
  o.label_smoothing = 0.1;
  auto objective = learn::make_dpo_objective(o, file, policy.tokenizer(), reference);
  ASSERT_TRUE(objective.ok()) << objective.status().to_string();
  json batch = {
      {"objective", "dpo"}, {"beta", o.beta}, {"label_smoothing", o.label_smoothing}, {"rows", json::array()}};
  for (const auto& row : learn_testing::preference_rows()) {
    json c = ids(policy.tokenizer(), row["prompt"], row["chosen"]);
    json r = ids(policy.tokenizer(), row["prompt"], row["rejected"]);
    batch["rows"].push_back({{"prompt", c["prompt"]}, {"chosen", c["completion"]}, {"rejected", r["completion"]}});
  }
  expect_close(compare(**objective, policy, batch, tiny_models().policy, tiny_models().reference));
}

TEST_F(LearnReferenceTest, KtoMatchesPyTorch) {
  const fs::path file = dir_ / "unpaired.jsonl";
  learn_testing::write_jsonl(file, learn_testing::unpaired_rows());
  // These roles give a positive KL estimate on this batch, so z0 is not clamped to 0.
  Model policy = load(tiny_models().reference), reference = load(tiny_models().policy);
  LearnOptions o = options("kto");
  o.beta = 0.5;
  o.lambda_d = 1.0;
  o.lambda_u = 1.3;
  auto objective = learn::make_kto_objective(o, file, policy.tokenizer(), reference);
  ASSERT_TRUE(objective.ok()) << objective.status().to_string();
  json batch = {{"objective", "kto"},
                {"beta", o.beta},
                {"lambda_d", o.lambda_d},
                {"lambda_u", o.lambda_u},
                {"rows", json::array()}};
  const auto rows = learn_testing::unpaired_rows();
  for (size_t k = 0; k < rows.size(); ++k) {
    json t = ids(policy.tokenizer(), rows[k]["prompt"], rows[k]["completion"]);
    t["label"] = rows[k]["label"];
    // The KL pair (this prompt, the previous row's completion) as the objective
    // tokenizes it: the text is encoded as one row, so the ids at the seam may
    // differ from the two halves' own ids.
    t["mismatched"] =
        ids(policy.tokenizer(), rows[k]["prompt"], rows[(k + rows.size() - 1) % rows.size()]["completion"]);
    batch["rows"].push_back(t);
  }
  expect_close(compare(**objective, policy, batch, tiny_models().reference, tiny_models().policy));
  EXPECT_GT(metric("kl"), 0.1);
  EXPECT_EQ(metric("kl"), metric("kl_estimate"));
}

TEST_F(LearnReferenceTest, PolicyGradientMatchesPyTorch) {
  const fs::path file = dir_ / "rewards.jsonl";
  learn_testing::write_jsonl(file, learn_testing::reward_rows());
  Model policy = load(tiny_models().policy), reference = load(tiny_models().reference);
  LearnOptions o = options("pg");
  o.kl_coef = 0.5;  // large enough that the KL term shows in the gradients
  auto objective = learn::make_pg_objective(o, file, policy.tokenizer(), reference);
  ASSERT_TRUE(objective.ok()) << objective.status().to_string();
  json batch = {{"objective", "pg"}, {"kl_coef", o.kl_coef}, {"rows", json::array()}};
  for (const auto& row : learn_testing::reward_rows()) {
    json t = ids(policy.tokenizer(), row["prompt"], row["completion"]);
    t["reward"] = row["reward"];
    t["group"] = row["group"];
    batch["rows"].push_back(t);
  }
  expect_close(compare(**objective, policy, batch, tiny_models().policy, tiny_models().reference));
}

TEST_F(LearnReferenceTest, LogitDistillationMatchesPyTorch) {
  Model policy = load(tiny_models().policy), teacher = load(tiny_models().reference);
  LearnOptions o = options("distill");
  o.temperature = 2.0;
  std::vector<learn::DistillRow> rows;
  for (const auto& row : learn_testing::unpaired_rows()) rows.push_back({row["prompt"], row["completion"]});
  auto objective = learn::make_logit_distill_objective(o, rows, policy.tokenizer(), teacher);
  ASSERT_TRUE(objective.ok()) << objective.status().to_string();
  json batch = {{"objective", "distill"}, {"temperature", o.temperature}, {"rows", json::array()}};
  for (const auto& row : rows) batch["rows"].push_back(ids(policy.tokenizer(), row.prompt, row.completion));
  expect_close(compare(**objective, policy, batch, tiny_models().policy, tiny_models().reference));
}

TEST_F(LearnReferenceTest, ShowHeadMatchesPyTorch) {
  const fs::path file = dir_ / "unpaired.jsonl";
  learn_testing::write_jsonl(file, learn_testing::unpaired_rows());
  Model policy = load(tiny_models().policy);
  for (auto& p : policy.module().parameters()) p.set_requires_grad(false);  // the weights stay frozen
  auto objective = learn::make_show_objective(options("show"), file, policy.tokenizer(), policy, tiny_models().policy);
  ASSERT_TRUE(objective.ok()) << objective.status().to_string();
  json batch = {{"objective", "show"},
                {"head_weight", std::vector<float>(static_cast<size_t>(policy.config().hidden_size), 0.0f)},
                {"head_bias", 0.0},
                {"rows", json::array()}};
  for (const auto& row : learn_testing::unpaired_rows())
    batch["rows"].push_back(
        {{"prompt", policy.tokenizer().encode(row["prompt"].get<std::string>())}, {"label", row["label"]}});
  const json result = compare(**objective, policy, batch, tiny_models().policy, tiny_models().policy);
  expect_close(result);
  EXPECT_EQ(result["tensors"], 2);
}

}  // namespace
}  // namespace flywheel
