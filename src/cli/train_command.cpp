// `flywheel train`: pretraining, continued pretraining and SFT (train.h).
// Options come from flags or the [train] section of --config recipe.toml.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/json_output.h"
#include "learn/learn.h"
#include "train/default_model.h"
#include "train/local_launcher.h"
#include "train/train.h"

namespace flywheel::cli {
namespace {

// `--nproc N`: runs this same command line (without --nproc) as N local
// ranks on 127.0.0.1, as torchrun would.
Status run_local(int nproc) {
  FW_ASSIGN_OR_RETURN(std::string exe, train::current_executable());
  std::vector<std::string> argv = {exe};
  const auto& original = original_arguments();
  for (size_t i = 1; i < original.size(); ++i) {
    if (original[i] == "--nproc") {
      ++i;
      continue;
    }
    if (original[i].rfind("--nproc=", 0) == 0) continue;
    argv.push_back(original[i]);
  }
  train::LocalLaunchOptions options;
  options.nproc = nproc;
  return train::run_local_ranks(argv, options);
}

// `--preset default` with no --data: the whole embedded default (tokenizer,
// dataset, model) under --out (default flywheel-default), reused when built.
Status run_default_model(const TrainOptions& o, bool out_given, const GlobalOptions& global) {
  DefaultModelOptions d;
  d.dir = out_given ? o.out : std::filesystem::path("flywheel-default");
  d.threads = o.threads;
  d.seed = o.seed;
  if (o.max_seconds > 0) d.max_seconds = o.max_seconds;
  FW_ASSIGN_OR_RETURN(DefaultModelSummary s, build_default_model(d));
  nlohmann::json out = {{"model", s.model.string()}, {"reused", s.reused}};
  if (!s.reused) {
    out["steps"] = s.train.steps;
    out["seconds"] = s.train.seconds;
    out["tokenizer_seconds"] = s.tokenizer_seconds;
    out["ingest_seconds"] = s.ingest_seconds;
    out["loss"] = s.train.last_loss;
    out["valid_loss"] = s.train.valid_loss ? nlohmann::json(*s.train.valid_loss) : nlohmann::json(nullptr);
    out["valid_bits_per_byte"] =
        s.train.valid_bits_per_byte ? nlohmann::json(*s.train.valid_bits_per_byte) : nlohmann::json(nullptr);
    out["tokens_per_second"] = s.train.tokens_per_second;
    out["parameters"] = s.train.parameters;
  }
  if (global.json) {
    print_json_line(out);
  } else if (s.reused) {
    print_text(fmt::format("the default model is already built: {}\n", s.model.string()));
  } else {
    print_text(fmt::format(
        "built the default model {} ({:.2f}M parameters)\n  tokenizer {:.1f} s, dataset {:.1f} s, training {} steps "
        "in {:.1f} s ({:.0f} tokens/s)\n  loss {:.4f}{}\n",
        s.model.string(), static_cast<double>(s.train.parameters) / 1e6, s.tokenizer_seconds, s.ingest_seconds,
        s.train.steps, s.train.seconds, s.train.tokens_per_second, s.train.last_loss,
        s.train.valid_loss ? fmt::format(", validation loss {:.4f} ({:.3f} bits per byte)", *s.train.valid_loss,
                                         s.train.valid_bits_per_byte.value_or(0))
                           : std::string()));
  }
  return Status::OK();
}

Status run_train_command(const TrainOptions& o, const LearnOptions& learn_flags, const GlobalOptions& global) {
  TrainSummary s;
  std::optional<LearnSummary> learned;
  if (is_learn_mode(o.mode)) {  // dpo | kto | pg | distill | show: the learn module (learn/learn.h)
    LearnOptions l = learn_flags;
    l.train = o;
    FW_ASSIGN_OR_RETURN(learned, run_learning(l));
    s = learned->train;
  } else {
    FW_ASSIGN_OR_RETURN(s, run_training(o));
  }
  if (!s.main_rank) return Status::OK();  // rank 0 reports for the run
  nlohmann::json out = {
      {"out", o.out.string()},
      {"checkpoint", s.checkpoint.string()},
      {"start_step", s.start_step},
      {"steps", s.steps},
      {"loss", s.last_loss},
      {"valid_loss", s.valid_loss ? nlohmann::json(*s.valid_loss) : nlohmann::json(nullptr)},
      {"valid_bits_per_byte", s.valid_bits_per_byte ? nlohmann::json(*s.valid_bits_per_byte) : nlohmann::json(nullptr)},
      {"seconds", s.seconds},
      {"tokens_per_second", s.tokens_per_second},
      {"mfu", s.mfu},
      {"sgemm_peak_gflops", s.sgemm_peak_flops / 1e9},
      {"parameters", s.parameters},
      {"interrupted", s.interrupted}};
  if (learned)
    out.update({{"rows", learned->rows},
                {"teacher_requests", learned->teacher_requests},
                {"teacher_failures", learned->teacher_failures}});
  if (global.json) {
    print_json_line(out);
    return Status::OK();
  }
  print_text(fmt::format(
      "trained to step {} in {:.1f} s: loss {:.4f}{}\n  {:.2f}M parameters, {:.0f} tokens/s, MFU {:.1f}% of {:.1f} "
      "GFLOP/s sgemm\n  checkpoint {}\n",
      s.steps, s.seconds, s.last_loss,
      s.valid_loss ? fmt::format(", validation loss {:.4f} ({:.3f} bits per byte)", *s.valid_loss,
                                 s.valid_bits_per_byte.value_or(0))
                   : std::string(),
      static_cast<double>(s.parameters) / 1e6, s.tokens_per_second, 100 * s.mfu, s.sgemm_peak_flops / 1e9,
      s.checkpoint.string()));
  if (learned && learned->teacher_requests > 0)
    print_text(fmt::format("  teacher: {} of {} prompts failed and were skipped\n", learned->teacher_failures,
                           learned->teacher_requests));
  return Status::OK();
}

}  // namespace

void add_train_command(CLI::App& app, const GlobalOptions& global, CommandAction* action) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* cmd = app.add_subcommand("train", "Pretrain, continue pretraining or fine-tune (SFT) a model");
  cmd->add_option("--mode", o->mode, "pretrain | continue | sft | dpo | kto | pg | distill | show")
      ->capture_default_str();
  cmd->add_option("--data", o->data,
                  "Dataset directory from 'flywheel data ingest'; dpo|kto|pg|distill|show: the JSONL file, or "
                  "the directory holding preferences|unpaired|rewards|prompts.jsonl")
      ->type_name("PATH");
  cmd->add_option("--sft-data", o->sft_data, "SFT: JSONL of {\"prompt\", \"completion\"}")->type_name("FILE");
  cmd->add_option("--init", o->init, "Checkpoint to start from (continue, sft)")->type_name("DIR");
  cmd->add_option("--tokenizer", o->tokenizer, "pretrain: tokenizer.json (default: the dataset's)")->type_name("FILE");
  cmd->add_option("--arch", o->arch, "pretrain: llama | qwen2 | mistral")->capture_default_str();
  cmd->add_option("--preset", o->preset, "pretrain: model shape (tiny, default, small, base, qwen2.5-coder-0.5b)")
      ->capture_default_str();
  const CLI::Option* out_option =
      cmd->add_option("--out", o->out, "Run directory (checkpoints, metrics.jsonl)")->capture_default_str();
  cmd->add_option("--steps", o->steps, "Optimizer steps")->capture_default_str()->check(positive_integer());
  cmd->add_option("--batch-size", o->batch_size, "Sequences per micro-batch (per rank)")
      ->capture_default_str()
      ->check(positive_integer());
  cmd->add_option("--seq-len", o->seq_len, "Tokens per sequence")->capture_default_str()->check(positive_integer());
  cmd->add_option("--grad-accum", o->grad_accum, "Micro-batches per step")
      ->capture_default_str()
      ->check(positive_integer());
  cmd->add_option("--lr", o->lr, "Peak learning rate")->capture_default_str();
  cmd->add_option("--min-lr", o->min_lr, "Final learning rate")->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "Warmup steps")->capture_default_str();
  cmd->add_option("--schedule", o->schedule, "cosine | linear | constant")->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "Decoupled weight decay (not on norms, biases, embeddings)")
      ->capture_default_str();
  cmd->add_option("--beta1", o->beta1)->capture_default_str();
  cmd->add_option("--beta2", o->beta2)->capture_default_str();
  cmd->add_option("--eps", o->eps)->capture_default_str();
  cmd->add_option("--clip", o->clip, "Clip gradients to this global norm (0: off)")->capture_default_str();
  cmd->add_option("--log-every", o->log_every, "Steps between metrics lines")
      ->capture_default_str()
      ->check(positive_integer());
  cmd->add_option("--eval-every", o->eval_every, "Steps between validations (0: only at the end)")
      ->capture_default_str();
  cmd->add_option("--eval-batches", o->eval_batches, "Validation batches")->capture_default_str();
  cmd->add_option("--save-every", o->save_every, "Steps between checkpoints (0: only at the end)")
      ->capture_default_str();
  cmd->add_option("--keep", o->keep, "Checkpoints to keep")->capture_default_str()->check(positive_integer());
  cmd->add_option("--seed", o->seed, "Seed for initialization and data order")->capture_default_str();
  cmd->add_option("--fim-rate", o->fim_rate, "Share of documents turned into fill-in-the-middle")
      ->capture_default_str();
  cmd->add_option("--fim-spm-rate", o->fim_spm_rate, "Share of FIM documents in SPM order")->capture_default_str();
  cmd->add_flag("--repo-level", o->repo_level, "Pack a repository's files together (<|repo_name|>, <|file_sep|>)");
  cmd->add_option("--chunk-tokens", o->chunk_tokens,
                  "Cut documents into chunks of this many tokens, shuffled (-1: --seq-len; 0: whole documents)")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "Threads (default: all cores)")->check(non_negative_integer());
  cmd->add_flag("!--no-resume", o->resume, "Start over even if the run directory has a checkpoint");
  cmd->add_option("--max-seconds", o->max_seconds, "Stop (with a checkpoint) after this much time")
      ->capture_default_str();
  cmd->add_option("--stop-at-step", o->stop_at_step, "Stop (with a checkpoint) at this step; run again to resume");
  cmd->footer(global_options_footer() +
              "\nA run resumes from <out>/latest when it exists; SIGINT/SIGTERM save a checkpoint and exit.\n"
              "'--preset default' without --data builds the embedded default model under --out (default "
              "flywheel-default):\ntokenizer, dataset and about 7 minutes of training on the embedded corpus.");
  // Learning from feedback (learn/learn.h has the objectives' math).
  auto learn = std::make_shared<LearnOptions>();
  cmd->add_option("--reference", learn->reference, "dpo|kto|pg: frozen reference model (default: --init)")
      ->type_name("DIR");
  cmd->add_option("--beta", learn->beta, "dpo|kto: strength of the reference anchor")->capture_default_str();
  cmd->add_option("--label-smoothing", learn->label_smoothing, "dpo: assumed share of flipped pairs (0 to 0.5)")
      ->capture_default_str();
  cmd->add_option("--lambda-d", learn->lambda_d, "kto: weight of desirable (accepted) rows")->capture_default_str();
  cmd->add_option("--lambda-u", learn->lambda_u, "kto: weight of undesirable (rejected) rows")->capture_default_str();
  cmd->add_option("--kl-coef", learn->kl_coef, "pg: weight of the k3 KL penalty to the reference")
      ->capture_default_str();
  cmd->add_option("--teacher", learn->teacher, "distill: teacher checkpoint directory or OpenAI-compatible URL")
      ->type_name("DIR_OR_URL");
  cmd->add_option("--distill", learn->distill,
                  "distill: logit | sequence (default: logit for a directory, "
                  "sequence for a URL)");
  cmd->add_option("--temperature", learn->temperature, "distill (logit): softening temperature T (loss x T^2)")
      ->capture_default_str();
  cmd->add_option("--teacher-model", learn->teacher_model, "distill: the \"model\" of requests to a URL teacher");
  cmd->add_option("--teacher-max-tokens", learn->teacher_max_tokens, "distill: tokens per teacher completion")
      ->capture_default_str();
  cmd->add_option("--teacher-temperature", learn->teacher_temperature, "distill: teacher sampling temperature")
      ->capture_default_str();
  cmd->add_option("--teacher-timeout", learn->teacher_timeout, "distill: seconds per URL teacher request")
      ->capture_default_str();
  auto nproc = std::make_shared<int>(1);
  cmd->add_option("--nproc", *nproc, "Launch this many local data-parallel ranks (Gloo over 127.0.0.1)")
      ->check(positive_integer());
  cmd->callback([o, learn, out_option, nproc, &global, action] {
    const bool default_model = o->preset == "default" && o->data.empty() && o->mode == "pretrain";
    const bool out_given = out_option->count() > 0;
    const int ranks = *nproc;
    *action = [o, learn, default_model, out_given, ranks, &global] {
      if (ranks > 1 && is_learn_mode(o->mode))
        return Status::invalid_argument("--mode " + o->mode + " runs in one process (no --nproc)");
      if (ranks > 1) return run_local(ranks);
      return default_model ? run_default_model(*o, out_given, global) : run_train_command(*o, *learn, global);
    };
  });
}

}  // namespace flywheel::cli
