// Crash durability of the stores behind an EventWriter. A writer process
// (durability_writer.cpp) records events and reports each one as soon as
// the writer has taken it; the test crashes it mid-stream and reopens the
// database. Every event acknowledged by record_durable() must be there, and
// every record()'d event older than max_delay at the moment of the crash.
//
// Two crashes:
// - kill -9 of the writer: the kernel's page cache survives, so this alone
//   would pass with a store that never syncs;
// - a lost page cache: the writer (SQLite) or the server (PostgreSQL, with
//   fsync on) runs under crash_fs (tests/common/crash_fs), and after the
//   kill every file goes back to what its last fsync made durable. The power
//   is cut inside a sync, when the most data is in flight; the SQLite crash
//   is tried with none and with half of that data written back page by page
//   (a torn WAL tail), and the database must pass integrity_check.
// The second is shown able to fail: a SQLite store forced to
// synchronous=OFF or NORMAL, and a PostgreSQL server with fsync off, keep
// every event through kill -9 and lose acknowledged ones through the crash.
//
// Only these tests run PostgreSQL with fsync on (postgres_server.h says
// what it would cost the others).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <set>
#include <sstream>

#include "feedback/sqlite_connection.h"
#include "tests/common/crash_fs/crash_fs.h"
#include "tests/core/test_util.h"
#include "tests/feedback/store_backends.h"

extern char** environ;

namespace flywheel::feedback::testing {
namespace {

constexpr std::chrono::milliseconds kMaxDelay{200};
constexpr size_t kAcknowledged = 50;                  // durable events acknowledged before the crash
constexpr size_t kNeverCrashed = 20 * kAcknowledged;  // a crash that has not come by then never will

// What the writer acknowledged before it was stopped.
struct Acknowledged {
  std::vector<int> durable;                       // d-i
  std::vector<std::pair<int, int64_t>> recorded;  // r-j, and when record() returned
  int64_t crash_ms = 0;
};

// The crash of kill -9 (and of weakened stores, which sync too seldom to
// crash inside a sync): once kAcknowledged durable events are acknowledged.
bool enough(const Acknowledged& acked) { return acked.durable.size() >= kAcknowledged; }

// Runs durability_writer on `url` (with `environment` added). After each line
// it reads, `crashed` says whether the crash has happened (it may cause it);
// the writer is then SIGKILLed. A writer that dies first must have been
// SIGKILLed (by crash_fs, inside a sync). out.crash_ms is no later than the
// crash: the last time the test saw the crash not yet happened, or the last
// time the writer printed.
void run_writer(const std::string& url, const std::vector<std::string>& environment,
                const std::function<bool(const Acknowledged&)>& crashed, Acknowledged& out) {
  // Ours replace the inherited ones (ld.so would take the last LD_PRELOAD).
  std::vector<std::string> variables = environment;
  auto overridden = [&](std::string_view inherited) {
    for (const auto& v : environment)
      if (inherited.substr(0, v.find('=') + 1) == std::string_view(v).substr(0, v.find('=') + 1)) return true;
    return false;
  };
  for (char** v = environ; *v != nullptr; ++v)
    if (!overridden(*v)) variables.emplace_back(*v);
  std::vector<char*> envp;
  for (auto& v : variables) envp.push_back(v.data());
  envp.push_back(nullptr);
  const std::string writer = FLYWHEEL_DURABILITY_WRITER, delay = std::to_string(kMaxDelay.count());
  std::vector<char*> argv = {const_cast<char*>(writer.c_str()), const_cast<char*>(url.c_str()),
                             const_cast<char*>(delay.c_str()), nullptr};
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  FILE* in = ::fdopen(fds[0], "r");
  char line[128];
  int64_t not_yet_ms = unix_millis_now(), last_printed_ms = 0;
  bool gave_up = false;
  while (std::fgets(line, sizeof(line), in) != nullptr) {
    std::istringstream fields(line);
    char kind = 0;
    int n = 0;
    int64_t at = 0;
    fields >> kind >> n >> at;
    if (kind == 'D') out.durable.push_back(n);
    if (kind == 'R') out.recorded.emplace_back(n, at);
    last_printed_ms = std::max(last_printed_ms, at);
    if (out.crash_ms != 0 || gave_up) continue;
    if (crashed(out)) {
      out.crash_ms = not_yet_ms;
      (void)::kill(pid, SIGKILL);
    } else if (out.durable.size() >= kNeverCrashed) {
      gave_up = true;
      (void)::kill(pid, SIGKILL);
    } else {
      not_yet_ms = unix_millis_now();
    }
  }
  std::fclose(in);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_FALSE(gave_up) << "no crash after " << kNeverCrashed << " acknowledged events (is crash_fs loaded?)";
  if (out.crash_ms == 0) {
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer ended before the crash (exit code " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << ")";
    out.crash_ms = last_printed_ms;
  }
}

// Suggestion ids present (and those with an outcome) in the store at `url`.
struct Present {
  std::set<std::string> suggestions, with_outcome;
};
Result<Present> read_back(const std::string& url) {
  FW_ASSIGN_OR_RETURN(auto store, open_store(url));
  FW_ASSIGN_OR_RETURN(auto events, store->events(query_for("acme")));
  Present present;
  for (const auto& e : events) {
    present.suggestions.insert(e.suggestion.id);
    if (!e.outcomes.empty()) present.with_outcome.insert(e.suggestion.id);
  }
  return present;
}

// Acknowledged events missing from `present`, one line each ("" when none).
std::string missing(const Acknowledged& acked, const Present& present) {
  std::string out;
  for (int i : acked.durable) {
    const std::string id = "d-" + std::to_string(i);
    if (!present.suggestions.count(id)) out += "acknowledged durable event " + id + " was lost\n";
    if (!present.with_outcome.count(id)) out += "the outcome of " + id + " was lost\n";
  }
  for (const auto& [j, at] : acked.recorded) {
    if (at >= acked.crash_ms - kMaxDelay.count()) continue;
    if (!present.suggestions.count("r-" + std::to_string(j)))
      out += "r-" + std::to_string(j) + " was recorded " + std::to_string(acked.crash_ms - at) +
             " ms before the crash (max_delay " + std::to_string(kMaxDelay.count()) + " ms) and was lost\n";
  }
  return out;
}

size_t old_enough(const Acknowledged& acked) {
  size_t n = 0;
  for (const auto& [j, at] : acked.recorded) n += at < acked.crash_ms - kMaxDelay.count();
  return n;
}

Status sqlite_integrity(const std::string& db) {
  FW_ASSIGN_OR_RETURN(auto connection, open_sqlite_connection(db));
  return connection->transact(TransactionMode::kRead, [](SqlTransaction& tx) -> Status {
    FW_ASSIGN_OR_RETURN(auto rows, tx.query("PRAGMA integrity_check"));
    if (rows.size() != 1 || sql_text(rows[0][0]) != "ok")
      return Status::corruption("integrity_check: " + (rows.empty() ? "" : sql_text(rows[0][0])));
    return Status::OK();
  });
}

// A copy of every file of `from` in `to`: the disk as kill -9 leaves it.
void copy_tree(const std::string& from, const std::string& to) {
  crash_fs::for_each_file(from, [&](const std::string& relative) {
    ASSERT_EQ(crash_fs::copy_file(from + relative, to + relative), 0) << relative;
  });
}

TEST(DurabilityTest, AcknowledgedEventsSurviveKill9) {
  flywheel::testing_util::TempDir dir;
  const std::string db = (dir / "events.db").string();
  Acknowledged acked;
  ASSERT_NO_FATAL_FAILURE(run_writer(db, {}, enough, acked));
  auto present = read_back(db);
  ASSERT_TRUE(present.ok()) << present.status().to_string();
  EXPECT_EQ(missing(acked, *present), "");
  EXPECT_GE(acked.durable.size(), kAcknowledged);
  EXPECT_GT(old_enough(acked), 0u);
}

// The SQLite store under crash_fs: `synchronous` empty is the store as it is.
// The disk as the writer left it stays in data/; each crash works on a copy.
struct SqliteCrash {
  flywheel::testing_util::TempDir dir;
  Acknowledged acked;

  // The store as it is kills itself in a sync (the kSyncs-th: enough for
  // kAcknowledged durable events); a weakened one syncs too seldom for that
  // and is killed after kAcknowledged events.
  void run(const std::string& synchronous) {
    constexpr int kSyncs = 150;
    std::filesystem::create_directories(data());
    auto environment = crash_fs::preload_environment(FLYWHEEL_CRASH_FS_LIB, data(), image());
    if (synchronous.empty()) environment.push_back("CRASHFS_KILL_AT_SYNC=" + std::to_string(kSyncs));
    if (!synchronous.empty()) environment.push_back("FLYWHEEL_TEST_SQLITE_SYNCHRONOUS=" + synchronous);
    auto in_a_sync = [](const Acknowledged&) { return false; };  // crash_fs kills the writer
    ASSERT_NO_FATAL_FAILURE(
        run_writer(data() + "/events.db", environment, synchronous.empty() ? in_a_sync : enough, acked));
  }

  // The database as kill -9 leaves it: the page cache intact.
  std::string after_kill9() {
    copy_tree(data(), (dir / "kill9").string());
    return (dir / "kill9" / "events.db").string();
  }

  // The database after a crash that lost the page cache (but `writeback`).
  std::string after_crash(const std::string& name, const crash_fs::Writeback& writeback) {
    const std::string copy = (dir / name).string();
    copy_tree(data(), copy);
    const Status lost = crash_fs::lose_unsynced(copy, image(), writeback);
    EXPECT_TRUE(lost.ok()) << lost.to_string();
    return copy + "/events.db";
  }

  std::string data() const { return (dir / "data").string(); }
  std::string image() const { return (dir / "image").string(); }
};

TEST(DurabilityTest, AcknowledgedEventsSurviveALostPageCache) {
  SqliteCrash crash;
  ASSERT_NO_FATAL_FAILURE(crash.run(""));
  EXPECT_GE(crash.acked.durable.size(), kAcknowledged);
  EXPECT_GT(old_enough(crash.acked), 0u);
  // Nothing unsynced reached the disk; then half of it did, page by page
  // (three seeds): SQLite must tell a torn WAL tail from a committed one.
  const std::vector<crash_fs::Writeback> crashes = {{0, 0}, {0.5, 1}, {0.5, 2}, {0.5, 3}};
  for (size_t c = 0; c < crashes.size(); ++c) {
    SCOPED_TRACE("written back: " + std::to_string(crashes[c].fraction) + ", seed " + std::to_string(crashes[c].seed));
    const std::string db = crash.after_crash("crash" + std::to_string(c), crashes[c]);
    const Status integrity = sqlite_integrity(db);
    ASSERT_TRUE(integrity.ok()) << integrity.to_string();
    auto present = read_back(db);
    ASSERT_TRUE(present.ok()) << present.status().to_string();
    EXPECT_EQ(missing(crash.acked, *present), "");
  }
}

// The harness can fail: with the store's syncs weakened, kill -9 keeps every
// acknowledged event and the lost page cache does not.
class WeakenedSqliteTest : public ::testing::TestWithParam<std::string> {};

TEST_P(WeakenedSqliteTest, LostPageCacheLosesAcknowledgedEvents) {
  SqliteCrash crash;
  ASSERT_NO_FATAL_FAILURE(crash.run(GetParam()));
  const std::string kill9_db = crash.after_kill9();
  // NORMAL syncs the WAL only when it checkpoints (1000 pages by default):
  // a smaller WAL says no sync has happened since the database was created.
  if (GetParam() == "NORMAL") {
    ASSERT_LT(std::filesystem::file_size(kill9_db + "-wal"), 1000u * 4096u)
        << "the WAL was checkpointed: fewer events would make this test's premise hold";
  }
  auto after_kill9 = read_back(kill9_db);
  ASSERT_TRUE(after_kill9.ok()) << after_kill9.status().to_string();
  EXPECT_EQ(missing(crash.acked, *after_kill9), "") << "kill -9 alone must not lose events, synced or not";
  // A database file that was never synced is gone, and a new one is empty.
  const std::string crash_db = crash.after_crash("crash", {});
  const Status integrity = sqlite_integrity(crash_db);
  ASSERT_TRUE(integrity.ok()) << integrity.to_string();
  auto after_crash = read_back(crash_db);
  ASSERT_TRUE(after_crash.ok()) << after_crash.status().to_string();
  EXPECT_NE(missing(crash.acked, *after_crash), "") << "synchronous=" << GetParam() << " lost nothing";
}

INSTANTIATE_TEST_SUITE_P(Synchronous, WeakenedSqliteTest, ::testing::Values("OFF", "NORMAL"),
                         [](const auto& info) { return info.param; });

// PostgreSQL: the server (not the client) runs under crash_fs. The power is
// cut inside a sync (a backend's COMMIT, as it happens), the processes left
// are shut down at once, the page cache is lost, and the server starts again
// and recovers.
struct PostgresCrash {
  // Syncs before the power cut, counted from when the test's database
  // exists (the count is reset then, so how many the start and CREATE
  // DATABASE take does not matter): one per commit, and a few of the
  // background writers', so kAcknowledged events come first.
  static constexpr int kServerSyncs = 80;
  Acknowledged acked;
  std::string url;

  void run(PostgresServer& server, bool durable) {
    Status status = server.init();
    ASSERT_TRUE(status.ok()) << status.to_string();
    const std::string image = server.work_dir() + "/image";
    // A copy the postgres user can read (the build folder may be under /root).
    const std::string library = server.work_dir() + "/libcrash_fs.so";
    std::filesystem::copy_file(FLYWHEEL_CRASH_FS_LIB, library);
    std::filesystem::permissions(library, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                              std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                              std::filesystem::perms::others_exec);
    auto environment = crash_fs::preload_environment(library, server.data_dir(), image);
    if (durable) {
      environment.push_back("CRASHFS_KILL_AT_SYNC=" + std::to_string(kServerSyncs));
    }
    server.set_environment(environment);
    status = crash_fs::mark_durable(server.data_dir(), image);
    ASSERT_TRUE(status.ok()) << status.to_string();
    auto fresh = server.new_database();
    ASSERT_TRUE(fresh.ok()) << fresh.status().to_string();
    url = *fresh;
    if (durable) std::filesystem::resize_file(image + ".syncs", 0);  // crash_fs counts from 0 again
    // A durable server has the power cut in a sync (crash_fs); one with fsync
    // off never syncs and is shut down at once after kAcknowledged.
    Status crashed;
    const std::function<bool(const Acknowledged&)> shut_down = [&](const Acknowledged& acked) {
      if (!enough(acked)) return false;
      crashed = server.crash();
      return true;
    };
    const std::function<bool(const Acknowledged&)> died = [&](const Acknowledged&) {
      if (!std::filesystem::exists(image + ".crashed")) return false;
      crashed = server.crash();  // the processes crash_fs has not killed yet
      return true;
    };
    ASSERT_NO_FATAL_FAILURE(run_writer(url, {}, durable ? died : shut_down, acked));
    ASSERT_TRUE(crashed.ok()) << crashed.to_string();
    status = crash_fs::lose_unsynced(server.data_dir(), image);
    ASSERT_TRUE(status.ok()) << status.to_string();
    status = server.start();
    ASSERT_TRUE(status.ok()) << status.to_string();
  }
};

TEST(PostgresDurabilityTest, AcknowledgedEventsSurviveALostPageCache) {
  PostgresServer server({.durable = true});
  PostgresCrash crash;
  ASSERT_NO_FATAL_FAILURE(crash.run(server, true));
  auto present = read_back(crash.url);
  ASSERT_TRUE(present.ok()) << present.status().to_string();
  EXPECT_EQ(missing(crash.acked, *present), "");
  EXPECT_GE(crash.acked.durable.size(), kAcknowledged);
  EXPECT_GT(old_enough(crash.acked), 0u);
}

TEST(PostgresDurabilityTest, FsyncOffLosesAcknowledgedEvents) {
  PostgresServer server({.durable = false});
  PostgresCrash crash;
  ASSERT_NO_FATAL_FAILURE(crash.run(server, false));
  // Nothing was synced since initdb: the test's database itself may be gone.
  auto present = read_back(crash.url);
  if (!present.ok()) {
    EXPECT_NE(present.status().message().find("does not exist"), std::string::npos) << present.status().to_string();
    return;
  }
  EXPECT_NE(missing(crash.acked, *present), "") << "fsync=off lost nothing";
}

}  // namespace
}  // namespace flywheel::feedback::testing
