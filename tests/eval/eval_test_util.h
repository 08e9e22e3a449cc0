// Helpers shared by the eval tests: scripted completion backends and small
// git repositories (made with libgit2 through the data tests' TestRepo).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "eval/history.h"
#include "eval/replay.h"
#include "tests/data/data_test_util.h"

namespace flywheel::eval_test {

using data_test::TempDir;
using data_test::TestRepo;
using eval::CompletionBackend;
using eval::CompletionQuery;

// Answers with a function of the query; counts calls and outcomes.
class ScriptedBackend final : public CompletionBackend {
 public:
  using Script = std::function<std::string(const CompletionQuery&)>;
  struct Tally {
    std::atomic<int64_t> requests{0}, outcomes{0};
  };
  ScriptedBackend(Script script, std::shared_ptr<Tally> tally) : script_(std::move(script)), tally_(std::move(tally)) {}

  Result<eval::Completion> complete(const CompletionQuery& query) override {
    ++tally_->requests;
    // A latency that depends only on the request, so reports repeat exactly.
    return eval::Completion{script_(query), static_cast<double>(query.seed % 1000) / 10.0,
                            query.session + "-" + query.request_key};
  }
  Status report_outcome(const CompletionQuery&, const eval::Completion& completion,
                        const eval::OutcomeReport&) override {
    EXPECT_FALSE(completion.text.empty());
    ++tally_->outcomes;
    return Status::OK();
  }

 private:
  Script script_;
  std::shared_ptr<Tally> tally_;
};

inline eval::BackendFactory scripted_factory(ScriptedBackend::Script script,
                                             std::shared_ptr<ScriptedBackend::Tally> tally = nullptr) {
  if (!tally) tally = std::make_shared<ScriptedBackend::Tally>();
  return [script, tally]() -> Result<std::unique_ptr<CompletionBackend>> {
    return std::unique_ptr<CompletionBackend>(std::make_unique<ScriptedBackend>(script, tally));
  };
}

// The hunk texts of a range by id, for an oracle that knows what comes next.
inline std::map<std::string, std::string> hunk_texts(const std::filesystem::path& repo, const std::string& range) {
  const eval::ReplayOptions defaults;
  auto history = eval::read_history(repo, {range, defaults.max_file_bytes, defaults.max_hunk_lines});
  EXPECT_TRUE(history.ok()) << history.status().to_string();
  std::map<std::string, std::string> texts;
  if (history.ok())
    for (const eval::ReplayHunk& h : history->hunks) texts[h.id] = h.text;
  return texts;
}

// The developer's text from the cursor to the end of the line.
inline ScriptedBackend::Script oracle(std::map<std::string, std::string> texts) {
  return [texts = std::move(texts)](const CompletionQuery& q) {
    const size_t at = q.request_key.rfind('@');
    const std::string& text = texts.at(q.request_key.substr(0, at));
    const size_t offset = std::stoul(q.request_key.substr(at + 1));
    return text.substr(offset, text.find('\n', offset) - offset);
  };
}

// A few Python files changed over several commits: insertions, replacements,
// a new file; enough hunks for the bootstrap.
inline std::string make_python_history(TestRepo& repo) {
  const std::string base =
      repo.commit({{"a.py", data_test::python_file(1, 12)}, {"b.py", data_test::python_file(2, 8)}}, "base");
  std::string a = data_test::python_file(1, 12), b = data_test::python_file(2, 8);
  for (int round = 0; round < 4; ++round) {
    const std::string addition = "\ndef helper_" + std::to_string(round) +
                                 "(items, limit=" + std::to_string(round + 3) +
                                 "):\n    total = 0\n    for item in items[:limit]:\n" + "        total += item * " +
                                 std::to_string(round) + "\n    return total\n";
    a.insert(a.find("def function_1_" + std::to_string(round * 2 + 1)), addition.substr(1) + "\n");
    b += addition;
    repo.commit({{"a.py", a},
                 {"b.py", b},
                 {"c" + std::to_string(round) + ".cpp",
                  "int twice(int x) { return 2 * x; }\nint main() { return twice(" + std::to_string(round) + "); }\n"}},
                "round " + std::to_string(round));
  }
  return base;
}

}  // namespace flywheel::eval_test
