// bench_events: event ingest with fsync durability, in one run:
//
// 1. the disk's limit: a 4 KB write + fdatasync loop on a small file in the
//    benchmark's folder (syncs/s bounds any commit rate that waits for the
//    disk; SQLite syncs its WAL with fdatasync on Linux), and the same with fsync;
// 2. the reference: one transaction (one fsync) per event, store.append() in a loop;
// 3. EventWriter with 1, 8 and 32 threads calling record_durable() (each
//    call returns only after its event is committed), where group commit puts
//    many callers' events into one transaction.
//
// Every mode writes a fresh SQLite database (WAL, synchronous=FULL) of
// suggestion events with realistic ~2.5 KB text windows, for --seconds each.
// The folder defaults to ./bench-events-tmp, so the disk under test is the
// one the command runs on (a tmpfs /tmp would measure memory, not a disk).
//
// usage: bench_events [--json] [--dir DIR] [--seconds S] [--callers 1,8,32]
#include <fcntl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "feedback/event_writer.h"
#include "feedback/store.h"

namespace fs = std::filesystem;
using namespace flywheel::feedback;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  bool json = false;
  fs::path dir = "bench-events-tmp";
  double seconds = 2.0;
  std::vector<int> callers = {1, 8, 32};
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "bench_events: " << message
            << "\nusage: bench_events [--json] [--dir DIR] [--seconds S] [--callers 1,8,32]\n";
  std::exit(2);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--json") {
        o.json = true;
      } else if (a == "--dir") {
        o.dir = value();
      } else if (a == "--seconds") {
        o.seconds = std::stod(value());
      } else if (a == "--callers") {
        o.callers.clear();
        std::stringstream list(value());
        for (std::string item; std::getline(list, item, ',');) o.callers.push_back(std::stoi(item));
      } else {
        usage_error("unknown argument '" + a + "'");
      }
    } catch (const std::exception&) {
      usage_error("bad value for " + a);
    }
  }
  if (o.seconds <= 0 || o.callers.empty()) usage_error("--seconds and --callers must be positive");
  return o;
}

[[noreturn]] void fail(const std::string& what, const flywheel::Status& status) {
  std::cerr << "bench_events: " << what << ": " << status.to_string() << "\n";
  std::exit(1);
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string filesystem_type(const fs::path& dir) {
  struct statfs s {};
  if (::statfs(dir.c_str(), &s) != 0) return "unknown";
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0xEF53:
      return "ext4";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x01021994:
      return "tmpfs (no disk: fsync is free)";
    case 0x794C7630:
      return "overlayfs";
    default:
      return "other";
  }
}

// 4 KB written at the same offset and flushed to the disk, as a commit does
// to a WAL that is reused in place. `data_only`: fdatasync (SQLite's sync on
// Linux), else fsync (also the file's metadata).
double syncs_per_second(const fs::path& dir, double seconds, bool data_only) {
  const fs::path file = dir / "sync-probe";
  const int fd = ::open(file.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0) fail("open " + file.string(), flywheel::Status::from_errno("open", errno));
  std::string block(4096, 'x');
  int64_t n = 0;
  const auto start = Clock::now();
  while (seconds_since(start) < seconds) {
    if (::pwrite(fd, block.data(), block.size(), 0) != static_cast<ssize_t>(block.size()) ||
        (data_only ? ::fdatasync(fd) : ::fsync(fd)) != 0)
      fail("write+sync " + file.string(), flywheel::Status::from_errno("sync", errno));
    ++n;
  }
  const double rate = static_cast<double>(n) / seconds_since(start);
  ::close(fd);
  fs::remove(file);
  return rate;
}

SuggestionEvent event(int thread, int64_t i) {
  static const std::string prefix = [] {
    std::string s;
    while (s.size() < 2048) s += "    total = compute(values, weights)  # running sum\n";
    return s.substr(0, 2048);
  }();
  SuggestionEvent e;
  e.id = "cmpl-" + std::to_string(thread) + "-" + std::to_string(i);
  e.tenant = "bench";
  e.model_id = "default";
  e.repo = "github.com/acme/app";
  e.path = "src/app/module.py";
  e.language = "python";
  e.cursor = 4096 + i;
  e.prefix_hash = std::string(64, 'a');
  e.suffix_hash = std::string(64, 'b');
  e.prefix_window = prefix;
  e.suffix_window = prefix.substr(0, 512);
  e.text = "return total / len(values)";
  e.prompt_tokens = 700;
  e.completion_tokens = 9;
  e.latency_ms = 42.5;
  e.shown_at_ms = unix_millis_now();
  return e;
}

struct Figure {
  std::string mode;
  int callers = 1;
  int64_t events = 0;
  int64_t commits = 0;
  double seconds = 0;
  double p50_ms = 0, p99_ms = 0;
  double events_per_second() const { return static_cast<double>(events) / seconds; }
  double commits_per_second() const { return static_cast<double>(commits) / seconds; }
};

void set_percentiles(Figure& f, std::vector<double>& latencies) {
  if (latencies.empty()) return;
  std::sort(latencies.begin(), latencies.end());
  f.p50_ms = latencies[latencies.size() / 2];
  f.p99_ms = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
}

std::unique_ptr<Store> fresh_store(const fs::path& dir, const std::string& name) {
  const fs::path db = dir / (name + ".db");
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db.string() + suffix);
  auto store = open_store(db.string());
  if (!store.ok()) fail("open " + db.string(), store.status());
  return std::move(*store);
}

Figure one_transaction_per_event(const fs::path& dir, double seconds) {
  auto store = fresh_store(dir, "reference");
  Figure f{"one transaction per event (reference)"};
  std::vector<double> latencies;
  const auto start = Clock::now();
  while (seconds_since(start) < seconds) {
    std::vector<SuggestionEvent> one = {event(0, f.events)};
    const auto t = Clock::now();
    if (auto s = store->append(one, {}); !s.ok()) fail("append", s);
    latencies.push_back(seconds_since(t) * 1e3);
    ++f.events;
  }
  f.seconds = seconds_since(start);
  f.commits = f.events;
  set_percentiles(f, latencies);
  return f;
}

Figure event_writer(const fs::path& dir, double seconds, int callers) {
  auto store = fresh_store(dir, "writer-" + std::to_string(callers));
  EventWriter writer(*store);
  Figure f{"EventWriter, record_durable", callers};
  std::vector<std::vector<double>> latencies(callers);
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int c = 0; c < callers; ++c)
    threads.emplace_back([&, c] {
      for (int64_t i = 0; seconds_since(start) < seconds; ++i) {
        const auto t = Clock::now();
        if (!writer.record_durable({event(c, i)}, {}).ok()) failed = true;
        latencies[c].push_back(seconds_since(t) * 1e3);
      }
    });
  for (auto& t : threads) t.join();
  f.seconds = seconds_since(start);
  if (failed) fail("record_durable", flywheel::Status::internal("a commit failed (see the log)"));
  f.events = writer.committed_events();
  f.commits = writer.commits();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  set_percentiles(f, all);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  std::error_code ec;
  fs::create_directories(o.dir, ec);
  if (ec) fail("create " + o.dir.string(), flywheel::Status::io_error(ec.message()));
  const std::string fs_type = filesystem_type(o.dir);

  const double fsyncs = syncs_per_second(o.dir, o.seconds, false);
  const double fdatasyncs = syncs_per_second(o.dir, o.seconds, true);
  std::vector<Figure> figures = {one_transaction_per_event(o.dir, o.seconds)};
  for (int callers : o.callers) figures.push_back(event_writer(o.dir, o.seconds, callers));
  fs::remove_all(o.dir, ec);

  if (o.json) {
    nlohmann::json rows = nlohmann::json::array();
    for (const Figure& f : figures)
      rows.push_back({{"mode", f.mode},
                      {"callers", f.callers},
                      {"events", f.events},
                      {"commits", f.commits},
                      {"seconds", f.seconds},
                      {"events_per_second", f.events_per_second()},
                      {"commits_per_second", f.commits_per_second()},
                      {"p50_ms", f.p50_ms},
                      {"p99_ms", f.p99_ms}});
    std::cout << nlohmann::json{{"machine", {{"cores", std::thread::hardware_concurrency()}}},
                                {"dir", fs::absolute(o.dir).string()},
                                {"filesystem", fs_type},
                                {"disk_fsyncs_per_second", fsyncs},
                                {"disk_fdatasyncs_per_second", fdatasyncs},
                                {"results", rows}}
                     .dump(2)
              << "\n";
    return 0;
  }
  std::printf("bench_events: SQLite WAL, synchronous=FULL, %.1f s per mode, %u cores\n", o.seconds,
              std::thread::hardware_concurrency());
  std::printf("database folder: %s (%s)\n\n", fs::absolute(o.dir).c_str(), fs_type.c_str());
  std::printf("  %-40s %8s %10s %10s %8s %8s %8s\n", "mode", "callers", "events/s", "commits/s", "ev/commit", "p50 ms",
              "p99 ms");
  for (const Figure& f : figures)
    std::printf("  %-40s %8d %10.0f %10.0f %8.1f %8.2f %8.2f\n", f.mode.c_str(), f.callers, f.events_per_second(),
                f.commits_per_second(), static_cast<double>(f.events) / std::max<int64_t>(1, f.commits), f.p50_ms,
                f.p99_ms);
  std::printf("  %-40s %8s %10s %10.0f\n", "disk limit: 4 KB write + fdatasync", "", "", fdatasyncs);
  std::printf("  %-40s %8s %10s %10.0f\n", "disk: 4 KB write + fsync (with metadata)", "", "", fsyncs);
  std::printf(
      "\nA commit waits for at least one fdatasync of the WAL, so commits/s stays near the disk's limit;\n"
      "group commit raises events/s by putting many callers' events into each commit.\n");
  return 0;
}
