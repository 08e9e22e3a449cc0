// run_replay with scripted backends: the oracle and garbage extremes, hand
// counts, determinism, threads, caps, the report's JSON and comparisons.
#include <gtest/gtest.h>

#include "eval/typing.h"
#include "tests/eval/eval_test_util.h"

namespace flywheel::eval {
namespace {
using eval_test::oracle;
using eval_test::scripted_factory;
using eval_test::ScriptedBackend;
using eval_test::TempDir;
using eval_test::TestRepo;

ReplayOptions options_for(const std::filesystem::path& repo, const std::string& range) {
  ReplayOptions o;
  o.repo = repo;
  o.range = range;
  o.seed = 11;
  o.run_id = "test-run";
  o.backend_name = "scripted";
  o.show_progress = false;
  o.bootstrap_resamples = 200;
  return o;
}

// JSON of a report without its one wall-clock figure.
nlohmann::json comparable(const ReplayReport& report) {
  nlohmann::json j = report_to_json(report);
  j.erase("wall_seconds");
  return j;
}

TEST(Replay, OracleMatchesTheHandCount) {
  TempDir dir;
  TestRepo repo(dir.path());
  const std::string base = repo.commit({{"a.py", "x = 1\n"}}, "base");
  repo.commit({{"a.py", "x = 1\nab cd\n  ef(g)\n"}}, "add");
  auto tally = std::make_shared<ScriptedBackend::Tally>();
  const auto texts = eval_test::hunk_texts(dir.path(), base + "..HEAD");
  auto report = run_replay(options_for(dir.path(), base + "..HEAD"), scripted_factory(oracle(texts), tally));
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  // Triggers 0,2,3,5,8,10,11,12 of "ab cd\n  ef(g)\n": at 0 "ab cd" is accepted
  // (cursor to 5); at 5 the rest of the line is empty (not shown; types "\n");
  // at 8 "ef(g)" is accepted (cursor to 13, nothing after).
  const ReplayCounts& c = report->totals;
  EXPECT_EQ(c.hunks, 1);
  EXPECT_EQ(c.requests, 3);
  EXPECT_EQ(c.shown, 2);
  EXPECT_EQ(c.accepted, 2);
  EXPECT_EQ(c.accepted_chars, 10);
  EXPECT_EQ(c.chars_saved, 8);  // less one accept key each
  EXPECT_EQ(c.typed_chars, 14);
  EXPECT_EQ(c.exact_lines, 2);
  EXPECT_EQ(tally->requests, 3);
  EXPECT_EQ(tally->outcomes, 2);
  EXPECT_DOUBLE_EQ(report->rates.acceptance.value, 1.0);
  EXPECT_DOUBLE_EQ(report->rates.chars_saved.value, 8.0 / 14.0);
  EXPECT_EQ(report->commits, 1);
  EXPECT_EQ(report->run_id, "test-run");
}

TEST(Replay, ASuggestionCrossingAPieceBoundaryIsJudgedAgainstTheRestOfTheBlock) {
  // One added block of 14 lines, typed as pieces of 10 and 4. At the start
  // of line 9 (the last line of piece 0) the backend suggests lines 9 and 10,
  // which is what the developer writes next: accepted, though line 10 is in
  // the next piece. Everywhere else it suggests nothing.
  TempDir dir;
  TestRepo repo(dir.path());
  const std::string base = repo.commit({{"a.py", "start = 0\n"}}, "base");
  std::string block;
  for (int i = 0; i < 14; ++i) block += "x" + std::to_string(i) + " = " + std::to_string(i) + "\n";
  repo.commit({{"a.py", "start = 0\n" + block}}, "add");
  const std::string suggestion = "x9 = 9\nx10 = 10\n";
  auto report = run_replay(options_for(dir.path(), base + "..HEAD"),
                           scripted_factory([&](const CompletionQuery& q) -> std::string {
                             return q.prefix.ends_with("x8 = 8\n") ? suggestion : "";
                           }));
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  const ReplayCounts& c = report->totals;
  EXPECT_EQ(c.hunks, 2);
  EXPECT_EQ(c.shown, 1);
  EXPECT_EQ(c.accepted, 1);
  EXPECT_EQ(c.partially_accepted, 0);
  // Its piece is credited with the part it types ("x9 = 9\n", 7 bytes, less
  // the accept key); the next piece is typed from its own start.
  EXPECT_EQ(c.accepted_chars, 7);
  EXPECT_EQ(c.chars_saved, 6);
}

TEST(Replay, OracleAcceptsEverythingGarbageNothing) {
  TempDir dir;
  TestRepo repo(dir.path());
  const std::string base = eval_test::make_python_history(repo);
  const std::string range = base + "..HEAD";
  auto good =
      run_replay(options_for(dir.path(), range), scripted_factory(oracle(eval_test::hunk_texts(dir.path(), range))));
  ASSERT_TRUE(good.ok()) << good.status().to_string();
  EXPECT_GT(good->totals.hunks, 8);
  EXPECT_EQ(good->totals.accepted, good->totals.shown);
  EXPECT_DOUBLE_EQ(good->rates.acceptance.value, 1.0);
  EXPECT_DOUBLE_EQ(good->rates.acceptance.low, 1.0);
  EXPECT_GT(good->rates.chars_saved.value, 0.5);

  auto bad = run_replay(options_for(dir.path(), range), scripted_factory([](const CompletionQuery&) { return "@#!"; }));
  ASSERT_TRUE(bad.ok()) << bad.status().to_string();
  EXPECT_EQ(bad->totals.accepted + bad->totals.partially_accepted, 0);
  EXPECT_EQ(bad->totals.shown, bad->totals.requests);
  EXPECT_EQ(bad->rates.acceptance.value, 0);
  EXPECT_EQ(bad->rates.acceptance.high, 0);
  // Rejected everywhere, the developer types every trigger point's way.
  int64_t triggers = 0;
  for (const HunkRecord& h : bad->hunks) EXPECT_GT(h.counts.requests, 0);
  const ReplayOptions defaults;
  auto history = read_history(dir.path(), {range, defaults.max_file_bytes, defaults.max_hunk_lines});
  ASSERT_TRUE(history.ok());
  for (const ReplayHunk& h : history->hunks) triggers += static_cast<int64_t>(trigger_points(h.text).size());
  EXPECT_EQ(bad->totals.requests, triggers);

  ASSERT_FALSE(good->languages.empty());
  int64_t language_requests = 0;
  for (const LanguageReport& l : good->languages) language_requests += l.counts.requests;
  EXPECT_EQ(language_requests, good->totals.requests);
  EXPECT_TRUE(std::any_of(good->languages.begin(), good->languages.end(),
                          [](const LanguageReport& l) { return l.language == "cpp"; }));
}

// Accepts the next word when the request's seed is even: a backend whose
// answers depend on the seed, the hunk and the position.
std::string half_oracle_word(const std::map<std::string, std::string>& texts, const CompletionQuery& q) {
  if (q.seed % 2 == 1) return "nope";
  const size_t at = q.request_key.rfind('@');
  const std::string& text = texts.at(q.request_key.substr(0, at));
  size_t offset = std::stoul(q.request_key.substr(at + 1)), end = offset;
  while (end < text.size() && is_word_byte(static_cast<unsigned char>(text[end]))) ++end;
  return text.substr(offset, std::max(end, offset + 1) - offset);
}

TEST(Replay, SameSeedSameReportAndThreadsDoNotMatter) {
  TempDir dir;
  TestRepo repo(dir.path());
  const std::string range = eval_test::make_python_history(repo) + "..HEAD";
  const auto texts = eval_test::hunk_texts(dir.path(), range);
  const auto script = [texts](const CompletionQuery& q) { return half_oracle_word(texts, q); };
  ReplayOptions o = options_for(dir.path(), range);
  auto serial = run_replay(o, scripted_factory(script));
  auto again = run_replay(o, scripted_factory(script));
  o.threads = 4;
  auto parallel = run_replay(o, scripted_factory(script));
  ASSERT_TRUE(serial.ok() && again.ok() && parallel.ok());
  EXPECT_EQ(comparable(*serial), comparable(*again));
  EXPECT_EQ(comparable(*serial), comparable(*parallel));
  EXPECT_GT(serial->totals.accepted, 0);
  EXPECT_GT(serial->totals.rejected, 0);

  o.seed = 12;
  auto other_seed = run_replay(o, scripted_factory(script));
  ASSERT_TRUE(other_seed.ok());
  EXPECT_NE(comparable(*serial)["totals"], comparable(*other_seed)["totals"]);
}

TEST(Replay, SkippedHunksGiveASecondSampleDisjointFromTheFirst) {
  TempDir dir;
  TestRepo repo(dir.path());
  const std::string range = eval_test::make_python_history(repo) + "..HEAD";
  ReplayOptions o = options_for(dir.path(), range);
  auto all = run_replay(o, scripted_factory([](const CompletionQuery&) { return std::string(); }));
  ASSERT_TRUE(all.ok());
  ASSERT_GE(all->hunks.size(), 6u);
  o.max_hunks = 3;
  auto first = run_replay(o, scripted_factory([](const CompletionQuery&) { return std::string(); }));
  o.skip_hunks = 3;
  auto second = run_replay(o, scripted_factory([](const CompletionQuery&) { return std::string(); }));
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_EQ(first->hunks.size(), 3u);
  ASSERT_EQ(second->hunks.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(first->hunks[i].id, all->hunks[i].id);       // the seeded order's first three
    EXPECT_EQ(second->hunks[i].id, all->hunks[3 + i].id);  // and the next three
  }
}

TEST(Replay, CapsTakeWholeHunksInTheSeededOrder) {
  TempDir dir;
  TestRepo repo(dir.path());
  const std::string range = eval_test::make_python_history(repo) + "..HEAD";
  const auto garbage = scripted_factory([](const CompletionQuery&) { return "?"; });
  ReplayOptions o = options_for(dir.path(), range);
  auto all = run_replay(o, garbage);
  ASSERT_TRUE(all.ok());
  o.max_hunks = 3;
  auto three = run_replay(o, garbage);
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(three->totals.hunks, 3);
  EXPECT_EQ(three->hunks_available, all->hunks_available);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(three->hunks[i].id, all->hunks[i].id);

  o.max_hunks = 0;
  o.max_suggestions = 25;
  for (int threads : {1, 3}) {
    o.threads = threads;
    auto capped = run_replay(o, garbage);
    ASSERT_TRUE(capped.ok());
    int64_t before_last = capped->totals.requests - capped->hunks.back().counts.requests;
    EXPECT_GE(capped->totals.requests, 25);
    EXPECT_LT(before_last, 25);  // stops after the hunk that reaches the cap
    for (size_t i = 0; i < capped->hunks.size(); ++i) EXPECT_EQ(capped->hunks[i].id, all->hunks[i].id);
  }
}

TEST(Replay, BackendFailureStopsTheReplay) {
  TempDir dir;
  TestRepo repo(dir.path());
  const std::string range = eval_test::make_python_history(repo) + "..HEAD";
  class Failing final : public CompletionBackend {
    Result<Completion> complete(const CompletionQuery&) override {
      return Status(StatusCode::kUnavailable, "server went away");
    }
    Status report_outcome(const CompletionQuery&, const Completion&, const OutcomeReport&) override {
      return Status::OK();
    }
  };
  ReplayOptions o = options_for(dir.path(), range);
  o.threads = 2;
  auto report = run_replay(o, [] { return Result<std::unique_ptr<CompletionBackend>>(std::make_unique<Failing>()); });
  EXPECT_EQ(report.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(report.status().message().find("server went away"), std::string::npos);
}

TEST(Report, JsonRoundTripAndTable) {
  TempDir dir;
  TestRepo repo(dir.path());
  const std::string range = eval_test::make_python_history(repo) + "..HEAD";
  const auto texts = eval_test::hunk_texts(dir.path(), range);
  auto report = run_replay(options_for(dir.path(), range),
                           scripted_factory([texts](const CompletionQuery& q) { return half_oracle_word(texts, q); }));
  ASSERT_TRUE(report.ok());
  ASSERT_TRUE(write_report(dir.path() / "report.json", *report).ok());
  auto back = read_report(dir.path() / "report.json");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(report_to_json(*back), report_to_json(*report));
  const std::string table = format_report_table(*report);
  EXPECT_NE(table.find("acceptance (accepted / shown)"), std::string::npos);
  EXPECT_NE(table.find("python"), std::string::npos);
  auto broken = report_from_json({{"repo", "x"}});
  EXPECT_EQ(broken.status().code(), StatusCode::kCorruption);
}

TEST(Compare, PairedGainOfABetterCandidate) {
  TempDir dir;
  TestRepo repo(dir.path());
  const std::string range = eval_test::make_python_history(repo) + "..HEAD";
  const auto texts = eval_test::hunk_texts(dir.path(), range);
  auto baseline =
      run_replay(options_for(dir.path(), range),
                 scripted_factory([texts](const CompletionQuery& q) { return half_oracle_word(texts, q); }));
  auto candidate = run_replay(options_for(dir.path(), range), scripted_factory(oracle(texts)));
  ASSERT_TRUE(baseline.ok() && candidate.ok());
  auto cmp = compare_reports(*candidate, *baseline, ReplayMetric::kAcceptance, 1000, 5);
  ASSERT_TRUE(cmp.ok()) << cmp.status().to_string();
  EXPECT_EQ(cmp->paired_hunks, candidate->totals.hunks);
  EXPECT_DOUBLE_EQ(cmp->candidate, 1.0);
  EXPECT_DOUBLE_EQ(cmp->baseline, baseline->rates.acceptance.value);
  ASSERT_TRUE(cmp->relative_gain.has_value());
  EXPECT_GT(cmp->relative_gain->low, 0);
  EXPECT_NEAR(cmp->relative_gain->value, 1.0 / cmp->baseline - 1, 1e-12);
  EXPECT_GT(cmp->difference.low, 0);

  auto self = compare_reports(*baseline, *baseline);
  ASSERT_TRUE(self.ok());
  EXPECT_EQ(self->difference.low, 0);
  EXPECT_EQ(self->difference.high, 0);

  ReplayReport disjoint = *baseline;
  for (HunkRecord& h : disjoint.hunks) h.id += "-other";
  EXPECT_EQ(compare_reports(*candidate, disjoint).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace flywheel::eval
