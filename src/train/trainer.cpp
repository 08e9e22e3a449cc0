// The training loop: data → forward → masked cross-entropy → backward →
// clip → AdamW, with validation, metrics, checkpoints and exact resume.
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/progress.h"
#include "data/data.h"
#include "model/model.h"
#include "model/transformer.h"
#include "spdlog/spdlog.h"
#include "train/adamw.h"
#include "train/checkpointing.h"
#include "train/distributed.h"
#include "train/divergence.h"
#include "train/flops.h"
#include "train/grad_clip.h"
#include "train/gradient_sync.h"
#include "train/lineage.h"
#include "train/lr_schedule.h"
#include "train/run_dir.h"
#include "train/stop_signals.h"
#include "train/train.h"

namespace flywheel {

namespace fs = std::filesystem;
using nlohmann::json;

Status TrainOptions::validate() const {
  if (mode != "pretrain" && mode != "continue" && mode != "sft")
    return Status::invalid_argument("unknown mode '" + mode + "' (pretrain, continue, sft)");
  if (mode == "sft" ? sft_data.empty() : data.empty())
    return Status::invalid_argument(mode == "sft" ? "--sft-data FILE is required for sft" : "--data DIR is required");
  if (mode != "pretrain" && init.empty()) return Status::invalid_argument("--init DIR is required for mode " + mode);
  return validate_optimization();
}

Status TrainOptions::validate_optimization() const {
  if (steps < 1 || batch_size < 1 || seq_len < 2 || grad_accum < 1)
    return Status::invalid_argument("steps, batch_size, grad_accum must be >= 1 and seq_len >= 2");
  if (clip < 0 || weight_decay < 0) return Status::invalid_argument("clip and weight_decay must be >= 0");
  if (fim_rate < 0 || fim_rate > 1 || fim_spm_rate < 0 || fim_spm_rate > 1)
    return Status::invalid_argument("fim_rate and fim_spm_rate must be between 0 and 1");
  train::LrSchedule schedule{lr, min_lr, warmup, steps, this->schedule};
  return schedule.validate();
}

namespace {

// Mean cross-entropy over the counted targets of a batch; also returns the
// summed loss (nats) and the count for bits-per-byte.
struct BatchLoss {
  torch::Tensor mean;
  double sum_nats = 0;
  int64_t counted = 0;
};

BatchLoss batch_loss(model::CausalLmImpl& module, const TokenBatch& batch) {
  const int64_t B = batch.batch_size, T = batch.seq_len;
  torch::Tensor all =
      torch::from_blob(const_cast<int32_t*>(batch.tokens.data()), {B, T + 1}, torch::kInt32).to(torch::kInt64);
  torch::Tensor inputs = all.narrow(1, 0, T), targets = all.narrow(1, 1, T);
  torch::Tensor mask =
      torch::from_blob(const_cast<uint8_t*>(batch.loss_mask.data()), {B, T}, torch::kUInt8).to(torch::kFloat32);
  const double counted = mask.sum().item<double>();
  torch::Tensor summed = module.weighted_loss(inputs, targets, mask);
  BatchLoss out;
  out.counted = static_cast<int64_t>(counted);
  out.sum_nats = summed.item<double>();
  out.mean = summed / std::max(counted, 1.0);
  return out;
}

struct Validation {
  double loss = 0, bits_per_byte = 0;
  int64_t tokens = 0;
};

Result<Validation> validate(model::CausalLmImpl& module, const TrainOptions& o, const Tokenizer& tokenizer) {
  LoaderOptions lo;
  lo.dataset = o.data;
  lo.split = "valid";
  lo.seq_len = o.seq_len;
  lo.batch_size = o.batch_size;
  lo.seed = o.seed;
  lo.fim_rate = 0;
  lo.loop = false;
  FW_ASSIGN_OR_RETURN(DataLoader loader, DataLoader::open(lo, tokenizer));
  torch::NoGradGuard no_grad;
  module.eval();
  double nats = 0;
  int64_t counted = 0, bytes = 0;
  for (int64_t i = 0; i < o.eval_batches; ++i) {
    FW_ASSIGN_OR_RETURN(std::optional<TokenBatch> batch, loader.next());
    if (!batch) break;
    BatchLoss l = batch_loss(module, *batch);
    nats += l.sum_nats;
    counted += l.counted;
    bytes += batch->target_bytes;
  }
  module.train();
  if (counted == 0) return Status::invalid_argument("the validation split of " + o.data.string() + " has no tokens");
  Validation v;
  v.loss = nats / static_cast<double>(counted);
  v.bits_per_byte = bytes > 0 ? nats / std::log(2.0) / static_cast<double>(bytes) : 0;
  v.tokens = counted;
  return v;
}

}  // namespace

json train::recipe_json(const TrainOptions& o) {
  return {{"mode", o.mode},
          {"data", o.data.string()},
          {"sft_data", o.sft_data.string()},
          {"init", o.init.string()},
          {"arch", o.arch},
          {"preset", o.preset},
          {"steps", o.steps},
          {"batch_size", o.batch_size},
          {"seq_len", o.seq_len},
          {"grad_accum", o.grad_accum},
          {"lr", o.lr},
          {"min_lr", o.min_lr},
          {"warmup", o.warmup},
          {"schedule", o.schedule},
          {"weight_decay", o.weight_decay},
          {"beta1", o.beta1},
          {"beta2", o.beta2},
          {"eps", o.eps},
          {"clip", o.clip},
          {"seed", o.seed},
          {"fim_rate", o.fim_rate},
          {"fim_spm_rate", o.fim_spm_rate},
          {"repo_level", o.repo_level},
          {"chunk_tokens", o.chunk_tokens < 0 ? o.seq_len : o.chunk_tokens}};
}

std::string train::lineage_json(const json& parent, const json& datasets, const json& recipe, int64_t step,
                                double train_loss, const std::string& extra_json) {
  json lineage = {
      {"parent", parent}, {"datasets", datasets}, {"recipe", recipe}, {"step", step}, {"train_loss", train_loss}};
  if (!extra_json.empty()) {
    json extra = json::parse(extra_json, nullptr, false);
    if (extra.is_object()) lineage.update(extra);
  }
  return lineage.dump(2) + "\n";
}

namespace {

Result<Tokenizer> tokenizer_for(const TrainOptions& o) {
  if (!o.tokenizer.empty()) return Tokenizer::from_file(o.tokenizer);
  FW_ASSIGN_OR_RETURN(Dataset dataset, Dataset::open(o.data));
  // A copy inside the dataset wins over the path it was made from.
  fs::path path = dataset.dir() / "tokenizer.json";
  std::error_code ec;
  if (!fs::exists(path, ec)) path = dataset.manifest().value("tokenizer", json::object()).value("path", std::string());
  if (path.empty() || !fs::exists(path, ec))
    return Status::not_found("the dataset " + o.data.string() +
                             " names no tokenizer file that exists; pass --tokenizer");
  return Tokenizer::from_file(path);
}

// The model a run starts from: a fresh one (pretrain) or a checkpoint.
Result<Model> initial_model(const TrainOptions& o) {
  if (o.mode != "pretrain")
    return Model::load(o.init, LoadOptions{WeightDtype::kFloat32, o.threads, /*show_head=*/false});
  FW_ASSIGN_OR_RETURN(Tokenizer tokenizer, tokenizer_for(o));
  FW_ASSIGN_OR_RETURN(ModelConfig config,
                      ModelConfig::preset(o.preset, o.arch, static_cast<int64_t>(tokenizer.vocab_size())));
  config.max_position_embeddings = std::max(config.max_position_embeddings, o.seq_len);
  if (auto eos = tokenizer.token_to_id("<|endoftext|>")) {
    config.eos_token_ids = {*eos};
    config.bos_token_id = *eos;
  }
  return Model::create_random(config, std::move(tokenizer), o.seed);
}

}  // namespace

Result<TrainSummary> run_training(const TrainOptions& o) {
  FW_RETURN_IF_ERROR(o.validate());
  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  torch::manual_seed(o.seed);

  // Data parallelism: rank and world size from torchrun, Slurm or Open MPI.
  FW_ASSIGN_OR_RETURN(train::DistributedEnv env, train::detect_distributed_env());
  FW_ASSIGN_OR_RETURN(std::unique_ptr<train::DistributedContext> dist, train::DistributedContext::create(env));
  const bool main_rank = dist->is_main();
  if (!main_rank) spdlog::set_level(spdlog::level::warn);  // rank 0 logs
  if (dist->is_distributed()) spdlog::info("data parallel: {}", env.describe());

  train::RunDir run(o.out);
  std::error_code ec;
  if (main_rank) fs::create_directories(o.out / "checkpoints", ec);
  if (ec) return Status::io_error("cannot create the run directory " + o.out.string() + ": " + ec.message());
  FW_RETURN_IF_ERROR(dist->barrier());

  // Resume from the newest complete checkpoint, or start fresh.
  FW_ASSIGN_OR_RETURN(std::optional<fs::path> resume_from, run.latest());
  if (!o.resume) resume_from.reset();
  std::optional<Model> loaded;
  if (resume_from) {
    FW_ASSIGN_OR_RETURN(Model m,
                        Model::load(*resume_from, LoadOptions{WeightDtype::kFloat32, threads, /*show_head=*/false}));
    loaded.emplace(std::move(m));
  } else {
    FW_ASSIGN_OR_RETURN(Model m, initial_model(o));
    loaded.emplace(std::move(m));
  }
  Model& model = *loaded;
  const Tokenizer& tokenizer = model.tokenizer();
  const ModelConfig& config = model.config();
  if (o.seq_len > config.max_position_embeddings)
    return Status::invalid_argument("seq_len " + std::to_string(o.seq_len) + " exceeds the model's context of " +
                                    std::to_string(config.max_position_embeddings));
  model::CausalLmImpl& module = model.module();
  module.train();
  for (auto& p : module.parameters()) p.set_requires_grad(true);
  // Every rank starts from rank 0's weights; gradients are averaged in buckets during backward.
  FW_RETURN_IF_ERROR(dist->broadcast_module(module));
  FW_ASSIGN_OR_RETURN(std::unique_ptr<train::GradientSync> sync,
                      train::GradientSync::create(*dist, module.parameters()));

  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (auto& p : module.named_parameters()) named.emplace_back(p.key(), p.value());
  train::AdamW optimizer(named, {o.beta1, o.beta2, o.eps, o.weight_decay});
  const train::LrSchedule schedule{o.lr, o.min_lr, o.warmup, o.steps, o.schedule};

  LoaderOptions lo;
  lo.dataset = o.data;
  lo.sft_jsonl = o.sft_data;
  lo.split = "train";
  lo.seq_len = o.seq_len;
  lo.batch_size = o.batch_size;
  lo.seed = o.seed;
  lo.fim_rate = o.mode == "sft" ? 0 : o.fim_rate;
  lo.fim_spm_rate = o.fim_spm_rate;
  lo.repo_level = o.repo_level;
  lo.chunk_tokens = o.chunk_tokens < 0 ? o.seq_len : o.chunk_tokens;
  lo.rank = dist->rank();
  lo.world_size = dist->world_size();
  FW_ASSIGN_OR_RETURN(DataLoader loader, DataLoader::open(lo, tokenizer));

  TrainSummary summary;
  summary.parameters = config.parameter_count();
  summary.main_rank = main_rank;
  int64_t step = 0;
  if (resume_from) {
    FW_ASSIGN_OR_RETURN(json state, train::restore_training_checkpoint(*resume_from, optimizer));
    if (!state.contains("loader"))
      return Status::corruption(resume_from->string() + "/trainer_state.json has no data loader state");
    step = state["step"].get<int64_t>();
    FW_RETURN_IF_ERROR(loader.restore(state["loader"]));
    if (main_rank) FW_RETURN_IF_ERROR(run.truncate_metrics(step));
    summary.start_step = step;
    spdlog::info("resuming {} at step {}", resume_from->string(), step);
  }

  const double flops_per_token = train::training_flops_per_token(config, o.seq_len);
  summary.sgemm_peak_flops = train::measure_sgemm_peak();
  const std::string lineage_extra = o.lineage_json;

  // Rank 0 writes checkpoints (the loader state saved is its own: each
  // rank's position follows from the same step count and seed).
  auto save = [&](int64_t at_step, double last_loss) -> Status {
    fs::path dir = run.checkpoint_path(at_step);
    if (!main_rank) {
      summary.checkpoint = dir;
      return dist->barrier();
    }
    const std::string lineage =
        train::lineage_json(o.mode == "pretrain" ? json(nullptr) : json(o.init.string()),
                            json::array({o.mode == "sft" ? o.sft_data.string() : o.data.string()}),
                            train::recipe_json(o), at_step, last_loss, lineage_extra);
    json state = {{"loader", loader.state()}, {"torch_seed", o.seed}};
    FW_ASSIGN_OR_RETURN(summary.checkpoint, train::save_training_checkpoint(run, at_step, model, lineage, optimizer,
                                                                            std::move(state), o.keep));
    return dist->barrier();
  };

  train::StopSignals signals;
  ProgressBar progress("train", main_rank ? static_cast<uint64_t>(o.steps) : 0, "steps");
  progress.set(static_cast<uint64_t>(step));
  const auto started = std::chrono::steady_clock::now();
  double window_seconds = 0;
  int64_t window_tokens = 0;
  double last_loss = 0;
  bool saved_at_end = false;

  while (step < o.steps) {
    const auto step_start = std::chrono::steady_clock::now();
    const double lr = schedule.at(step);
    for (auto& p : module.parameters()) p.mutable_grad() = torch::Tensor();
    double loss_value = 0;
    int64_t tokens = 0;
    for (int64_t micro = 0; micro < o.grad_accum; ++micro) {
      FW_ASSIGN_OR_RETURN(std::optional<TokenBatch> batch, loader.next());
      if (!batch) return Status::internal("the training loader ended (it should loop)");
      BatchLoss l = batch_loss(module, *batch);
      sync->begin_backward(/*sync=*/micro == o.grad_accum - 1);
      (l.mean / static_cast<double>(o.grad_accum)).backward();
      loss_value += l.mean.item<double>() / static_cast<double>(o.grad_accum);
      tokens += batch->batch_size * batch->seq_len;
    }
    FW_RETURN_IF_ERROR(sync->finish_backward());
    if (dist->is_distributed()) {
      FW_ASSIGN_OR_RETURN(loss_value, dist->all_reduce_scalar(loss_value, train::ReduceOp::kMean));
      tokens *= dist->world_size();
    }
    const double grad_norm = train::clip_gradients(module.parameters(), o.clip);
    FW_RETURN_IF_ERROR(train::check_divergence(
        loss_value, grad_norm, step, summary.checkpoint.empty() && resume_from ? *resume_from : summary.checkpoint));
    optimizer.step(lr);
    ++step;
    last_loss = loss_value;
    progress.advance();

    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count();
    window_seconds += seconds;
    window_tokens += tokens;
    if (main_rank && (step % o.log_every == 0 || step == o.steps)) {
      const double tps = window_tokens / std::max(window_seconds, 1e-9);
      const double mfu = tps * flops_per_token / std::max(summary.sgemm_peak_flops, 1.0);
      summary.tokens_per_second = tps;
      summary.mfu = mfu;
      FW_RETURN_IF_ERROR(run.append_metrics(json({{"step", step},
                                                  {"loss", loss_value},
                                                  {"lr", lr},
                                                  {"grad_norm", grad_norm},
                                                  {"tokens_per_second", tps},
                                                  {"mfu", mfu}})
                                                .dump()));
      spdlog::info("step {}/{} loss {:.4f} lr {:.2e} grad norm {:.3f} {:.0f} tokens/s MFU {:.1f}%", step, o.steps,
                   loss_value, lr, grad_norm, tps, 100 * mfu);
      window_seconds = 0;
      window_tokens = 0;
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const bool out_of_time = o.max_seconds > 0 && elapsed >= o.max_seconds;
    const bool stop_requested = o.stop_at_step > 0 && step >= o.stop_at_step && step < o.steps;
    bool stop = signals.received() != 0 || out_of_time || stop_requested;
    if (dist->is_distributed()) {  // all ranks stop at the same step
      FW_ASSIGN_OR_RETURN(double any, dist->all_reduce_scalar(stop ? 1.0 : 0.0, train::ReduceOp::kMax));
      stop = any > 0;
    }
    // A run that stops early is validated too, so its last checkpoint has a score.
    const bool eval_now = (o.eval_every > 0 && step % o.eval_every == 0) || step == o.steps || stop;
    if (eval_now && o.mode != "sft") {
      FW_ASSIGN_OR_RETURN(Validation v, validate(module, o, tokenizer));
      summary.valid_loss = v.loss;
      summary.valid_bits_per_byte = v.bits_per_byte;
      if (main_rank)
        FW_RETURN_IF_ERROR(run.append_metrics(json({{"step", step},
                                                    {"valid_loss", v.loss},
                                                    {"valid_bits_per_byte", v.bits_per_byte},
                                                    {"valid_tokens", v.tokens}})
                                                  .dump()));
      spdlog::info("step {} validation loss {:.4f}, {:.3f} bits per byte", step, v.loss, v.bits_per_byte);
    }
    if ((o.save_every > 0 && step % o.save_every == 0) || step == o.steps || stop) {
      FW_RETURN_IF_ERROR(save(step, loss_value));
      saved_at_end = step == o.steps || stop;
    }
    if (stop) {
      summary.interrupted = true;
      if (signals.received() != 0) {
        spdlog::warn("stopped by signal {} at step {}; checkpoint {}", signals.received(), step,
                     summary.checkpoint.string());
        progress.finish();
        return Status(StatusCode::kCancelled, "training interrupted at step " + std::to_string(step) +
                                                  "; resume with the same command (checkpoint " +
                                                  summary.checkpoint.string() + ")");
      }
      spdlog::info("stopping at step {} ({})", step, out_of_time ? "--max-seconds" : "--stop-at-step");
      break;
    }
  }
  if (!saved_at_end && step > summary.start_step) FW_RETURN_IF_ERROR(save(step, last_loss));
  if (summary.checkpoint.empty() && resume_from) summary.checkpoint = *resume_from;
  progress.finish();
  summary.steps = step;
  summary.last_loss = last_loss;
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return summary;
}

}  // namespace flywheel
