// bench_train: flywheel's training speed (tokens/s and MFU) next to PyTorch
// eager training the same model on the same batch shape in the same run, and
// the share of step time spent waiting for gradient communication with 2 ranks.
//
// Models (random init, llama, tied embeddings, vocab 8192):
//   default  ModelConfig::preset("default") (hidden 256, FFN 688, 3 layers, 4 heads, 2 KV heads)
//   20m      hidden 384, FFN 1536, 8 layers, 6 heads, 2 KV heads (~20.4M parameters)
// One step, as train/trainer.cpp does it: random tokens [B, T+1] -> forward
// -> mean cross-entropy -> backward -> clip_grad_norm_(1.0) -> train::AdamW
// (betas 0.9/0.95, weight decay 0.1 on matrices). --warmup untimed steps
// (default 1), then --steps timed ones (default: 4 for the default model, 2 for
// the 20M one, 4 per rank; --quick: 2, default model and ranks only);
// tokens/s = B * T * steps / seconds. On a loaded 2-core machine a 20M step of
// 8 x 256 takes tens of seconds, hence so few steps.
// MFU = tokens/s * train::training_flops_per_token(config, T) / the fp32 sgemm
// peak measured here by train::measure_sgemm_peak() at the same thread count
// (the best of several probes over the run: see probe_peak).
// PyTorch: the model is saved with Model::save to --work-dir and
// bench/train_reference.py (llama_reference.py's math over the checkpoint's
// tensors as trainable leaves, torch.optim.AdamW, the same clip) is run on it
// with the same threads, batch, sequence length and step counts.
// 2 ranks: the bench re-runs itself as 2 local ranks (train::run_local_ranks,
// torchrun-style environment, Gloo on 127.0.0.1), each with threads / 2
// (at least 1) training the default model on its own batch of B x T;
// GradientSync (bucketed all-reduce overlapped with backward) reports the time
// finish_backward waited for communication; the share is that wait over the
// step time, summed over the timed steps, on rank 0.
//
// Threads: default all cores. On a 2-core machine shared with other work,
// --threads 2 ran ~3x slower than --threads 1 for both flywheel and PyTorch
// (OpenMP workers waiting on a descheduled peer: clip+AdamW of 3M parameters
// took 1.5 s instead of 0.02 s), so compare figures at the same --threads and
// report the load average (printed) with them.
//
// usage: bench_train [--json] [--threads N] [--quick] [--steps N] [--warmup N]
//                    [--batch 8] [--seq 256] [--work-dir DIR] [--no-torch] [--no-ranks]
//                    [--profile PREFIX]   (PREFIX-<model>.json: chrome trace of one extra step)
//                    [--rounds 3]  (alternating flywheel / PyTorch rounds of --steps; medians reported,
//                                   since a shared machine's speed drifts by 10-20% from run to run)
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>
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

#include "bench/bench_util.h"
#include "core/openmp_wait.h"
#include "model/config.h"
#include "model/model.h"
#include "model/transformer.h"
#include "tokenizer/byte_level.h"
#include "train/adamw.h"
#include "train/distributed.h"
#include "train/flops.h"
#include "train/gradient_sync.h"
#include "train/local_launcher.h"

namespace fs = std::filesystem;
using flywheel::Model;
using flywheel::ModelConfig;
using Json = nlohmann::json;

namespace {

[[noreturn]] void fail(const std::string& what, const flywheel::Status& status) {
  std::cerr << "bench_train: " << what << ": " << status.to_string() << "\n";
  std::exit(1);
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Options {
  bool json = false, quick = false, torch = true, ranks = true;
  int threads = 0;
  int steps = 0, warmup = 0;  // 0: per model defaults
  int rounds = 3;             // alternating flywheel / PyTorch rounds; medians are reported
  int64_t batch = 8, seq = 256;
  fs::path work_dir;
  std::string profile;  // --profile PREFIX: PREFIX-<model>.json, a chrome trace of one extra step per model
  // --rank-worker: one of the 2 local ranks (internal).
  bool rank_worker = false;
  fs::path rank_out;
};

using flywheel::bench::byte_tokenizer_json;
using flywheel::bench::shell_quote;

constexpr int64_t kVocab = 8192;

ModelConfig model_config(const std::string& name) {
  auto config = ModelConfig::preset("default", "llama", kVocab);
  if (!config.ok()) fail("preset default", config.status());
  ModelConfig c = *config;
  if (name == "20m") {
    c.hidden_size = 384;
    c.intermediate_size = 1536;
    c.num_hidden_layers = 8;
    c.num_attention_heads = 6;
    c.num_key_value_heads = 2;
    c.head_dim = 64;
    auto st = c.validate();
    if (!st.ok()) fail("20m config", st);
  }
  return c;
}

Model make_model(const ModelConfig& config) {
  auto tokenizer = flywheel::Tokenizer::from_json(byte_tokenizer_json());
  if (!tokenizer.ok()) fail("byte tokenizer", tokenizer.status());
  auto model = Model::create_random(config, std::move(tokenizer).value(), /*seed=*/1);
  if (!model.ok()) fail("creating the model", model.status());
  return std::move(model).value();
}

// One training step's pieces, shared by the single-process and rank runs.
struct Trainer {
  flywheel::model::CausalLmImpl& module;
  std::vector<torch::Tensor> params;
  flywheel::train::AdamW optimizer;
  int64_t B, T, V;
  double forward_s = 0, backward_s = 0, optimizer_s = 0;  // summed over steps

  static std::vector<std::pair<std::string, torch::Tensor>> named(flywheel::model::CausalLmImpl& m) {
    m.train();
    for (auto& p : m.parameters()) p.set_requires_grad(true);
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value());
    return out;
  }
  Trainer(flywheel::model::CausalLmImpl& m, int64_t batch, int64_t seq, int64_t vocab)
      : module(m), optimizer(named(m), {0.9, 0.95, 1e-8, 0.1}), B(batch), T(seq), V(vocab) {
    params = module.parameters();
  }

  // forward + backward (between the sync hooks when given) + clip + AdamW.
  double step(flywheel::train::GradientSync* sync) {
    const double t0 = now_seconds();
    torch::Tensor tokens = torch::randint(0, V, {B, T + 1}, torch::kInt64);
    torch::Tensor inputs = tokens.narrow(1, 0, T), targets = tokens.narrow(1, 1, T);
    // Mean cross-entropy as the trainer computes it (fused head + loss).
    torch::Tensor loss = module.weighted_loss(inputs, targets, torch::full({B, T}, 1.0 / static_cast<double>(B * T)));
    const double t1 = now_seconds();
    if (sync) sync->begin_backward(/*sync=*/true);
    loss.backward();
    if (sync) {
      auto st = sync->finish_backward();
      if (!st.ok()) fail("gradient sync", st);
    }
    const double t2 = now_seconds();
    torch::nn::utils::clip_grad_norm_(params, 1.0);
    optimizer.step(1e-3);
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    const double t3 = now_seconds();
    forward_s += t1 - t0;
    backward_s += t2 - t1;
    optimizer_s += t3 - t2;
    return loss.item<double>();
  }
};

// bench/train_reference.py's JSON report, or null with a reason on stderr.
Json run_pytorch(const Options& o, const fs::path& dir, int steps, int warmup) {
  const fs::path script = fs::path(FLYWHEEL_SOURCE_DIR) / "bench" / "train_reference.py";
  const std::string command =
      "OPENBLAS_NUM_THREADS=" + std::to_string(o.threads) + " OMP_NUM_THREADS=" + std::to_string(o.threads) +
      " /usr/bin/python3 " + shell_quote(script.string()) + " --model " + shell_quote(dir.string()) + " --threads " +
      std::to_string(o.threads) + " --batch " + std::to_string(o.batch) + " --seq " + std::to_string(o.seq) +
      " --steps " + std::to_string(steps) + " --warmup " + std::to_string(warmup) + (o.json ? " 2>/dev/null" : "");
  return flywheel::bench::run_json_command("bench_train", command);
}

// The fp32 sgemm peak: the best of train::measure_sgemm_peak() over the run.
// One probe lasts ~0.2 s, so on a machine shared with other work a single one
// can land in a busy moment; the bench probes before each model and at the end.
double g_peak = 0;
double probe_peak() {
  g_peak = std::max(g_peak, flywheel::train::measure_sgemm_peak());
  return g_peak;
}

Json bench_model(const Options& o, const std::string& name) {
  probe_peak();
  const ModelConfig config = model_config(name);
  const int steps = o.steps > 0 ? o.steps : (name == "20m" ? 2 : (o.quick ? 2 : 4));
  const int warmup = o.warmup > 0 ? o.warmup : 1;
  Model model = make_model(config);
  const int64_t parameters = config.parameter_count();
  if (!o.json)
    std::cerr << "bench_train: " << name << ": " << parameters << " parameters, " << warmup << " warm-up + " << steps
              << " timed steps of " << o.batch << " x " << o.seq << "\n";
  Trainer trainer(model.module(), o.batch, o.seq, config.vocab_size);
  double loss = 0;
  for (int i = 0; i < warmup; ++i) loss = trainer.step(nullptr);
  const fs::path dir = o.work_dir / ("model-" + name);
  if (o.torch) {  // PyTorch trains the same initial weights
    fs::remove_all(dir);
    auto st = model.save(dir, R"({"note": "random init by bench_train"})");
    if (!st.ok()) fail("saving " + dir.string(), st);
  }
  // Rounds alternate flywheel and PyTorch, so that a slow spell of a shared
  // machine hits both; each side reports its median round.
  std::vector<double> ours, theirs;
  Json ref;
  trainer.forward_s = trainer.backward_s = trainer.optimizer_s = 0;
  for (int round = 0; round < o.rounds; ++round) {
    const double start = now_seconds();
    for (int i = 0; i < steps; ++i) loss = trainer.step(nullptr);
    ours.push_back(static_cast<double>(o.batch * o.seq * steps) / (now_seconds() - start));
    probe_peak();
    if (o.torch) {
      Json one = run_pytorch(o, dir, steps, warmup);
      if (one.is_null()) continue;
      theirs.push_back(one["tokens_per_s"].get<double>());
      if (ref.is_null() || one["tokens_per_s"].get<double>() >= ref["tokens_per_s"].get<double>()) ref = one;
    }
  }
  if (!o.profile.empty()) {
    const double f = trainer.forward_s, b = trainer.backward_s, a = trainer.optimizer_s;
    {
      torch::autograd::profiler::RecordProfile guard(o.profile + "-" + name + ".json");
      trainer.step(nullptr);
    }
    trainer.forward_s = f, trainer.backward_s = b, trainer.optimizer_s = a;
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : (v[(v.size() - 1) / 2] + v[v.size() / 2]) / 2;
  };
  const double tps = median(ours);
  const double timed_steps = static_cast<double>(steps) * static_cast<double>(o.rounds);
  const double flops_per_token = flywheel::train::training_flops_per_token(config, o.seq);
  Json r = {{"model", name},
            {"parameters", parameters},
            {"hidden", config.hidden_size},
            {"ffn", config.intermediate_size},
            {"layers", config.num_hidden_layers},
            {"heads", config.num_attention_heads},
            {"kv_heads", config.num_key_value_heads},
            {"vocab", config.vocab_size},
            {"steps", steps},
            {"warmup", warmup},
            {"rounds", o.rounds},
            {"tokens_per_s_rounds", ours},
            {"seconds_per_step", static_cast<double>(o.batch * o.seq) / tps},
            {"tokens_per_s", tps},
            {"flops_per_token", flops_per_token},
            {"phase_seconds_per_step",
             {{"forward_loss", trainer.forward_s / timed_steps},
              {"backward", trainer.backward_s / timed_steps},
              {"clip_adamw", trainer.optimizer_s / timed_steps}}},
            {"last_loss", loss}};
  if (!theirs.empty()) {
    r["torch_tokens_per_s"] = median(theirs);
    r["torch_tokens_per_s_rounds"] = theirs;
    r["ratio_vs_torch"] = tps / median(theirs);
    r["torch_parameters"] = ref["parameters"];
    r["torch_version"] = ref["torch_version"];
    r["torch_phase_seconds_per_step"] = ref["phase_seconds_per_step"];
  }
  return r;
}

// ---------------------------------------------------------------- 2 ranks

int rank_worker(const Options& o) {
  at::set_num_threads(o.threads);
  auto env = flywheel::train::detect_distributed_env();
  if (!env.ok()) fail("distributed environment", env.status());
  auto dist = flywheel::train::DistributedContext::create(*env);
  if (!dist.ok()) fail("rendezvous", dist.status());
  torch::manual_seed(1000 + env->rank);  // each rank its own batch
  const ModelConfig config = model_config("default");
  Model model = make_model(config);
  Trainer trainer(model.module(), o.batch, o.seq, config.vocab_size);
  auto st = (*dist)->broadcast_module(model.module());
  if (!st.ok()) fail("broadcast", st);
  auto sync = flywheel::train::GradientSync::create(**dist, trainer.params);
  if (!sync.ok()) fail("gradient sync", sync.status());
  const int steps = o.steps > 0 ? o.steps : (o.quick ? 2 : 4);
  const int warmup = o.warmup > 0 ? o.warmup : 1;
  for (int i = 0; i < warmup; ++i) trainer.step(sync->get());
  st = (*dist)->barrier();
  if (!st.ok()) fail("barrier", st);
  const double wait0 = (*sync)->stats().total_wait_seconds;
  const double start = now_seconds();
  for (int i = 0; i < steps; ++i) trainer.step(sync->get());
  const double seconds = now_seconds() - start;
  const auto& stats = (*sync)->stats();
  const double wait = stats.total_wait_seconds - wait0;
  if (env->rank == 0 && !o.rank_out.empty()) {
    Json r = {{"world_size", env->world_size},
              {"threads_per_rank", o.threads},
              {"model", "default"},
              {"steps", steps},
              {"seconds_per_step", seconds / steps},
              {"comm_wait_seconds_per_step", wait / steps},
              {"comm_share", wait / seconds},
              {"buckets", stats.buckets},
              {"launched_during_backward", stats.launched_during_backward},
              {"tokens_per_s_all_ranks", static_cast<double>(env->world_size * o.batch * o.seq * steps) / seconds}};
    std::ofstream(o.rank_out) << r.dump();
  }
  return 0;
}

Json bench_ranks(const Options& o) {
  auto exe = flywheel::train::current_executable();
  if (!exe.ok()) fail("current executable", exe.status());
  const fs::path out = o.work_dir / "rank0.json";
  fs::remove(out);
  const int per_rank = std::max(1, o.threads / 2);
  std::vector<std::string> argv = {*exe,        "--rank-worker",          "--rank-out", out.string(),
                                   "--threads", std::to_string(per_rank), "--batch",    std::to_string(o.batch),
                                   "--seq",     std::to_string(o.seq)};
  if (o.quick) argv.push_back("--quick");
  if (o.steps > 0) argv.insert(argv.end(), {"--steps", std::to_string(o.steps)});
  if (o.warmup > 0) argv.insert(argv.end(), {"--warmup", std::to_string(o.warmup)});
  flywheel::train::LocalLaunchOptions lo;
  lo.nproc = 2;
  lo.grace = std::chrono::seconds(10);
  auto st = flywheel::train::run_local_ranks(argv, lo);
  if (!st.ok()) {
    std::cerr << "bench_train: 2-rank run failed: " << st.to_string() << "\n";
    return nullptr;
  }
  std::ifstream in(out);
  try {
    return Json::parse(in);
  } catch (const std::exception& e) {
    std::cerr << "bench_train: unreadable rank report: " << e.what() << "\n";
    return nullptr;
  }
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

Options parse(int argc, char** argv) {
  Options o;
  const std::string usage =
      "usage: bench_train [--json] [--threads N] [--quick] [--steps N] [--warmup N] [--batch 8]\n"
      "                   [--seq 256] [--work-dir DIR] [--no-torch] [--no-ranks]\n"
      "                   [--profile PREFIX] [--rounds 3]\n";
  flywheel::bench::parse_flags(argc, argv, "bench_train", usage, [&](const std::string& a, const auto& value) {
    if (a == "--json")
      o.json = true;
    else if (a == "--quick")
      o.quick = true;
    else if (a == "--no-torch")
      o.torch = false;
    else if (a == "--no-ranks")
      o.ranks = false;
    else if (a == "--threads")
      o.threads = std::stoi(value());
    else if (a == "--steps")
      o.steps = std::stoi(value());
    else if (a == "--warmup")
      o.warmup = std::stoi(value());
    else if (a == "--batch")
      o.batch = std::stoll(value());
    else if (a == "--seq")
      o.seq = std::stoll(value());
    else if (a == "--work-dir")
      o.work_dir = value();
    else if (a == "--profile")
      o.profile = value();
    else if (a == "--rounds")
      o.rounds = std::max(1, std::stoi(value()));
    else if (a == "--rank-worker")
      o.rank_worker = true;
    else if (a == "--rank-out")
      o.rank_out = value();
    else
      return false;
    return true;
  });
  if (o.threads <= 0) o.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  // As `flywheel train` runs (core/openmp_wait.h); the PyTorch reference
  // inherits the same OMP_WAIT_POLICY, so both sides run under one policy.
  flywheel::reexec_with_passive_openmp_wait(argv);
  Options o = parse(argc, argv);
  if (o.rank_worker) return rank_worker(o);
  bool temp_dir = false;
  if (o.work_dir.empty()) {
    char tmpl[] = "/tmp/bench_train.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      std::perror("bench_train: mkdtemp");
      return 1;
    }
    o.work_dir = tmpl;
    temp_dir = true;
  }
  fs::create_directories(o.work_dir);
  at::set_num_threads(o.threads);
  torch::manual_seed(0);

  const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
  Json report = {{"threads", o.threads},
                 {"batch", o.batch},
                 {"seq", o.seq},
                 {"omp_wait_policy", wait_policy ? wait_policy : ""},
                 {"load_average_before", load_average()}};
  const double first_peak = probe_peak();
  report["sgemm_peak_first_probe_gflops"] = first_peak / 1e9;
  if (!o.json)
    std::cerr << "bench_train: sgemm peak " << first_peak / 1e9 << " GFLOP/s at " << o.threads << " threads\n";

  Json models = Json::array();
  models.push_back(bench_model(o, "default"));
  if (!o.quick) models.push_back(bench_model(o, "20m"));
  // MFU against the best peak seen over the whole run (probes between models
  // and after the PyTorch runs).
  const double peak = probe_peak();
  report["sgemm_peak_gflops"] = peak / 1e9;
  for (Json& m : models) {
    m["mfu"] = m["tokens_per_s"].get<double>() * m["flops_per_token"].get<double>() / peak;
    if (m.contains("torch_tokens_per_s"))
      m["torch_mfu"] = m["torch_tokens_per_s"].get<double>() * m["flops_per_token"].get<double>() / peak;
  }
  report["models"] = models;
  if (o.ranks) report["two_ranks"] = bench_ranks(o);
  report["load_average_after"] = load_average();
  if (temp_dir) fs::remove_all(o.work_dir);

  if (o.json) {
    std::cout << report.dump(2) << "\n";
    return 0;
  }
  char line[512];
  std::cout << "bench_train: " << o.threads << " threads, batch " << o.batch << " x seq " << o.seq << ", sgemm peak "
            << static_cast<int>(peak / 1e9) << " GFLOP/s, load average "
            << report["load_average_before"].get<std::string>() << " -> "
            << report["load_average_after"].get<std::string>() << ", OMP_WAIT_POLICY "
            << (wait_policy ? wait_policy : "(unset)") << "\n";
  std::snprintf(line, sizeof line, "%-8s %11s %12s %7s %12s %7s %8s\n", "model", "parameters", "flywheel t/s", "MFU",
                "PyTorch t/s", "MFU", "ratio");
  std::cout << line;
  for (const Json& m : models) {
    const bool has_torch = m.contains("torch_tokens_per_s");
    std::snprintf(line, sizeof line, "%-8s %11lld %12.0f %6.1f%% %12s %6s%% %7sx\n",
                  m["model"].get<std::string>().c_str(), static_cast<long long>(m["parameters"].get<int64_t>()),
                  m["tokens_per_s"].get<double>(), 100 * m["mfu"].get<double>(),
                  has_torch ? std::to_string(static_cast<int>(m["torch_tokens_per_s"].get<double>())).c_str() : "-",
                  has_torch ? std::to_string(100 * m["torch_mfu"].get<double>()).substr(0, 4).c_str() : "-",
                  has_torch ? std::to_string(m["ratio_vs_torch"].get<double>()).substr(0, 4).c_str() : "-");
    std::cout << line;
  }
  for (const Json& m : models) {
    const Json& f = m["phase_seconds_per_step"];
    std::snprintf(line, sizeof line, "%-8s s/step flywheel: forward+loss %.2f, backward %.2f, clip+AdamW %.2f",
                  m["model"].get<std::string>().c_str(), f["forward_loss"].get<double>(), f["backward"].get<double>(),
                  f["clip_adamw"].get<double>());
    std::cout << line;
    if (m.contains("torch_phase_seconds_per_step")) {
      const Json& t = m["torch_phase_seconds_per_step"];
      std::snprintf(line, sizeof line, " | PyTorch: %.2f, %.2f, %.2f", t["forward_loss"].get<double>(),
                    t["backward"].get<double>(), t["clip_adamw"].get<double>());
      std::cout << line;
    }
    std::cout << "\n";
  }
  std::cout << "goals: >= 1.2x PyTorch tokens/s; MFU >= 50% of sgemm peak for the 20M model\n";
  if (report.contains("two_ranks") && !report["two_ranks"].is_null()) {
    const Json& r = report["two_ranks"];
    std::snprintf(line, sizeof line,
                  "2 ranks (default model, %d thread(s) each, %lld x %lld per rank): %.3f s/step, communication wait "
                  "%.4f s/step = %.1f%% of step time (%lld buckets, %lld launched during backward)\n",
                  r["threads_per_rank"].get<int>(), static_cast<long long>(o.batch), static_cast<long long>(o.seq),
                  r["seconds_per_step"].get<double>(), r["comm_wait_seconds_per_step"].get<double>(),
                  100 * r["comm_share"].get<double>(), static_cast<long long>(r["buckets"].get<int64_t>()),
                  static_cast<long long>(r["launched_during_backward"].get<int64_t>()));
    std::cout << line;
  }
  return 0;
}
