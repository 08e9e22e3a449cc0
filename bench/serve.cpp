// bench_serve: `flywheel serve` under a keystroke simulation, in-process over
// loopback HTTP (POST /infill, as llama.vscode sends it).
//
// The file: the first ~1k tokens of a source file of this repository
// (src/serve/api_types.cpp, 3.2 KB: ~900 tokens of the default model); the cursor starts at 60% of it and each
// keystroke request extends the prefix by 3 characters (suffix: the rest).
//   FIM latency, cold: every request a different file (a unique first line),
//     so nothing is reused from the prompt cache; p50/p99 over --cold requests.
//   FIM latency, prompt-cache hit: one session typing on; p50/p99 over
//     --warm requests after the first, with the share of prompt tokens reused.
//   Throughput: C clients (1, 8, 32), each typing in its own file,
//     --per-client requests each; requests/s and p99 latency, next to
//     sequential serving (the same 8-client load on an engine that runs one
//     sequence at a time, max_batch 1).
// Every request asks for --n-predict tokens at temperature 0, multi-line.
// Goals (issue 6, default model): p50 < 50 ms cold, < 10 ms on a cache hit;
// >= 3x sequential throughput at 8 clients.
//
// usage: bench_serve [--model DIR] [--cold N] [--warm N] [--per-client N] [--n-predict N]
//   --model defaults to demo-out/default/model when present, else a tiny random model.
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "bench/bench_util.h"
#include "serve/server.h"
#include "tests/common/tiny_model.h"

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string model;
  int cold = 30, warm = 60, per_client = 6, n_predict = 16;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Keystrokes {
  std::string text;  // the file
  size_t start = 0;  // first cursor position
};

json infill_body(const std::string& prefix, const std::string& suffix, int n_predict, const std::string& session) {
  return {{"input_prefix", prefix}, {"input_suffix", suffix}, {"prompt", ""},         {"n_predict", n_predict},
          {"temperature", 0},       {"single_line", false},   {"cache_prompt", true}, {"session", session}};
}

struct Timed {
  double ms = 0;
  int64_t cached = 0, evaluated = 0;
  bool ok = false;
};

// Every failed request of the run: a benchmark whose requests fail measures
// nothing, so it exits non-zero.
std::atomic<int> failed_requests{0};

Timed post_infill(httplib::Client& client, const json& body) {
  const auto t0 = Clock::now();
  auto r = client.Post("/infill", body.dump(), "application/json");
  Timed t;
  t.ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (!r || r->status != 200) {
    ++failed_requests;
    std::cerr << "bench_serve: request failed: " << (r ? r->body : httplib::to_string(r.error())) << "\n";
    return t;
  }
  json answer = json::parse(r->body);
  t.cached = answer["tokens_cached"];
  t.evaluated = answer["tokens_evaluated"];
  t.ok = true;
  return t;
}

std::unique_ptr<flywheel::serve::Server> start_server(const std::string& model, const fs::path& work, int max_batch) {
  flywheel::serve::ServerOptions options;
  options.port = 0;
  options.auth = flywheel::serve::AuthMode::kOff;
  options.db_url = (work / ("events-" + std::to_string(max_batch) + ".db")).string();
  options.engine.max_batch = max_batch;
  auto server = flywheel::serve::Server::create(options);
  if (!server.ok()) throw std::runtime_error(server.status().to_string());
  if (auto s = (*server)->serve_model(model, "bench"); !s.ok()) throw std::runtime_error(s.to_string());
  if (auto s = (*server)->start(); !s.ok()) throw std::runtime_error(s.to_string());
  return std::move(server).value();
}

struct Throughput {
  double requests_per_second = 0, p99_ms = 0;
  int failed = 0;
};

Throughput run_clients(int port, const Keystrokes& file, int clients, int per_client, int n_predict,
                       const std::string& tag) {
  std::vector<double> latencies;
  std::mutex mutex;
  std::atomic<int> failed{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(300);
      const std::string header = "# " + tag + " client " + std::to_string(c) + "\n";
      for (int i = 0; i < per_client; ++i) {
        // Each client types in its own file (a distinct first line on both sides).
        const std::string typed = file.text.substr(file.start, 3 * static_cast<size_t>(i));
        Timed t =
            post_infill(client, infill_body(header + file.text.substr(0, file.start) + typed,
                                            header + file.text.substr(file.start), n_predict, tag + std::to_string(c)));
        std::lock_guard lock(mutex);
        if (t.ok)
          latencies.push_back(t.ms);
        else
          ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return {static_cast<double>(latencies.size()) / seconds, percentile(latencies, 0.99), failed.load()};
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  const std::string usage = "usage: bench_serve [--model DIR] [--cold N] [--warm N] [--per-client N] [--n-predict N]\n";
  flywheel::bench::parse_flags(argc, argv, "bench_serve", usage, [&](const std::string& flag, const auto& value) {
    if (flag == "--model")
      o.model = value();
    else if (flag == "--cold")
      o.cold = std::stoi(value());
    else if (flag == "--warm")
      o.warm = std::stoi(value());
    else if (flag == "--per-client")
      o.per_client = std::stoi(value());
    else if (flag == "--n-predict")
      o.n_predict = std::stoi(value());
    else
      return false;
    return true;
  });
  const fs::path work = fs::temp_directory_path() / ("flywheel_bench_serve_" + std::to_string(getpid()));
  fs::create_directories(work);
  const fs::path demo = fs::path(FLYWHEEL_SOURCE_DIR) / "demo-out" / "default" / "model";
  if (o.model.empty()) {
    o.model = fs::exists(demo / "model.safetensors") ? demo.string()
                                                     : flywheel::testing::make_tiny_model(work / "tiny").string();
  }
  // About 900 tokens of code: longer than the default model's context (256), as
  // an editor's whole file is; the server fits it (FIM prompts are fitted by default).
  Keystrokes file;
  file.text = read_file(fs::path(FLYWHEEL_SOURCE_DIR) / "src" / "serve" / "api_types.cpp").substr(0, 3200);
  file.start = file.text.size() * 6 / 10;
  std::cout << "bench_serve: model " << o.model << ", " << std::thread::hardware_concurrency() << " cores, "
            << file.text.size() << "-byte file, n_predict " << o.n_predict << "\n";

  try {
    auto server = start_server(o.model, work, 32);
    httplib::Client client("127.0.0.1", server->port());
    client.set_read_timeout(300);

    // Cold: a different file each time.
    std::vector<double> cold;
    int64_t evaluated = 0;
    for (int i = 0; i < o.cold; ++i) {
      // A distinct first line on both sides: nothing in the cache shares a prefix with it (PSM or SPM).
      const std::string header = "# cold " + std::to_string(i) + " " + std::to_string(getpid()) + "\n";
      const size_t cursor = file.start + 3 * i;
      Timed t = post_infill(client, infill_body(header + file.text.substr(0, cursor), header + file.text.substr(cursor),
                                                o.n_predict, ""));
      if (t.ok) cold.push_back(t.ms), evaluated += t.evaluated;
    }
    // Warm: one session typing on.
    std::vector<double> warm;
    int64_t cached = 0, warm_evaluated = 0;
    for (int i = 0; i <= o.warm; ++i) {
      // The developer types (a copy of the code after the cursor) 3 characters at a time: the prefix grows,
      // the suffix stays.
      const std::string typed = file.text.substr(file.start, 3 * static_cast<size_t>(i));
      Timed t = post_infill(client, infill_body(file.text.substr(0, file.start) + typed, file.text.substr(file.start),
                                                o.n_predict, "warm"));
      if (t.ok && i > 0) warm.push_back(t.ms), cached += t.cached, warm_evaluated += t.evaluated;
    }
    std::printf(
        "FIM latency cold       p50 %7.1f ms  p99 %7.1f ms  (%zu requests, %.0f prompt tokens each; goal p50 < 50 "
        "ms)\n",
        percentile(cold, 0.5), percentile(cold, 0.99), cold.size(),
        cold.empty() ? 0.0 : static_cast<double>(evaluated) / cold.size());
    std::printf(
        "FIM latency cache hit  p50 %7.1f ms  p99 %7.1f ms  (%zu requests, %.1f%% of prompt tokens reused; goal p50 < "
        "10 ms)\n",
        percentile(warm, 0.5), percentile(warm, 0.99), warm.size(),
        warm_evaluated ? 100.0 * cached / warm_evaluated : 0.0);

    std::vector<std::pair<int, Throughput>> batched;
    for (int clients : {1, 8, 32}) {
      batched.emplace_back(clients, run_clients(server->port(), file, clients, o.per_client, o.n_predict,
                                                "batched" + std::to_string(clients)));
    }
    server.reset();
    auto sequential_server = start_server(o.model, work, 1);
    const Throughput sequential =
        run_clients(sequential_server->port(), file, 8, o.per_client, o.n_predict, "sequential");
    sequential_server.reset();
    for (const auto& [clients, t] : batched) {
      std::printf("throughput %2d clients  %7.2f req/s  p99 %7.1f ms  %.2fx sequential%s\n", clients,
                  t.requests_per_second, t.p99_ms,
                  t.requests_per_second / std::max(1e-9, sequential.requests_per_second),
                  t.failed ? "  (some requests failed)" : "");
    }
    std::printf("sequential serving     %7.2f req/s  p99 %7.1f ms  (8 clients, max_batch 1; goal: 8 clients >= 3x)\n",
                sequential.requests_per_second, sequential.p99_ms);
  } catch (const std::exception& e) {
    std::cerr << "bench_serve: " << e.what() << "\n";
    fs::remove_all(work);
    return 1;
  }
  fs::remove_all(work);
  if (failed_requests > 0) {
    std::cerr << "bench_serve: " << failed_requests << " requests failed: the figures above are not valid\n";
    return 1;
  }
  return 0;
}
