// Crash durability of the SQLite store behind an EventWriter: a child process
// records events and reports each one on a pipe as soon as the writer has
// taken it; the parent kills it with SIGKILL mid-stream and reopens the
// database. Every event acknowledged by record_durable() must be there, and
// every record()'d event older than max_delay at the moment of the kill.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <thread>

#include "feedback/event_writer.h"
#include "tests/core/test_util.h"
#include "tests/feedback/store_backends.h"

namespace flywheel::feedback::testing {
namespace {

constexpr std::chrono::milliseconds kMaxDelay{200};

void write_line(int fd, const std::string& line) {
  // One write() of less than PIPE_BUF bytes: lines from two threads never interleave.
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) ::_exit(3);
}

[[noreturn]] void child(const std::string& db, int fd) {
  auto store = open_store(db);
  if (!store.ok()) ::_exit(2);
  EventWriter writer(**store, {.max_delay = kMaxDelay});
  std::thread recorder([&] {
    for (int j = 0;; ++j) {
      const std::string id = "r-" + std::to_string(j);
      writer.record({make_suggestion(id, "acme", unix_millis_now())});
      write_line(fd, "R " + std::to_string(j) + " " + std::to_string(unix_millis_now()) + "\n");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  for (int i = 0;; ++i) {
    std::vector<OutcomeEvent> outcome = {make_outcome("d-" + std::to_string(i), "acme", OutcomeKind::kAccepted)};
    if (!writer.record_durable({make_suggestion("d-" + std::to_string(i), "acme")}, outcome).ok()) ::_exit(4);
    write_line(fd, "D " + std::to_string(i) + "\n");
    // Pauses leave record()'d events alone in the queue, on their delay timer.
    if (i % 20 == 19) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

TEST(DurabilityTest, AcknowledgedEventsSurviveKill9) {
  flywheel::testing_util::TempDir dir;
  const std::string db = (dir / "events.db").string();
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    child(db, fds[1]);
  }
  ::close(fds[1]);
  FILE* in = ::fdopen(fds[0], "r");
  std::vector<int> durable;
  std::vector<std::pair<int, int64_t>> recorded;
  int64_t kill_ms = 0;
  char line[128];
  while (std::fgets(line, sizeof(line), in) != nullptr) {
    std::istringstream fields(line);
    char kind = 0;
    int n = 0;
    int64_t at = 0;
    fields >> kind >> n >> at;
    if (kind == 'D') durable.push_back(n);
    if (kind == 'R') recorded.emplace_back(n, at);
    if (kill_ms == 0 && durable.size() >= 50) {
      kill_ms = unix_millis_now();
      ASSERT_EQ(::kill(pid, SIGKILL), 0);
    }
  }
  std::fclose(in);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the child ended on its own (exit code " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << ")";
  ASSERT_GT(kill_ms, 0);

  auto store = open_store(db);
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  auto events = (*store)->events(query_for("acme"));
  ASSERT_TRUE(events.ok()) << events.status().to_string();
  std::set<std::string> present;
  std::set<std::string> with_outcome;
  for (const auto& e : *events) {
    present.insert(e.suggestion.id);
    if (!e.outcomes.empty()) with_outcome.insert(e.suggestion.id);
  }
  for (int i : durable) {
    EXPECT_TRUE(present.count("d-" + std::to_string(i))) << "acknowledged durable event d-" << i << " was lost";
    EXPECT_TRUE(with_outcome.count("d-" + std::to_string(i))) << "the outcome of d-" << i << " was lost";
  }
  int old_enough = 0;
  for (const auto& [j, at] : recorded) {
    if (at >= kill_ms - kMaxDelay.count()) continue;
    ++old_enough;
    EXPECT_TRUE(present.count("r-" + std::to_string(j)))
        << "r-" << j << " was recorded " << kill_ms - at << " ms before the kill (max_delay " << kMaxDelay.count()
        << " ms) and was lost";
  }
  EXPECT_GE(durable.size(), 50u);
  EXPECT_GT(old_enough, 0);
}

}  // namespace
}  // namespace flywheel::feedback::testing
