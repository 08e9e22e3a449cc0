// bench_decode: flywheel's prefill and decode speed next to PyTorch eager on
// the same weights, and next to the machine's memory-bandwidth limit.
//
// Models: (a) the default small model (preset "small", llama, vocab 8192,
// random init, saved to the work dir; or --model-dir), (b) a random-init model
// shaped like Qwen2.5-Coder-0.5B (hidden 896, FFN 4864, 24 layers, 14 heads,
// 2 KV heads, vocab 151936, tied, qkv bias) in --qwen-dir, created there if
// missing (a checkpoint from `bench/decode_reference.py --create-qwen05b DIR`
// works too; a tokenizer.json is added where it lacks one). Each is loaded
// with fp32 and with bf16 weights.
//
// Figures (each the best of --repeats timed runs after one warm-up, the same
// protocol as bench/decode_reference.py, which measures PyTorch; by default 2
// runs of 32 steps for the small model, 1 run of 16 steps for the 0.5B shape;
// the whole bench then takes ~7 minutes on 2 cores, most of it PyTorch):
//   prefill  batch 1, --prompt-len tokens in one forward; tokens/s
//   decode   batch 1 and 8: after a prompt of --prompt-len tokens per
//            sequence, --decode-tokens greedy steps, each one Model::forward
//            over B items of one token; tokens/s = B * steps / seconds
// Limit: a decode step reads every weight once (all matrices, biases and
// norms, and the output head; the embedding only one row per token), so
// tokens/s <= B * read bandwidth / weight bytes per step. The read bandwidth is
// measured here: --threads threads streaming over a 1 GiB buffer (several
// times the last-level cache), best of 8 passes. A model that fits in cache
// (the small one) can beat this limit.
// PyTorch: bench/decode_reference.py in a subprocess with the same thread
// count, modes fp32, bf16 (weights and activations bf16, as with
// torch_dtype=bfloat16) and bf16-fp32compute (bf16 weights upcast per matmul,
// what flywheel computes); a bf16 row's ratio is against the faster of the two.
// Goals (issue 4): decode at batch 1 at least 1.0x PyTorch; the 0.5B shape's
// decode at batch 1 at least 60% of the bandwidth limit. The last lines say
// which are met.
//
// usage: bench_decode [--json] [--threads N] [--quick] [--model-dir DIR]
//                     [--qwen-dir DIR] [--work-dir DIR] [--prompt-len N]
//                     [--decode-tokens N] [--repeats N] [--batch-sizes 1,8] [--no-torch]
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <immintrin.h>
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
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "core/atomic_file.h"
#include "model/bf16_gemm.h"
#include "model/model.h"
#include "tokenizer/byte_level.h"

namespace fs = std::filesystem;
using flywheel::ForwardItem;
using flywheel::KvCache;
using flywheel::Model;
using flywheel::ModelConfig;
using flywheel::TokenId;
using flywheel::WeightDtype;
using Json = nlohmann::ordered_json;

namespace {

struct Options {
  bool json = false;
  int threads = 0;
  bool quick = false;
  std::optional<fs::path> model_dir;
  fs::path work_dir = fs::temp_directory_path() / "flywheel_bench_decode";
  std::optional<fs::path> qwen_dir;
  int prompt_len = 128;
  int decode_tokens = 0;  // 0: 32 for the small model, 16 for the 0.5B shape
  int repeats = 0;        // 0: 2 for the small model, 1 for the 0.5B shape
  bool torch = true;
  std::vector<int> batches = {1, 8};
};

const char* kUsage =
    "usage: bench_decode [--json] [--threads N] [--quick] [--model-dir DIR] [--qwen-dir DIR] [--work-dir DIR]\n"
    "                    [--prompt-len N] [--decode-tokens N] [--repeats N] [--batch-sizes 1,8] [--no-torch]\n";

Options parse_args(int argc, char** argv) {
  Options o;
  flywheel::bench::parse_flags(argc, argv, "bench_decode", kUsage, [&](const std::string& a, const auto& value) {
    if (a == "--json") o.json = true;
    else if (a == "--threads") o.threads = std::stoi(value());
    else if (a == "--quick") o.quick = true;
    else if (a == "--model-dir") o.model_dir = value();
    else if (a == "--qwen-dir") o.qwen_dir = value();
    else if (a == "--work-dir") o.work_dir = value();
    else if (a == "--prompt-len") o.prompt_len = std::max(1, std::stoi(value()));
    else if (a == "--decode-tokens") o.decode_tokens = std::max(1, std::stoi(value()));
    else if (a == "--repeats") o.repeats = std::max(1, std::stoi(value()));
    else if (a == "--no-torch") o.torch = false;
    else if (a == "--batch-sizes") {
      o.batches.clear();
      std::stringstream list(value());
      for (std::string item; std::getline(list, item, ',');) o.batches.push_back(std::max(1, std::stoi(item)));
      if (o.batches.empty()) throw std::invalid_argument("--batch-sizes needs at least one size");
    }
    else return false;
    return true;
  });
  return o;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

[[noreturn]] void fail(const std::string& what, const flywheel::Status& status) {
  std::cerr << "bench_decode: " << what << ": " << status.to_string() << "\n";
  std::exit(1);
}

std::string load_average() {
  double l[3] = {0, 0, 0};
  if (getloadavg(l, 3) < 3) return "unknown";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", l[0], l[1], l[2]);
  return buf;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// OpenBLAS (libtorch's BLAS here) keeps its own thread pool, sized from the
// environment at start-up; give it the same count as libtorch's.
void set_blas_threads(int threads) {
  using SetThreads = void (*)(int);
  if (auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(threads);
}

// OpenBLAS's kernel set ("SkylakeX", "Haswell", ...): OpenBLAS 0.3.21 does
// not know CPUs newer than it and falls back to "Prescott" (SSE3) kernels,
// a third of the speed for fp32 GEMM; OPENBLAS_CORETYPE=SkylakeX overrides.
std::string blas_core() {
  using CoreName = char* (*)();
  if (auto fn = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"))) return fn();
  return "unknown";
}

// ---------------------------------------------------------------- read bandwidth

// Sums n words (n a multiple of 64) as four interleaved sequential streams:
// one stream per core leaves the memory system idle between misses (~80% of
// what four reach here); more than four gains nothing.
__attribute__((target("avx2"))) uint64_t read_avx2(const uint64_t* p, size_t n) {
  const size_t part = n / 4;
  __m256i acc[4][2];
  for (auto& a : acc) a[0] = a[1] = _mm256_setzero_si256();
  for (size_t i = 0; i < part; i += 8)
    for (int s = 0; s < 4; ++s) {
      const auto* q = reinterpret_cast<const __m256i*>(p + s * part + i);
      acc[s][0] = _mm256_add_epi64(acc[s][0], _mm256_load_si256(q));
      acc[s][1] = _mm256_add_epi64(acc[s][1], _mm256_load_si256(q + 1));
    }
  uint64_t lanes[4], sum = 0;
  for (auto& a : acc) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(a[0], a[1]));
    sum += lanes[0] + lanes[1] + lanes[2] + lanes[3];
  }
  return sum;
}

uint64_t read_scalar(const uint64_t* p, size_t n) {
  const size_t part = n / 4;
  uint64_t s[4] = {};
  for (size_t i = 0; i < part; ++i)
    for (int j = 0; j < 4; ++j) s[j] += p[j * part + i];
  return s[0] + s[1] + s[2] + s[3];
}

// Bytes per second of `threads` threads each summing its share of a buffer
// of `bytes` (every page touched first); best of `passes`.
double read_bandwidth(int threads, size_t bytes, int passes) {
  const size_t words = bytes / sizeof(uint64_t), share = words / threads / 64 * 64;
  auto* buf = static_cast<uint64_t*>(std::aligned_alloc(64, words * sizeof(uint64_t)));
  if (buf == nullptr || share == 0) return 0;
  const bool avx2 = __builtin_cpu_supports("avx2");
  std::vector<uint64_t> sums(threads);
  double best = 0;
  for (int pass = -1; pass < passes; ++pass) {  // pass -1 writes the buffer (first touch by its reader)
    const double start = now_seconds();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        uint64_t* p = buf + t * share;
        if (pass < 0)
          for (size_t i = 0; i < share; ++i) p[i] = i;
        else
          sums[t] = avx2 ? read_avx2(p, share) : read_scalar(p, share);
      });
    }
    for (auto& th : pool) th.join();
    if (pass >= 0) best = std::max(best, static_cast<double>(share * threads * sizeof(uint64_t)) / (now_seconds() - start));
  }
  uint64_t total = 0;
  for (uint64_t s : sums) total += s;
  if (total == 42) std::cerr << "";  // keeps the sums observable
  std::free(buf);
  return best;
}

// The decode kernel alone (model/bf16_gemm.h) over 1 GiB of weights in rows
// of 896 (the 0.5B shape's hidden size): GB/s of weights read at M = 1 and 8,
// for bf16 and fp32; best of 3. Next to the read bandwidth this separates the
// kernel's share of the gap to the limit from the rest of the model's.
Json kernel_bandwidth(int threads) {
  at::set_num_threads(threads);
  constexpr int64_t K = 896;
  constexpr size_t kBytes = size_t{1} << 30;
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(64, kBytes));
  if (buf == nullptr) return nullptr;
  auto* words = reinterpret_cast<uint32_t*>(buf);
  for (size_t i = 0; i < kBytes / 4; ++i)  // bf16 pairs or fp32 values near 0.01
    words[i] = 0x3c003c00u ^ ((static_cast<uint32_t>(i) * 2654435761u >> 9) & 0x007f007fu);
  std::vector<float> x(16 * K, 0.5f), y(16 * (kBytes / (2 * K)));
  Json out = Json::object();
  for (const char* type : {"bf16", "fp32"}) {
    const bool bf16 = type[0] == 'b';
    const int64_t N = static_cast<int64_t>(kBytes / (K * (bf16 ? 2 : 4)));
    for (int64_t M : {1, 8}) {
      flywheel::model::SmallGemmArgs a;
      a.M = M, a.N = N, a.K = K, a.x = x.data(), a.ldx = K, a.y = y.data(), a.ldy = N;
      double best = 1e30;
      for (int pass = 0; pass < 3; ++pass) {
        const double start = now_seconds();
        if (bf16)
          flywheel::model::bf16_gemm(a, reinterpret_cast<const uint16_t*>(buf), K);
        else
          flywheel::model::f32_gemm(a, reinterpret_cast<const float*>(buf), K);
        best = std::min(best, now_seconds() - start);
      }
      out[std::string(type) + "_M" + std::to_string(M) + "_GBps"] = static_cast<double>(kBytes) / best / 1e9;
    }
  }
  std::free(buf);
  return out;
}

// ---------------------------------------------------------------- models

using flywheel::bench::byte_tokenizer_json;
using flywheel::bench::shell_quote;

// A random-init checkpoint of `preset` in `dir` unless one is there; adds a
// tokenizer.json to a checkpoint that lacks one.
void ensure_checkpoint(const fs::path& dir, const std::string& preset, const std::string& arch, int64_t vocab,
                       bool quiet) {
  if (fs::exists(dir / "config.json") && fs::exists(dir / "model.safetensors")) {
    if (!fs::exists(dir / "tokenizer.json")) {
      auto st = flywheel::write_file_atomically(dir / "tokenizer.json", byte_tokenizer_json());
      if (!st.ok()) fail("writing " + (dir / "tokenizer.json").string(), st);
    }
    return;
  }
  auto config = ModelConfig::preset(preset, arch, vocab);
  if (!config.ok()) fail("preset " + preset, config.status());
  auto tokenizer = flywheel::Tokenizer::from_json(byte_tokenizer_json());
  if (!tokenizer.ok()) fail("byte tokenizer", tokenizer.status());
  if (!quiet) std::cerr << "bench_decode: creating " << preset << " (random init) in " << dir << "\n";
  const double start = now_seconds();
  auto model = Model::create_random(*config, std::move(tokenizer).value(), /*seed=*/1);
  if (!model.ok()) fail("creating " + preset, model.status());
  fs::create_directories(dir.parent_path());
  auto st = model->save(dir, R"({"note": "random init by bench_decode"})");
  if (!st.ok()) fail("saving " + dir.string(), st);
  if (!quiet) std::cerr << "bench_decode: created in " << now_seconds() - start << " s\n";
}

// Weight bytes one decode step reads (see the top of the file): projections,
// biases and the head in the weight dtype, norms in fp32.
int64_t weight_bytes_per_step(const ModelConfig& c, WeightDtype dtype) {
  const int64_t E = c.hidden_size, F = c.intermediate_size, Q = c.num_attention_heads * c.head_dim,
                KV = c.num_key_value_heads * c.head_dim;
  const int64_t per_layer = E * Q + 2 * E * KV + Q * E + 3 * E * F + (c.qkv_bias ? Q + 2 * KV : 0) +
                            (c.o_bias ? E : 0);
  const int64_t norms = (2 * c.num_hidden_layers + 1) * E;
  const int64_t w = dtype == WeightDtype::kBFloat16 ? 2 : 4;
  return (c.num_hidden_layers * per_layer + c.vocab_size * E) * w + norms * 4;
}

struct Figures {
  double prefill_s = 0, decode_s = 0;
};

size_t argmax(const std::vector<float>& v) { return std::max_element(v.begin(), v.end()) - v.begin(); }

// Best of `repeats` timed runs after a warm-up: prefill of B prompts, then
// `steps` greedy steps of B sequences together.
Figures measure(Model& model, int batch, int prompt_len, int steps, int repeats) {
  std::mt19937 rng(0);
  std::uniform_int_distribution<TokenId> token(0, static_cast<TokenId>(model.config().vocab_size - 1));
  std::vector<std::vector<TokenId>> prompts(batch, std::vector<TokenId>(prompt_len));
  for (auto& p : prompts)
    for (TokenId& t : p) t = token(rng);
  Figures best{1e30, 1e30};
  for (int run = 0; run <= repeats; ++run) {
    std::vector<std::unique_ptr<KvCache>> caches;
    std::vector<ForwardItem> items(batch);
    for (int b = 0; b < batch; ++b) {
      caches.push_back(model.new_cache(prompt_len + steps));
      items[b].cache = caches.back().get();
      items[b].tokens = prompts[b];
    }
    const double t0 = now_seconds();
    auto logits = model.forward(items);
    if (!logits.ok()) fail("prefill", logits.status());
    const double t1 = now_seconds();
    std::vector<TokenId> next(batch);
    for (int s = 0; s < steps; ++s) {
      for (int b = 0; b < batch; ++b) {
        next[b] = static_cast<TokenId>(argmax((*logits)[b]));
        items[b].tokens = std::span<const TokenId>(&next[b], 1);
      }
      logits = model.forward(items);
      if (!logits.ok()) fail("decode", logits.status());
    }
    const double t2 = now_seconds();
    if (run > 0) best = {std::min(best.prefill_s, t1 - t0), std::min(best.decode_s, t2 - t1)};
  }
  return best;
}

std::string batch_list(const std::vector<int>& batches) {
  std::string out;
  for (int b : batches) out += (out.empty() ? "" : ",") + std::to_string(b);
  return out;
}


// bench/decode_reference.py's JSON report, or null with a reason on stderr.
Json run_pytorch(const Options& o, const fs::path& dir, int decode_tokens, int repeats, const std::string& dtypes) {
  const fs::path script = fs::path(FLYWHEEL_SOURCE_DIR) / "bench" / "decode_reference.py";
  const std::string command = "OPENBLAS_NUM_THREADS=" + std::to_string(o.threads) + " OMP_NUM_THREADS=" +
                              std::to_string(o.threads) + " /usr/bin/python3 " + shell_quote(script.string()) +
                              " --model " + shell_quote(dir.string()) + " --threads " + std::to_string(o.threads) +
                              " --prompt-len " + std::to_string(o.prompt_len) + " --decode-tokens " +
                              std::to_string(decode_tokens) + " --repeats " + std::to_string(repeats) +
                              " --batch-sizes " + batch_list(o.batches) + " --dtypes " + dtypes + (o.json ? " 2>/dev/null" : "");
  return flywheel::bench::run_json_command("bench_decode", command);
}

// PyTorch's figure (tokens/s) for a mode and batch, or nullopt.
std::optional<double> torch_figure(const Json& report, const std::string& mode, int batch, const char* key) {
  if (!report.is_object() || !report.contains("results")) return std::nullopt;
  for (const auto& r : report["results"])
    if (r.value("dtype", "") == mode && r.value("batch", 0) == batch && r.contains(key) && r[key].is_number())
      return r[key].get<double>();
  return std::nullopt;
}

struct Row {
  std::string model, dtype, figure;
  int batch;
  double flywheel;
  std::optional<double> torch_bf16, torch_fp32compute, torch_fp32, limit;
  std::optional<double> reference() const {
    if (torch_fp32) return torch_fp32;
    if (torch_bf16 && torch_fp32compute) return std::max(*torch_bf16, *torch_fp32compute);
    return torch_bf16 ? torch_bf16 : torch_fp32compute;
  }
};

std::string fmt(std::optional<double> v, const char* spec = "%.1f") {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, spec, *v);
  return buf;
}

// The issue's goals, checked on the decode rows at batch 1.
struct Goal {
  std::string what;
  double value, target;
  bool met() const { return value >= target; }
};

std::vector<Goal> goals(const std::vector<Row>& rows) {
  std::vector<Goal> out;
  for (const Row& r : rows) {
    if (r.figure != "decode" || r.batch != 1) continue;
    if (auto ref = r.reference()) out.push_back({r.model + " " + r.dtype + " vs PyTorch", r.flywheel / *ref, 1.0});
    if (r.model == "qwen2.5-coder-0.5b" && r.limit)
      out.push_back({r.model + " " + r.dtype + " of bandwidth limit", r.flywheel / *r.limit, 0.6});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  const std::string load_start = load_average();
  set_blas_threads(o.threads);
  const bool quiet = o.json;
  auto say = [&](const std::string& s) {
    if (!quiet) std::cerr << s << "\n";
  };

  struct Spec {
    std::string name;
    fs::path dir;
    int decode_tokens, repeats;
  };
  auto or_default = [](int flag, int fallback) { return flag > 0 ? flag : fallback; };
  const int small_steps = or_default(o.decode_tokens, 32), small_repeats = or_default(o.repeats, 2);
  std::vector<Spec> specs;
  if (o.model_dir) {
    if (!fs::exists(*o.model_dir / "config.json"))
      fail("--model-dir", flywheel::Status::not_found(o.model_dir->string() + " has no config.json"));
    specs.push_back({o.model_dir->filename().string(), *o.model_dir, small_steps, small_repeats});
    ensure_checkpoint(*o.model_dir, "small", "llama", 8192, quiet);  // adds a tokenizer.json if it lacks one
  } else {
    specs.push_back({"small", o.work_dir / "small-llama-random", small_steps, small_repeats});
    fs::remove_all(specs.back().dir);  // fresh each run: cheap, and never stale
    ensure_checkpoint(specs.back().dir, "small", "llama", 8192, quiet);
  }
  if (!o.quick) {
    specs.push_back({"qwen2.5-coder-0.5b", *o.qwen_dir, or_default(o.decode_tokens, 16), or_default(o.repeats, 1)});
    ensure_checkpoint(*o.qwen_dir, "qwen2.5-coder-0.5b", "qwen2", 151936, quiet);
  }

  say("bench_decode: measuring read bandwidth and the decode kernel (1 GiB, " + std::to_string(o.threads) +
      " threads)");
  const double bandwidth = read_bandwidth(o.threads, size_t{1} << 30, 8);
  const double bandwidth_1 = o.threads == 1 ? bandwidth : read_bandwidth(1, size_t{1} << 30, 3);
  const Json kernel = kernel_bandwidth(o.threads);

  std::vector<Row> rows;
  Json models = Json::array();
  for (const Spec& spec : specs) {
    Json torch_report = nullptr;
    if (o.torch) {
      say("bench_decode: PyTorch eager on " + spec.name + " ...");
      torch_report = run_pytorch(o, spec.dir, spec.decode_tokens, spec.repeats, "fp32,bf16,bf16-fp32compute");
    }
    Json model_json = {{"name", spec.name},
                       {"dir", fs::absolute(spec.dir).string()},
                       {"decode_tokens", spec.decode_tokens},
                       {"repeats", spec.repeats}};
    for (WeightDtype dtype : {WeightDtype::kFloat32, WeightDtype::kBFloat16}) {
      const bool bf16 = dtype == WeightDtype::kBFloat16;
      const std::string dname = bf16 ? "bf16" : "fp32";
      say("bench_decode: flywheel on " + spec.name + " " + dname + " ...");
      flywheel::LoadOptions lo;
      lo.dtype = dtype;
      lo.threads = o.threads;
      auto model = Model::load(spec.dir, lo);
      if (!model.ok()) fail("loading " + spec.dir.string(), model.status());
      set_blas_threads(o.threads);
      const ModelConfig& c = model->config();
      const int64_t bytes = weight_bytes_per_step(c, dtype);
      model_json["parameters"] = c.parameter_count();
      model_json["weight_bytes_per_step_" + dname] = bytes;
      for (int batch : o.batches) {
        const Figures f = measure(*model, batch, o.prompt_len, spec.decode_tokens, spec.repeats);
        auto torch_at = [&](const std::string& mode, const char* key) {
          return torch_figure(torch_report, mode, batch, key);
        };
        if (batch == o.batches.front()) {  // the prefill figure: B prompts in one forward (B = 1 by default)
          Row r{spec.name, dname, "prefill", batch, batch * o.prompt_len / f.prefill_s, {}, {}, {}, {}};
          if (bf16) {
            r.torch_bf16 = torch_at("bf16", "prefill_tokens_per_s");
            r.torch_fp32compute = torch_at("bf16-fp32compute", "prefill_tokens_per_s");
          } else {
            r.torch_fp32 = torch_at("fp32", "prefill_tokens_per_s");
          }
          rows.push_back(r);
        }
        Row r{spec.name, dname, "decode", batch, batch * spec.decode_tokens / f.decode_s, {}, {}, {},
              batch * bandwidth / static_cast<double>(bytes)};
        if (bf16) {
          r.torch_bf16 = torch_at("bf16", "decode_tokens_per_s");
          r.torch_fp32compute = torch_at("bf16-fp32compute", "decode_tokens_per_s");
        } else {
          r.torch_fp32 = torch_at("fp32", "decode_tokens_per_s");
        }
        rows.push_back(r);
      }
    }
    if (torch_report.is_object()) model_json["pytorch"] = torch_report;
    models.push_back(model_json);
  }
  const std::string load_end = load_average();

  if (o.json) {
    Json out = {{"bench", "decode"},
                {"cpu", cpu_model()},
                {"threads", o.threads},
                {"load_average_start", load_start},
                {"load_average_end", load_end},
                {"read_bandwidth_GBps", bandwidth / 1e9},
                {"read_bandwidth_1thread_GBps", bandwidth_1 / 1e9},
                {"kernel_GBps", kernel},
                {"blas_core", blas_core()},
                {"prompt_len", o.prompt_len}};
    Json jrows = Json::array();
    for (const Row& r : rows) {
      Json j = {{"model", r.model}, {"dtype", r.dtype}, {"figure", r.figure}, {"batch", r.batch},
                {"flywheel_tokens_per_s", r.flywheel}};
      auto put = [&](const char* key, std::optional<double> v) { j[key] = v ? Json(*v) : Json(nullptr); };
      put("pytorch_fp32_tokens_per_s", r.torch_fp32);
      put("pytorch_bf16_tokens_per_s", r.torch_bf16);
      put("pytorch_bf16_fp32compute_tokens_per_s", r.torch_fp32compute);
      const auto ref = r.reference();
      put("ratio_vs_pytorch", ref ? std::optional<double>(r.flywheel / *ref) : std::nullopt);
      put("bandwidth_limit_tokens_per_s", r.limit);
      put("fraction_of_limit", r.limit ? std::optional<double>(r.flywheel / *r.limit) : std::nullopt);
      jrows.push_back(j);
    }
    out["rows"] = jrows;
    Json jgoals = Json::array();
    for (const Goal& g : goals(rows))
      jgoals.push_back({{"goal", g.what}, {"value", g.value}, {"target", g.target}, {"met", g.met()}});
    out["goals_decode_batch1"] = jgoals;
    out["models"] = models;
    std::cout << out.dump(2) << "\n";
    return 0;
  }

  std::printf("bench_decode on %s, %d threads; load average %s at start, %s at end\n", cpu_model().c_str(), o.threads,
              load_start.c_str(), load_end.c_str());
  std::printf("read bandwidth: %.1f GB/s with %d threads (%.1f GB/s with 1), 1 GiB buffer\n", bandwidth / 1e9,
              o.threads, bandwidth_1 / 1e9);
  if (kernel.is_object())
    std::printf("decode kernel alone (model/bf16_gemm.h, 1 GiB of weights): bf16 %.1f GB/s at M=1, %.1f at M=8; "
                "fp32 %.1f at M=1, %.1f at M=8\n",
                kernel["bf16_M1_GBps"].get<double>(), kernel["bf16_M8_GBps"].get<double>(),
                kernel["fp32_M1_GBps"].get<double>(), kernel["fp32_M8_GBps"].get<double>());
  std::printf("OpenBLAS kernels: %s%s\n", blas_core().c_str(),
              blas_core() == "Prescott" && __builtin_cpu_supports("avx2")
                  ? " (OpenBLAS does not know this CPU: fp32 GEMM runs SSE3 code; try OPENBLAS_CORETYPE=SkylakeX)"
                  : "");
  std::printf("prompt %d tokens; decode steps and runs per model:", o.prompt_len);
  for (const Spec& spec : specs) std::printf(" %s %d x best of %d;", spec.name.c_str(), spec.decode_tokens, spec.repeats);
  std::printf("\ntokens/s; the PyTorch bf16 column is bf16 compute / bf16 weights with fp32 compute\n\n");
  std::printf("%-20s %-5s %-10s %10s %17s %7s %10s %8s\n", "model", "dtype", "figure", "flywheel", "pytorch", "ratio",
              "bw limit", "of limit");
  for (const Row& r : rows) {
    std::string torch;
    if (r.torch_fp32) torch = fmt(r.torch_fp32);
    else if (r.torch_bf16 || r.torch_fp32compute) torch = fmt(r.torch_bf16) + " / " + fmt(r.torch_fp32compute);
    else torch = "-";
    const auto ref = r.reference();
    const std::string figure = r.figure + " b" + std::to_string(r.batch);
    std::printf("%-20s %-5s %-10s %10.1f %17s %7s %10s %8s\n", r.model.c_str(), r.dtype.c_str(), figure.c_str(),
                r.flywheel, torch.c_str(), ref ? fmt(r.flywheel / *ref, "%.2fx").c_str() : "-", fmt(r.limit).c_str(),
                r.limit ? fmt(100 * r.flywheel / *r.limit, "%.0f%%").c_str() : "-");
  }
  const std::vector<Goal> checked = goals(rows);
  std::printf("\ngoals at decode batch 1:%s", checked.empty() ? " none checked (they need the PyTorch reference)" : "");
  for (const Goal& g : checked)
    std::printf("\n  %-48s %6.2f (>= %.1f) %s", g.what.c_str(), g.value, g.target, g.met() ? "met" : "NOT MET");
  std::printf("\n");
  return 0;
}
