// run_learning (learn.h): the objective's loss → backward → clip → AdamW
// loop, with the trainer's checkpoints, resume, metrics, divergence check and
// signal handling (train/checkpointing.h, divergence.h, stop_signals.h).
#include <spdlog/spdlog.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/atomic_file.h"
#include "core/progress.h"
#include "data/rng.h"
#include "learn/feedback_rows.h"
#include "learn/learn.h"
#include "learn/objective.h"
#include "learn/teacher.h"
#include "model/transformer.h"
#include "train/adamw.h"
#include "train/checkpointing.h"
#include "train/divergence.h"
#include "train/flops.h"
#include "train/grad_clip.h"
#include "train/lineage.h"
#include "train/lr_schedule.h"
#include "train/run_dir.h"
#include "train/stop_signals.h"

namespace flywheel {

namespace fs = std::filesystem;
using nlohmann::json;

bool is_learn_mode(std::string_view mode) {
  return mode == "dpo" || mode == "kto" || mode == "pg" || mode == "distill" || mode == "show";
}

namespace {

std::string distill_kind(const LearnOptions& o) {
  if (!o.distill.empty()) return o.distill;
  return learn::is_teacher_url(o.teacher) ? "sequence" : "logit";
}

}  // namespace

Status LearnOptions::validate() const {
  const std::string& mode = train.mode;
  if (!is_learn_mode(mode))
    return Status::invalid_argument("unknown learn mode '" + mode + "' (dpo, kto, pg, distill, show)");
  if (train.init.empty())
    return Status::invalid_argument("--init DIR (the policy to start from) is required for mode " + mode);
  FW_RETURN_IF_ERROR(train.validate_optimization());
  if (!(beta > 0)) return Status::invalid_argument("--beta must be > 0");
  if (!(label_smoothing >= 0 && label_smoothing < 0.5))
    return Status::invalid_argument("--label-smoothing must be in [0, 0.5)");
  if (!(lambda_d > 0 && lambda_u > 0)) return Status::invalid_argument("--lambda-d and --lambda-u must be > 0");
  if (!(kl_coef >= 0)) return Status::invalid_argument("--kl-coef must be >= 0");
  if (mode == "kto" && train.batch_size < 2)
    return Status::invalid_argument("kto needs --batch-size >= 2 (z0 is estimated from mismatched pairs in the batch)");
  if (mode != "distill") return Status::OK();
  if (teacher.empty()) return Status::invalid_argument("--teacher DIR_OR_URL is required for mode distill");
  const std::string kind = distill_kind(*this);
  if (kind != "logit" && kind != "sequence")
    return Status::invalid_argument("--distill must be logit or sequence, not '" + kind + "'");
  if (kind == "logit" && learn::is_teacher_url(teacher))
    return Status::invalid_argument("a URL teacher (" + teacher +
                                    ") gives completions, not logits: use --distill sequence");
  if (!(temperature > 0)) return Status::invalid_argument("--temperature must be > 0");
  if (teacher_max_tokens < 1) return Status::invalid_argument("--teacher-max-tokens must be >= 1");
  if (!(teacher_temperature >= 0 && teacher_temperature <= 2))
    return Status::invalid_argument("--teacher-temperature must be in [0, 2]");
  if (!(teacher_timeout > 0)) return Status::invalid_argument("--teacher-timeout must be > 0");
  return Status::OK();
}

namespace {

constexpr uint64_t kLearnOrderStream = 11;  // apart from the data module's streams

std::string rows_file_name(const std::string& mode) {
  if (mode == "dpo") return "preferences.jsonl";
  if (mode == "kto" || mode == "show") return "unpaired.jsonl";
  if (mode == "pg") return "rewards.jsonl";
  return "prompts.jsonl";
}

// Batch b is rows b*B .. b*B+B-1 of the endless sequence of per-epoch
// shuffles: a pure function of (seed, b), so a resume needs only the step.
class RowOrder {
 public:
  RowOrder(size_t rows, uint64_t seed) : rows_(rows), seed_(seed) {}
  std::vector<size_t> batch(uint64_t index, int64_t batch_size) {
    std::vector<size_t> out;
    for (int64_t i = 0; i < batch_size; ++i) {
      const uint64_t g = index * static_cast<uint64_t>(batch_size) + static_cast<uint64_t>(i);
      const uint64_t epoch = g / rows_;
      if (epoch != epoch_ || order_.empty()) {
        order_ =
            data::shuffled_indices(static_cast<uint32_t>(rows_), data::stream_seed({seed_, kLearnOrderStream, epoch}));
        epoch_ = epoch;
      }
      out.push_back(order_[g % rows_]);
    }
    return out;
  }

 private:
  size_t rows_;
  uint64_t seed_;
  uint64_t epoch_ = 0;
  std::vector<uint32_t> order_;
};

json learn_recipe_json(const LearnOptions& o) {
  json recipe = train::recipe_json(o.train);
  recipe["reference"] = o.reference.empty() ? o.train.init.string() : o.reference.string();
  if (o.train.mode == "dpo") recipe.update({{"beta", o.beta}, {"label_smoothing", o.label_smoothing}});
  if (o.train.mode == "kto") recipe.update({{"beta", o.beta}, {"lambda_d", o.lambda_d}, {"lambda_u", o.lambda_u}});
  if (o.train.mode == "pg") recipe["kl_coef"] = o.kl_coef;
  if (o.train.mode == "distill")
    recipe.update({{"teacher", o.teacher},
                   {"distill", distill_kind(o)},
                   {"temperature", o.temperature},
                   {"teacher_max_tokens", o.teacher_max_tokens},
                   {"teacher_temperature", o.teacher_temperature}});
  return recipe;
}

void freeze(Model& model) {
  model.module().eval();
  for (auto& p : model.module().parameters()) p.set_requires_grad(false);
}

// The teacher's completions for prompts.jsonl, made once per run directory
// (out/teacher_completions.jsonl) so that a resumed run trains on the same rows.
Result<std::vector<learn::DistillRow>> teacher_rows(const LearnOptions& o, const fs::path& prompts_file,
                                                    Model* local_teacher, LearnSummary& summary) {
  const fs::path cache = o.train.out / "teacher_completions.jsonl";
  std::error_code ec;
  std::vector<learn::DistillRow> rows;
  if (o.train.resume && fs::exists(cache, ec)) {
    FW_ASSIGN_OR_RETURN(std::vector<learn::PromptRow> cached, learn::read_prompt_rows(cache));
    for (auto& r : cached) rows.push_back({std::move(r.prompt), r.completion.value_or("")});
    spdlog::info("reusing {} teacher completions from {}", rows.size(), cache.string());
    return rows;
  }
  FW_ASSIGN_OR_RETURN(std::vector<learn::PromptRow> prompts, learn::read_prompt_rows(prompts_file));
  if (prompts.empty()) return Status::invalid_argument(prompts_file.string() + " has no prompts to distill on");
  learn::TeacherOptions t;
  t.model = o.teacher_model;
  t.max_tokens = o.teacher_max_tokens;
  t.temperature = o.teacher_temperature;
  t.timeout_seconds = o.teacher_timeout;
  t.seed = o.train.seed;
  std::unique_ptr<learn::Teacher> teacher;
  if (local_teacher != nullptr) {
    teacher = learn::make_local_teacher(*local_teacher, o.teacher, t);
  } else {
    FW_ASSIGN_OR_RETURN(teacher, learn::make_url_teacher(o.teacher, t));
  }
  FW_ASSIGN_OR_RETURN(learn::TeacherCompletions completions, learn::collect_teacher_completions(*teacher, prompts));
  summary.teacher_requests = completions.requests;
  summary.teacher_failures = completions.failures;
  std::string text;
  for (const auto& r : completions.rows)
    text += json({{"prompt", r.prompt}, {"completion", r.completion}})
                .dump(-1, ' ', false, json::error_handler_t::replace) +
            "\n";
  FW_RETURN_IF_ERROR(write_file_atomically(cache, text));
  return std::move(completions.rows);
}

// Sequence-level distillation: SFT on the teacher's completions, through the trainer.
Result<LearnSummary> run_sequence_distillation(const LearnOptions& o, const fs::path& prompts_file) {
  LearnSummary summary;
  std::optional<Model> teacher;
  if (!learn::is_teacher_url(o.teacher)) {
    FW_ASSIGN_OR_RETURN(
        Model m, Model::load(o.teacher, LoadOptions{WeightDtype::kFloat32, o.train.threads, /*show_head=*/false}));
    teacher.emplace(std::move(m));
  }
  FW_ASSIGN_OR_RETURN(std::vector<learn::DistillRow> rows,
                      teacher_rows(o, prompts_file, teacher ? &*teacher : nullptr, summary));
  teacher.reset();
  if (rows.empty()) return Status::invalid_argument("the teacher gave no completions to learn from");
  TrainOptions sft = o.train;
  sft.mode = "sft";
  sft.sft_data = o.train.out / "teacher_completions.jsonl";
  json extra = json::parse(o.train.lineage_json.empty() ? "{}" : o.train.lineage_json, nullptr, false);
  if (!extra.is_object()) extra = json::object();
  extra["distilled_from"] = o.teacher;
  extra["distill"] = "sequence";
  sft.lineage_json = extra.dump();
  FW_ASSIGN_OR_RETURN(summary.train, run_training(sft));
  summary.rows = static_cast<int64_t>(rows.size());
  return summary;
}

}  // namespace

Result<LearnSummary> run_learning(const LearnOptions& o) {
  FW_RETURN_IF_ERROR(o.validate());
  const TrainOptions& t = o.train;
  const int threads = t.threads > 0 ? t.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  torch::manual_seed(t.seed);
  std::error_code ec;
  fs::create_directories(t.out / "checkpoints", ec);
  if (ec) return Status::io_error("cannot create the run directory " + t.out.string() + ": " + ec.message());
  FW_ASSIGN_OR_RETURN(fs::path file, learn::resolve_rows_file(t.data, rows_file_name(t.mode)));
  if (t.mode == "distill" && distill_kind(o) == "sequence") return run_sequence_distillation(o, file);

  train::RunDir run(t.out);
  FW_ASSIGN_OR_RETURN(std::optional<fs::path> resume_from, run.latest());
  if (!t.resume) resume_from.reset();
  const LoadOptions load{WeightDtype::kFloat32, threads, /*show_head=*/false};
  FW_ASSIGN_OR_RETURN(Model policy, Model::load(resume_from ? *resume_from : t.init, load));
  // The anchor is always --init (or --reference), also after a resume; the
  // show head trains on the policy's own hidden states and needs none.
  std::optional<Model> frozen;
  if (t.mode != "show") {
    const fs::path dir = t.mode == "distill" ? fs::path(o.teacher) : (o.reference.empty() ? t.init : o.reference);
    FW_ASSIGN_OR_RETURN(Model m, Model::load(dir, load));
    frozen.emplace(std::move(m));
    freeze(*frozen);
  }
  if (t.seq_len > policy.config().max_position_embeddings)
    return Status::invalid_argument("seq_len " + std::to_string(t.seq_len) + " exceeds the model's context of " +
                                    std::to_string(policy.config().max_position_embeddings));

  LearnSummary summary;
  std::unique_ptr<learn::Objective> objective;
  if (t.mode == "dpo") {
    FW_ASSIGN_OR_RETURN(objective, learn::make_dpo_objective(o, file, policy.tokenizer(), *frozen));
  } else if (t.mode == "kto") {
    FW_ASSIGN_OR_RETURN(objective, learn::make_kto_objective(o, file, policy.tokenizer(), *frozen));
  } else if (t.mode == "pg") {
    FW_ASSIGN_OR_RETURN(objective, learn::make_pg_objective(o, file, policy.tokenizer(), *frozen));
  } else if (t.mode == "show") {
    FW_ASSIGN_OR_RETURN(objective, learn::make_show_objective(o, file, policy.tokenizer(), policy, t.init));
  } else {
    // Check the tokenizers before spending time on the teacher's completions.
    FW_RETURN_IF_ERROR(
        learn::check_same_tokenizer(policy.tokenizer(), *frozen, "teacher").with_context(learn::kNeedsSameTokenizer));
    FW_ASSIGN_OR_RETURN(std::vector<learn::DistillRow> rows, teacher_rows(o, file, &*frozen, summary));
    FW_ASSIGN_OR_RETURN(objective, learn::make_logit_distill_objective(o, rows, policy.tokenizer(), *frozen));
  }
  summary.rows = static_cast<int64_t>(objective->rows());
  spdlog::info("{}: {} rows from {}", t.mode, summary.rows, file.string());

  model::CausalLmImpl& module = policy.module();
  if (t.mode == "show") {
    freeze(policy);
  } else {
    module.train();
  }
  const std::vector<std::pair<std::string, torch::Tensor>> named = objective->parameters(policy);
  std::vector<torch::Tensor> trained;
  for (const auto& [name, tensor] : named) {
    tensor.set_requires_grad(true);
    trained.push_back(tensor);
  }
  train::AdamW optimizer(named, {t.beta1, t.beta2, t.eps, t.weight_decay});
  const train::LrSchedule schedule{t.lr, t.min_lr, t.warmup, t.steps, t.schedule};

  TrainSummary& s = summary.train;
  s.parameters = policy.config().parameter_count();
  int64_t step = 0;
  if (resume_from) {
    FW_ASSIGN_OR_RETURN(json state, train::restore_training_checkpoint(*resume_from, optimizer));
    if (state.value("learn_mode", std::string()) != t.mode)
      return Status::invalid_argument(resume_from->string() + " was not written by a --mode " + t.mode +
                                      " run; use another --out or --no-resume");
    step = state["step"].get<int64_t>();
    FW_RETURN_IF_ERROR(objective->restore(*resume_from));
    s.start_step = step;
    s.checkpoint = *resume_from;
    spdlog::info("resuming {} at step {}", resume_from->string(), step);
  }

  FW_RETURN_IF_ERROR(run.truncate_metrics(step));  // a fresh start (--no-resume) drops an old run's lines

  // Policy forward + backward, plus the frozen model's forward (a third of a training step).
  const double flops_per_position = train::training_flops_per_token(policy.config(), t.seq_len) +
                                    (frozen ? train::training_flops_per_token(frozen->config(), t.seq_len) / 3.0 : 0.0);
  s.sgemm_peak_flops = train::measure_sgemm_peak();
  const std::string recipe_datasets = file.string();

  auto save = [&](int64_t at_step, double loss) -> Status {
    const std::string lineage = train::lineage_json(json(t.init.string()), json::array({recipe_datasets}),
                                                    learn_recipe_json(o), at_step, loss, t.lineage_json);
    json state = {{"learn_mode", t.mode}, {"torch_seed", t.seed}, {"rows", summary.rows}};
    // The show head goes into model.safetensors beside the policy's weights.
    if (std::optional<ShowHead> head = objective->show_head()) policy.set_show_head(*head);
    FW_ASSIGN_OR_RETURN(s.checkpoint, train::save_training_checkpoint(run, at_step, policy, lineage, optimizer,
                                                                      std::move(state), t.keep));
    return Status::OK();
  };

  RowOrder order(objective->rows(), t.seed);
  train::StopSignals signals;
  ProgressBar progress(t.mode, static_cast<uint64_t>(t.steps), "steps");
  progress.set(static_cast<uint64_t>(step));
  const auto started = std::chrono::steady_clock::now();
  double window_seconds = 0, last_loss = 0;
  int64_t window_positions = 0;
  bool saved_at_end = false;
  while (step < t.steps) {
    const auto step_start = std::chrono::steady_clock::now();
    const double lr = schedule.at(step);
    for (auto& p : trained) p.mutable_grad() = torch::Tensor();
    double loss_value = 0;
    std::vector<std::pair<std::string, double>> metrics;
    for (int64_t micro = 0; micro < t.grad_accum; ++micro) {
      const std::vector<size_t> rows = order.batch(static_cast<uint64_t>(step * t.grad_accum + micro), t.batch_size);
      FW_ASSIGN_OR_RETURN(learn::ObjectiveLoss l, objective->loss(policy, rows));
      (l.loss / static_cast<double>(t.grad_accum)).backward();
      loss_value += l.loss.item<double>() / static_cast<double>(t.grad_accum);
      window_positions += l.positions;
      if (metrics.empty()) metrics.assign(l.metrics.size(), {"", 0.0});
      for (size_t i = 0; i < l.metrics.size() && i < metrics.size(); ++i)
        metrics[i] = {l.metrics[i].first, metrics[i].second + l.metrics[i].second / static_cast<double>(t.grad_accum)};
    }
    const double grad_norm = train::clip_gradients(trained, t.clip);
    FW_RETURN_IF_ERROR(train::check_divergence(loss_value, grad_norm, step, s.checkpoint));
    optimizer.step(lr);
    ++step;
    last_loss = loss_value;
    progress.advance();

    window_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count();
    if (step % t.log_every == 0 || step == t.steps) {
      const double pps = static_cast<double>(window_positions) / std::max(window_seconds, 1e-9);
      s.tokens_per_second = pps;
      s.mfu = pps * flops_per_position / std::max(s.sgemm_peak_flops, 1.0);
      json line = {{"step", step},           {"loss", loss_value},       {"lr", lr},
                   {"grad_norm", grad_norm}, {"tokens_per_second", pps}, {"mfu", s.mfu}};
      for (const auto& [name, value] : metrics) line[name] = value;
      FW_RETURN_IF_ERROR(run.append_metrics(line.dump()));
      spdlog::info("step {}/{} {} loss {:.4f} lr {:.2e} grad norm {:.3f}", step, t.steps, t.mode, loss_value, lr,
                   grad_norm);
      window_seconds = 0;
      window_positions = 0;
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const bool stop = signals.received() != 0 || (t.max_seconds > 0 && elapsed >= t.max_seconds) ||
                      (t.stop_at_step > 0 && step >= t.stop_at_step && step < t.steps);
    if ((t.save_every > 0 && step % t.save_every == 0) || step == t.steps || stop) {
      FW_RETURN_IF_ERROR(save(step, loss_value));
      saved_at_end = step == t.steps || stop;
    }
    if (stop) {
      s.interrupted = true;
      if (signals.received() != 0) {
        progress.finish();
        return Status(StatusCode::kCancelled, t.mode + " training interrupted at step " + std::to_string(step) +
                                                  "; resume with the same command (checkpoint " +
                                                  s.checkpoint.string() + ")");
      }
      break;
    }
  }
  if (!saved_at_end && step > s.start_step) FW_RETURN_IF_ERROR(save(step, last_loss));
  progress.finish();
  s.steps = step;
  s.last_loss = last_loss;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return summary;
}

}  // namespace flywheel
