// train_dist_worker: one rank of the data-parallel tests. distributed_test.cpp
// starts it N times with torchrun-style variables (or through mpirun or
// torchrun) and checks what the ranks write and how they exit.
//
//   train_dist_worker train OUT [steps=4 optimizer=sgd|adamw accum=1 batch=8 seq=16
//                                bucket_bytes=4096 overlap=1 timeout_ms=20000 grads=0]
//     A tiny CausalLm trained on this rank's slice of a fixed global batch of
//     `batch` sequences (micro-batches of batch / (world * accum)); rank r
//     writes its final parameters to OUT.rank<r> (with grads=1, also each
//     step's gradients, as the optimizer sees them, to OUT.grads.rank<r>) and
//     a JSON summary line to stdout. Run with no launcher variables it is the single-process
//     reference: the whole batch at once (ref_slices=N: as N accumulated
//     micro-batches, the ranks' slices in rank order), no gradient sync.
//   train_dist_worker collectives
//     all_reduce (mean, sum, max over mixed dtypes), scalars, broadcast,
//     barrier; exit 0 when every result is right.
//   train_dist_worker die READY_FILE [timeout_ms=...]
//     Ranks meet at a barrier; rank 1 then touches READY_FILE and sleeps (the
//     test kills it, or lets it hang); rank 0 keeps all-reducing and must
//     fail with a clear error: it prints it and exits 3.
//   train_dist_worker exit [timeout_ms=...]
//     Rank 1 exits with code 7 after the first barrier; the others must fail.
//   train_dist_worker rendezvous [timeout_ms=...]
//     Only creates the context: exit 0 on success, 3 with the error.
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "model/config.h"
#include "model/transformer.h"
#include "train/distributed.h"
#include "train/gradient_sync.h"

namespace {

using flywheel::Status;
using namespace flywheel::train;

std::map<std::string, std::string> parse_options(int argc, char** argv, int first) {
  std::map<std::string, std::string> options;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    auto eq = arg.find('=');
    if (eq != std::string::npos) options[arg.substr(0, eq)] = arg.substr(eq + 1);
  }
  return options;
}

int64_t option(const std::map<std::string, std::string>& options, const std::string& key, int64_t fallback) {
  auto it = options.find(key);
  return it == options.end() ? fallback : std::stoll(it->second);
}

int fail(const std::string& what, const Status& status) {
  std::fprintf(stderr, "%s: %s\n", what.c_str(), status.to_string().c_str());
  return 3;
}

std::unique_ptr<DistributedContext> connect(const std::map<std::string, std::string>& options, int* exit_code) {
  auto env = detect_distributed_env();
  if (!env.ok()) {
    *exit_code = fail("environment", env.status());
    return nullptr;
  }
  DistributedOptions dist_options;
  dist_options.timeout = std::chrono::milliseconds(option(options, "timeout_ms", 20000));
  auto context = DistributedContext::create(*env, dist_options);
  if (!context.ok()) {
    *exit_code = fail("rendezvous", context.status());
    return nullptr;
  }
  return std::move(*context);
}

// Global batch of step `step`: the same on every rank, independent of the
// model's initialization.
torch::Tensor global_batch(int64_t step, int64_t batch, int64_t seq, int64_t vocab) {
  auto generator = at::detail::createCPUGenerator(1000 + step);
  return torch::randint(vocab, {batch, seq + 1}, generator, torch::kInt64);
}

int run_train(const std::string& out, const std::map<std::string, std::string>& options) {
  int code = 0;
  auto context = connect(options, &code);
  if (!context) return code;
  const int rank = context->rank(), world = context->world_size();
  const int64_t steps = option(options, "steps", 4), accum = option(options, "accum", 1);
  const int64_t batch = option(options, "batch", 8), seq = option(options, "seq", 16);
  // The single-process reference takes the whole batch at once, or with
  // ref_slices=N as N accumulated micro-batches (the ranks' slices, in order).
  const bool single = !context->is_distributed();
  const int64_t micro_steps = single ? option(options, "ref_slices", 1) : accum;
  const int64_t slices = single ? micro_steps : world * accum;
  if (batch % slices != 0) {
    std::fprintf(stderr, "batch %lld does not split into %lld slices\n", (long long)batch, (long long)slices);
    return 2;
  }
  const int64_t micro = batch / slices;

  auto config = flywheel::ModelConfig::preset("tiny", "llama", 96);
  if (!config.ok()) return fail("config", config.status());
  // Different weights on every rank: broadcast_module must make them equal
  // (rank 0's seed is the single-process reference's).
  torch::manual_seed(100 + rank);
  flywheel::model::CausalLm model(*config);
  {
    // Hugging Face's initialization (normal, std 0.02; norms at 1) rather
    // than libtorch's defaults, so that the loss starts near log(vocab).
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) {
      if (p.dim() == 2)
        p.normal_(0.0, 0.02);
      else
        p.fill_(1.0);
    }
  }
  if (Status s = context->broadcast_module(*model); !s.ok()) return fail("broadcast", s);

  GradientSyncOptions sync_options;
  sync_options.bucket_bytes = option(options, "bucket_bytes", 4096);
  sync_options.overlap = option(options, "overlap", 1) != 0;
  auto sync = GradientSync::create(*context, model->parameters(), sync_options);
  if (!sync.ok()) return fail("gradient sync", sync.status());

  const std::string optimizer_name = options.count("optimizer") ? options.at("optimizer") : "sgd";
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  if (optimizer_name == "adamw")
    optimizer =
        std::make_unique<torch::optim::AdamW>(model->parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(0.1));
  else
    optimizer = std::make_unique<torch::optim::SGD>(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));

  const auto write_flat = [](std::ofstream& file, const torch::Tensor& t) {
    torch::Tensor flat = t.detach().contiguous().to(torch::kFloat32).reshape({-1});
    file.write(reinterpret_cast<const char*>(flat.data_ptr<float>()), flat.numel() * sizeof(float));
  };
  std::ofstream grads_file;
  if (option(options, "grads", 0) != 0) grads_file.open(out + ".grads.rank" + std::to_string(rank), std::ios::binary);

  std::string losses;
  for (int64_t step = 0; step < steps; ++step) {
    torch::Tensor all = global_batch(step, batch, seq, config->vocab_size);
    optimizer->zero_grad();
    double loss_sum = 0;
    for (int64_t k = 0; k < micro_steps; ++k) {
      const int64_t slice = single ? k : k * world + rank;
      torch::Tensor rows = all.narrow(0, slice * micro, micro);
      torch::Tensor logits = model->forward(rows.narrow(1, 0, seq));
      torch::Tensor loss = torch::nn::functional::cross_entropy(logits.reshape({-1, config->vocab_size}),
                                                                rows.narrow(1, 1, seq).reshape({-1})) /
                           static_cast<double>(micro_steps);
      (*sync)->begin_backward(k == micro_steps - 1);
      loss.backward();
      loss_sum += loss.item<double>();
    }
    if (Status s = (*sync)->finish_backward(); !s.ok()) return fail("gradient sync", s);
    auto mean_loss = context->all_reduce_scalar(loss_sum, ReduceOp::kMean);
    if (!mean_loss.ok()) return fail("loss", mean_loss.status());
    char text[32];
    std::snprintf(text, sizeof text, "%s%.9g", losses.empty() ? "" : ",", *mean_loss);
    losses += text;
    if (grads_file.is_open())
      for (const auto& p : model->parameters()) write_flat(grads_file, p.grad());
    optimizer->step();
  }
  if (Status s = context->barrier(); !s.ok()) return fail("barrier", s);

  std::ofstream file(out + ".rank" + std::to_string(rank), std::ios::binary);
  for (const auto& p : model->parameters()) write_flat(file, p);
  file.close();
  if (grads_file.is_open()) grads_file.close();
  if (!file || grads_file.fail()) return fail("write", Status::io_error("cannot write " + out));
  const auto& stats = (*sync)->stats();
  std::printf(
      "{\"rank\": %d, \"world\": %d, \"launcher\": \"%s\", \"buckets\": %lld, "
      "\"launched_during_backward\": %lld, \"losses\": [%s]}\n",
      rank, world, context->env().launcher.c_str(), (long long)stats.buckets, (long long)stats.launched_during_backward,
      losses.c_str());
  return 0;
}

int run_collectives(const std::map<std::string, std::string>& options) {
  int code = 0;
  auto context = connect(options, &code);
  if (!context) return code;
  const int rank = context->rank(), world = context->world_size();
  int errors = 0;
  auto check = [&](bool ok, const std::string& what) {
    if (!ok) {
      std::fprintf(stderr, "rank %d: %s is wrong\n", rank, what.c_str());
      ++errors;
    }
  };
  // Mean over a float, a double, a non-contiguous and a bf16 tensor: one buffer per dtype.
  const double mean_rank = (world - 1) / 2.0;
  torch::Tensor a = torch::full({3}, static_cast<float>(rank));
  torch::Tensor b = torch::full({2, 2}, static_cast<double>(rank * 2), torch::kFloat64);
  torch::Tensor c = torch::arange(6, torch::kFloat32).reshape({2, 3}).t() * (rank + 1);
  torch::Tensor h = torch::full({5}, static_cast<float>(rank), torch::kBFloat16);
  if (Status s = context->all_reduce_mean({a, b, c, h}); !s.ok()) return fail("all_reduce_mean", s);
  check(torch::allclose(h.to(torch::kFloat32), torch::full({5}, static_cast<float>(mean_rank))), "mean of bf16");
  check(torch::allclose(a, torch::full({3}, static_cast<float>(mean_rank))), "mean of float");
  check(torch::allclose(b, torch::full({2, 2}, 2 * mean_rank, torch::kFloat64)), "mean of double");
  check(torch::allclose(c, torch::arange(6, torch::kFloat32).reshape({2, 3}).t() * (mean_rank + 1)),
        "mean of a transposed tensor");
  torch::Tensor counts = torch::full({2}, static_cast<int64_t>(rank + 1));
  if (Status s = context->all_reduce({counts}, ReduceOp::kMax); !s.ok()) return fail("all_reduce max", s);
  check(counts[0].item<int64_t>() == world, "max of int64");
  auto scalars = context->all_reduce_scalars({1.0, static_cast<double>(rank)}, ReduceOp::kSum);
  if (!scalars.ok()) return fail("all_reduce_scalars", scalars.status());
  check((*scalars)[0] == world && (*scalars)[1] == world * (world - 1) / 2.0, "sum of scalars");
  torch::Tensor x = torch::full({4}, static_cast<float>(rank + 10));
  torch::Tensor y = torch::full({2}, static_cast<int64_t>(rank + 20));
  if (Status s = context->broadcast({x, y}, world - 1); !s.ok()) return fail("broadcast", s);
  check(x[0].item<float>() == world - 1 + 10 && y[1].item<int64_t>() == world - 1 + 20, "broadcast");
  check(context->broadcast({x}, world).code() == flywheel::StatusCode::kInvalidArgument, "bad root");
  if (Status s = context->barrier(); !s.ok()) return fail("barrier", s);
  if (errors == 0) std::printf("collectives ok on rank %d of %d\n", rank, world);
  return errors == 0 ? 0 : 1;
}

int run_die(const std::string& ready_file, const std::map<std::string, std::string>& options) {
  int code = 0;
  auto context = connect(options, &code);
  if (!context) return code;
  if (Status s = context->barrier(); !s.ok()) return fail("first barrier", s);
  if (context->rank() == 1) {
    std::ofstream(ready_file) << "ready\n";
    std::this_thread::sleep_for(std::chrono::seconds(60));
    return 0;
  }
  const auto start = std::chrono::steady_clock::now();
  torch::Tensor t = torch::ones({1024});
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(60)) {
    Status s = context->all_reduce_mean({t});
    if (!s.ok()) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::fprintf(stderr, "after %.2f s: %s\n", seconds, s.to_string().c_str());
      // Every later call must report the same failure instead of blocking.
      if (context->barrier().ok()) std::fprintf(stderr, "barrier after a failure succeeded\n");
      return 3;
    }
  }
  std::fprintf(stderr, "rank 0 never noticed that rank 1 is gone\n");
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: train_dist_worker train|collectives|die|exit|rendezvous ...\n");
    return 2;
  }
  // Ranks share 2 cores. This does not reach OpenBLAS's own threads:
  // distributed_test.cpp sets OPENBLAS_NUM_THREADS=1 for that.
  torch::set_num_threads(1);
  const std::string scenario = argv[1];
  try {
    if (scenario == "train" && argc >= 3) return run_train(argv[2], parse_options(argc, argv, 3));
    if (scenario == "collectives") return run_collectives(parse_options(argc, argv, 2));
    if (scenario == "die" && argc >= 3) return run_die(argv[2], parse_options(argc, argv, 3));
    if (scenario == "exit") {
      // Rank 1 leaves with code 7 right after meeting the others; the rest
      // then fail in their next barrier (exit 3).
      int code = 0;
      auto options = parse_options(argc, argv, 2);
      auto context = connect(options, &code);
      if (!context) return code;
      if (Status s = context->barrier(); !s.ok()) return fail("first barrier", s);
      if (context->rank() == 1) return 7;
      if (Status s = context->barrier(); !s.ok()) return fail("second barrier", s);
      return 0;
    }
    if (scenario == "rendezvous") {
      int code = 0;
      auto context = connect(parse_options(argc, argv, 2), &code);
      return context ? 0 : code;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "uncaught exception: %s\n", e.what());
    return 4;
  }
  std::fprintf(stderr, "unknown scenario '%s'\n", scenario.c_str());
  return 2;
}
