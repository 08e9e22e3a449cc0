// EventWriter: group commit under many callers, record()'s delay bound,
// flush and destructor, usage in the same commit, retries, and a bad row
// failing only its own caller.
#include "feedback/event_writer.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/core/test_util.h"
#include "tests/feedback/counting_store.h"
#include "tests/feedback/store_backends.h"

namespace flywheel::feedback::testing {
namespace {

using std::chrono::milliseconds;

class EventWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = open_store((dir_ / "events.db").string());
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    store_ = std::make_unique<CountingStore>(std::move(*store));
  }
  int64_t count(const std::string& tenant = "acme") { return *store_->count_suggestions(tenant); }

  flywheel::testing_util::TempDir dir_;
  std::unique_ptr<CountingStore> store_;
};

TEST_F(EventWriterTest, ConcurrentDurableCallersShareCommits) {
  store_->set_commit_delay(milliseconds(2));  // a slow fsync, so that callers queue up behind it
  EventWriter writer(*store_);
  constexpr int kThreads = 16, kEach = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        std::vector<OutcomeEvent> outcome = {make_outcome(id, "acme", OutcomeKind::kShown)};
        if (!writer.record_durable({make_suggestion(id, "acme")}, outcome).ok()) ++failures;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(count(), kThreads * kEach);
  EXPECT_EQ(*store_->count_outcomes("acme"), kThreads * kEach);
  EXPECT_EQ(writer.committed_events(), 2 * kThreads * kEach);
  EXPECT_LE(store_->commits(), kThreads * kEach / 2) << "group commit should batch concurrent callers";
  EXPECT_EQ(writer.pending(), 0u);
}

TEST_F(EventWriterTest, DurableMeansVisibleOnReturn) {
  EventWriter writer(*store_, {.max_delay = std::chrono::hours(1)});
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(writer.record_durable({make_suggestion("d" + std::to_string(i), "acme")}, {}).ok());
    EXPECT_EQ(count(), i + 1);
  }
}

TEST_F(EventWriterTest, RecordCommitsWithinMaxDelay) {
  EventWriter writer(*store_, {.max_delay = milliseconds(100)});
  const auto start = std::chrono::steady_clock::now();
  writer.record({make_suggestion("r1", "acme")});
  while (count() == 0 && std::chrono::steady_clock::now() - start < std::chrono::seconds(5))
    std::this_thread::sleep_for(milliseconds(2));
  EXPECT_EQ(count(), 1);
  // Batched: the writer waits for company, it does not commit each record() at once.
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(40));
}

TEST_F(EventWriterTest, FlushAndDestructorCommitWithoutWaitingForTheDelay) {
  const auto start = std::chrono::steady_clock::now();
  {
    EventWriter writer(*store_, {.max_delay = std::chrono::hours(1)});
    for (int i = 0; i < 10; ++i) writer.record({make_suggestion("f" + std::to_string(i), "acme")});
    ASSERT_TRUE(writer.flush().ok());
    EXPECT_EQ(count(), 10);
    EXPECT_EQ(writer.pending(), 0u);
    writer.record({make_suggestion("last", "acme")});
  }
  EXPECT_EQ(count(), 11);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(EventWriterTest, UsageIsCommittedWithTheEvents) {
  EventWriter writer(*store_, {.max_delay = std::chrono::hours(1)});
  writer.record({make_suggestion("u1", "acme")}, {}, {{"acme", "m", "/v1/completions", 1, 40, 8}});
  writer.record({}, {}, {{"acme", "m", "/v1/completions", 1, 10, 2}});
  ASSERT_TRUE(writer.flush().ok());
  EXPECT_EQ(store_->commits(), 1);
  auto usage = store_->usage("acme", 0, {});
  ASSERT_EQ(usage->size(), 1u);
  EXPECT_EQ((*usage)[0].requests, 2);
  EXPECT_EQ((*usage)[0].prompt_tokens, 50);
  EXPECT_EQ((*usage)[0].completion_tokens, 10);
}

TEST_F(EventWriterTest, TransientFailuresAreRetried) {
  store_->fail_next(3, Status(StatusCode::kUnavailable, "database is busy"));
  EventWriter writer(*store_);
  EXPECT_TRUE(writer.record_durable({make_suggestion("x", "acme")}, {}).ok());
  EXPECT_EQ(store_->failed_commits(), 3);
  EXPECT_EQ(count(), 1);
}

TEST_F(EventWriterTest, DurableCallerGetsTheErrorWhenRetriesRunOut) {
  store_->fail_next(1000, Status(StatusCode::kUnavailable, "database is down"));
  EventWriter writer(*store_);
  Status status = writer.record_durable({make_suggestion("x", "acme")}, {});
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.to_string();
  store_->fail_next(0, Status::OK());
  EXPECT_EQ(count(), 0);
}

TEST_F(EventWriterTest, RecordedEventsWaitForTheStoreToRecover) {
  // More failures than one round of retries: record()'d events are kept and
  // tried again later, not dropped.
  store_->fail_next(8, Status::io_error("disk full"));
  EventWriter writer(*store_);
  writer.record({make_suggestion("kept", "acme")});
  EXPECT_TRUE(writer.flush().ok());
  EXPECT_EQ(store_->failed_commits(), 8);
  EXPECT_EQ(count(), 1);
  EXPECT_EQ(writer.pending(), 0u);
}

TEST_F(EventWriterTest, ARefusedRowFailsOnlyItsOwnCaller) {
  EventWriter writer(*store_, {.max_delay = std::chrono::hours(1)});
  writer.record({make_suggestion("good1", "acme")});
  // Queued behind good1, so both go into one transaction, which fails.
  Status bad = writer.record_durable({make_suggestion("", "acme")}, {});
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument) << bad.to_string();
  EXPECT_TRUE(writer.record_durable({make_suggestion("good2", "acme")}, {}).ok());
  EXPECT_EQ(count(), 2);

  // A record()'d bad row is dropped with an error log, and the next flush says so.
  writer.record({make_suggestion("", "acme")});
  Status flushed = writer.flush();
  EXPECT_EQ(flushed.code(), StatusCode::kInvalidArgument) << flushed.to_string();
  EXPECT_TRUE(writer.flush().ok());
  EXPECT_EQ(writer.pending(), 0u);
}

TEST_F(EventWriterTest, ASuggestionIdReusedWithOtherContentIsAnErrorNotASilentDrop) {
  EventWriter writer(*store_, {.max_delay = std::chrono::hours(1)});
  ASSERT_TRUE(writer.record_durable({make_suggestion("run-1@0", "acme")}, {}).ok());
  SuggestionEvent redone = make_suggestion("run-1@0", "acme");
  redone.text = "another suggestion";
  writer.record({make_suggestion("run-2@0", "acme")});
  Status status = writer.record_durable({redone}, {});
  EXPECT_EQ(status.code(), StatusCode::kAlreadyExists) << status.to_string();
  // A record()'d one is reported by the next flush; the good rows beside it are kept.
  writer.record({redone});
  EXPECT_EQ(writer.flush().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(count(), 2);
  // The same event again (a retried batch) is no error.
  EXPECT_TRUE(writer.record_durable({make_suggestion("run-1@0", "acme")}, {}).ok());
}

}  // namespace
}  // namespace flywheel::feedback::testing
