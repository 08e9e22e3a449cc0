// The event writer of the durability tests (durability_test.cpp), as a
// process of its own so that it can run under crash_fs (LD_PRELOAD) and be
// killed: durability_writer DB_URL MAX_DELAY_MS.
//
// Two streams into one EventWriter until it is killed, each event reported on
// stdout once the writer has taken it:
//   "D i"     record_durable() of suggestion d-i and its outcome returned OK;
//   "R j ms"  record() of suggestion r-j returned at unix time `ms` (it must
//             be durable within the writer's max_delay, MAX_DELAY_MS).
//
// FLYWHEEL_TEST_SQLITE_SYNCHRONOUS=OFF|NORMAL replaces the store's
// `PRAGMA synchronous=FULL` (sqlite3_exec is wrapped below): the tests use it
// to prove that they catch a store that acknowledges before it syncs. The
// writer exits with code 5 if the store no longer sets that pragma, so the
// weakened runs can never silently test the unweakened store.
#include <dlfcn.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

#include "feedback/event_writer.h"
#include "tests/feedback/store_backends.h"

namespace {

std::atomic<int> weakened{0};

}  // namespace

extern "C" int sqlite3_exec(sqlite3* db, const char* sql, int (*callback)(void*, int, char**, char**), void* argument,
                            char** error) {
  using Exec = int (*)(sqlite3*, const char*, int (*)(void*, int, char**, char**), void*, char**);
  static const auto real = reinterpret_cast<Exec>(::dlsym(RTLD_NEXT, "sqlite3_exec"));
  const char* synchronous = std::getenv("FLYWHEEL_TEST_SQLITE_SYNCHRONOUS");
  std::string text = sql;
  const std::string full = "PRAGMA synchronous=FULL";
  if (const size_t at = text.find(full); synchronous != nullptr && at != std::string::npos) {
    text.replace(at, full.size(), std::string("PRAGMA synchronous=") + synchronous);
    ++weakened;
  }
  return real(db, text.c_str(), callback, argument, error);
}

namespace {

using namespace flywheel::feedback;
using namespace flywheel::feedback::testing;

void write_line(const std::string& line) {
  // One write() of less than PIPE_BUF bytes: lines from two threads never interleave.
  if (::write(1, line.data(), line.size()) != static_cast<ssize_t>(line.size())) ::_exit(3);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return 1;
  auto store = open_store(argv[1]);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().to_string().c_str());
    return 2;
  }
  if (std::getenv("FLYWHEEL_TEST_SQLITE_SYNCHRONOUS") != nullptr && weakened == 0) return 5;
  EventWriter writer(**store, {.max_delay = std::chrono::milliseconds(std::atoi(argv[2]))});
  std::thread recorder([&] {
    for (int j = 0;; ++j) {
      const std::string id = "r-" + std::to_string(j);
      writer.record({make_suggestion(id, "acme", unix_millis_now())});
      write_line("R " + std::to_string(j) + " " + std::to_string(unix_millis_now()) + "\n");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  for (int i = 0;; ++i) {
    std::vector<OutcomeEvent> outcome = {make_outcome("d-" + std::to_string(i), "acme", OutcomeKind::kAccepted)};
    if (!writer.record_durable({make_suggestion("d-" + std::to_string(i), "acme")}, outcome).ok()) ::_exit(4);
    write_line("D " + std::to_string(i) + "\n");
    // Pauses leave record()'d events alone in the queue, on their delay timer.
    if (i % 20 == 19) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}
