// Bad input for the learn modes (issue 8, section 4): data an objective
// cannot learn from, a teacher with another tokenizer, a teacher URL that
// times out or answers garbage, and a diverging run. Each gets a clear error
// or the documented fallback.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "tests/learn/learn_test_util.h"

namespace flywheel {
namespace {

using learn_testing::short_run;
using learn_testing::tiny_models;
using learn_testing::write_jsonl;
using nlohmann::json;
namespace fs = std::filesystem;

class LearnBadInputTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = learn_testing::test_dir("bad_"); }
  fs::path dir_;
};

// A stand-in OpenAI-compatible teacher: `answer` decides each response.
class FakeTeacher {
 public:
  using Answer = std::function<void(const json& request, httplib::Response& res)>;
  explicit FakeTeacher(Answer answer) : answer_(std::move(answer)) {
    server_.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests_;
      answer_(json::parse(req.body, nullptr, false), res);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeTeacher() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_.load(); }

 private:
  Answer answer_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> requests_{0};
};

void reply_completion(httplib::Response& res, const std::string& text) {
  res.set_content(
      json({{"id", "cmpl-1"}, {"object", "text_completion"}, {"choices", {{{"index", 0}, {"text", text}}}}}).dump(),
      "application/json");
}

std::vector<json> prompts(int n) {
  std::vector<json> rows;
  for (int i = 0; i < n; ++i) rows.push_back({{"prompt", "def f" + std::to_string(i) + "(x):\n    return"}});
  return rows;
}

TEST_F(LearnBadInputTest, DpoWithoutPairsSaysSo) {
  write_jsonl(dir_ / "preferences.jsonl", {});
  auto empty = run_learning(short_run("dpo", dir_, dir_ / "run"));
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("no preference pairs"), std::string::npos) << empty.status().to_string();

  write_jsonl(dir_ / "ties.jsonl", {{{"prompt", "x ="}, {"chosen", " 1"}, {"rejected", " 1"}}});
  auto ties = run_learning(short_run("dpo", dir_ / "ties.jsonl", dir_ / "run"));
  ASSERT_FALSE(ties.ok());
  EXPECT_NE(ties.status().message().find("1 with chosen == rejected"), std::string::npos) << ties.status().to_string();
  EXPECT_FALSE(fs::exists(dir_ / "run" / "latest"));
}

TEST_F(LearnBadInputTest, MalformedRowNamesFileAndLine) {
  std::ofstream(dir_ / "preferences.jsonl") << R"({"prompt": "a", "chosen": "b", "rejected": "c"})"
                                            << "\n\n"
                                            << R"({"prompt": "a", "chosen": 3})"
                                            << "\n";
  auto result = run_learning(short_run("dpo", dir_, dir_ / "run"));
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("preferences.jsonl line 3"), std::string::npos)
      << result.status().to_string();
}

TEST_F(LearnBadInputTest, KtoWithOneLabelSaysSo) {
  for (bool label : {true, false}) {
    std::vector<json> rows;
    for (const json& r : learn_testing::unpaired_rows())
      rows.push_back({{"prompt", r["prompt"]}, {"completion", r["completion"]}, {"label", label}});
    write_jsonl(dir_ / "unpaired.jsonl", rows);
    auto result = run_learning(short_run("kto", dir_, dir_ / "run"));
    ASSERT_FALSE(result.ok()) << "label " << label;
    EXPECT_NE(result.status().message().find(label ? "4 desirable and 0 undesirable" : "0 desirable and 4 undesirable"),
              std::string::npos)
        << result.status().to_string();
    EXPECT_NE(result.status().message().find("KTO needs both"), std::string::npos);
  }
}

TEST_F(LearnBadInputTest, KtoNeedsTwoRowsPerBatch) {
  write_jsonl(dir_ / "unpaired.jsonl", learn_testing::unpaired_rows());
  LearnOptions o = short_run("kto", dir_, dir_ / "run");
  o.train.batch_size = 1;
  auto result = run_learning(o);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("--batch-size >= 2"), std::string::npos) << result.status().to_string();
}

TEST_F(LearnBadInputTest, PolicyGradientWithoutSignalSaysSo) {
  // One group whose samples all got the same reward: every advantage is 0.
  std::vector<json> rows;
  for (int i = 0; i < 3; ++i)
    rows.push_back({{"prompt", "x ="}, {"completion", " " + std::to_string(i)}, {"reward", 0.75}, {"group", "g"}});
  write_jsonl(dir_ / "rewards.jsonl", rows);
  auto result = run_learning(short_run("pg", dir_, dir_ / "run"));
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("every advantage is 0"), std::string::npos) << result.status().to_string();
}

TEST_F(LearnBadInputTest, LogitDistillationRefusesAnotherTokenizer) {
  write_jsonl(dir_ / "prompts.jsonl", prompts(2));
  LearnOptions o = short_run("distill", dir_, dir_ / "run");
  o.teacher = tiny_models().other_tokenizer.string();
  auto result = run_learning(o);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("identical tokenizers"), std::string::npos) << result.status().to_string();
  EXPECT_NE(result.status().message().find("--distill sequence"), std::string::npos);
  // Refused before the teacher spent time on completions.
  EXPECT_FALSE(fs::exists(dir_ / "run" / "teacher_completions.jsonl"));
}

TEST_F(LearnBadInputTest, UrlTeacherThatTimesOutFailsWithTheUrl) {
  std::atomic<bool> done{false};
  FakeTeacher teacher([&](const json&, httplib::Response& res) {
    for (int i = 0; i < 40 && !done.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    reply_completion(res, "too late");
  });
  write_jsonl(dir_ / "prompts.jsonl", prompts(2));
  LearnOptions o = short_run("distill", dir_, dir_ / "run");
  o.teacher = teacher.url();
  o.teacher_timeout = 0.5;
  const auto started = std::chrono::steady_clock::now();
  auto result = run_learning(o);
  done.store(true);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kDeadlineExceeded) << result.status().to_string();
  EXPECT_NE(result.status().message().find(teacher.url()), std::string::npos) << result.status().to_string();
  EXPECT_NE(result.status().message().find("2 of 2 teacher requests failed"), std::string::npos);
  EXPECT_NE(result.status().message().find("no answer within"), std::string::npos);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), 10.0);
}

TEST_F(LearnBadInputTest, UrlTeacherAnsweringGarbageFailsWithTheUrl) {
  FakeTeacher teacher([](const json&, httplib::Response& res) { res.set_content("<html>busy</html>", "text/html"); });
  write_jsonl(dir_ / "prompts.jsonl", prompts(3));
  LearnOptions o = short_run("distill", dir_, dir_ / "run");
  o.teacher = teacher.url() + "/v1";
  auto result = run_learning(o);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(teacher.requests(), 3);
  EXPECT_NE(result.status().message().find("not an OpenAI completion"), std::string::npos)
      << result.status().to_string();
  EXPECT_NE(result.status().message().find(teacher.url() + "/v1 (POST /v1/completions)"), std::string::npos);
  EXPECT_NE(result.status().message().find("<html>busy"), std::string::npos);
}

TEST_F(LearnBadInputTest, UrlTeacherFailingOnAFewRowsSkipsThem) {
  // The documented fallback: failures are skipped and counted; the rest is learned from.
  FakeTeacher teacher([](const json& request, httplib::Response& res) {
    if (request.value("prompt", "").find("f1(") != std::string::npos) {
      res.status = 500;
      res.set_content("overloaded", "text/plain");
      return;
    }
    EXPECT_EQ(request.value("max_tokens", 0), 64);
    EXPECT_EQ(request.value("model", ""), "big-coder");
    reply_completion(res, " x + 1");
  });
  write_jsonl(dir_ / "prompts.jsonl", prompts(3));
  LearnOptions o = short_run("distill", dir_, dir_ / "run");
  o.teacher = teacher.url();
  o.teacher_model = "big-coder";
  o.train.steps = 2;
  auto result = run_learning(o);
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  EXPECT_EQ(result->teacher_requests, 3);
  EXPECT_EQ(result->teacher_failures, 1);
  EXPECT_EQ(result->rows, 2);
  EXPECT_EQ(result->train.steps, 2);
  std::ifstream cache(dir_ / "run" / "teacher_completions.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(cache, line)) {
    EXPECT_EQ(json::parse(line)["completion"], " x + 1");
    ++lines;
  }
  EXPECT_EQ(lines, 2);
  // Sequence-level: an SFT run on the teacher's text, with the teacher in the lineage.
  std::ifstream lineage(result->train.checkpoint / "flywheel.json");
  const json l = json::parse(lineage);
  EXPECT_EQ(l["distilled_from"], teacher.url());
  EXPECT_EQ(l["recipe"]["mode"], "sft");
}

TEST_F(LearnBadInputTest, DivergenceStopsAndKeepsTheLastGoodCheckpoint) {
  write_jsonl(dir_ / "good.jsonl", learn_testing::reward_rows());
  LearnOptions o = short_run("pg", dir_ / "good.jsonl", dir_ / "run");
  o.train.steps = 2;
  ASSERT_TRUE(run_learning(o).ok());
  // The same run continued on a reward so large that the loss overflows to inf.
  write_jsonl(dir_ / "huge.jsonl", {{{"prompt", "x ="}, {"completion", " 1"}, {"reward", 1e308}, {"group", "g"}}});
  o.train.data = dir_ / "huge.jsonl";
  o.train.steps = 4;
  auto result = run_learning(o);
  ASSERT_FALSE(result.ok());
  const std::string message = result.status().message();
  EXPECT_NE(message.find("training diverged"), std::string::npos) << message;
  EXPECT_NE(message.find("at step 3"), std::string::npos) << message;
  EXPECT_NE(message.find("the last good checkpoint is " + (dir_ / "run" / "checkpoints" / "step-00000002").string()),
            std::string::npos)
      << message;
  std::ifstream latest(dir_ / "run" / "latest");
  std::string name;
  latest >> name;
  EXPECT_EQ(name, "step-00000002");
  EXPECT_FALSE(fs::exists(dir_ / "run" / "checkpoints" / "step-00000003"));
  auto model = Model::load(dir_ / "run" / "checkpoints" / "step-00000002");
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  auto logits = model->logits(std::vector<TokenId>{1, 2, 3});
  ASSERT_TRUE(logits.ok());
  for (float v : *logits) ASSERT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace flywheel
