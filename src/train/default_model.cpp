#include "train/default_model.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "data/data.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace flywheel {

namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Seconds per optimizer step of the default shape on this machine, measured
// by the trainer itself on a few steps of the real data (a throwaway run), so
// that the schedule can end (cosine to its floor) inside the time budget
// instead of being cut off. A bare forward/backward loop measured about half
// the real step time here: the real step also pays for fresh gradient
// buffers, clipping, AdamW and the data loader.
Result<double> measure_step_seconds(const TrainOptions& t, const fs::path& dir) {
  TrainOptions probe = t;
  probe.out = dir;
  probe.steps = 12;
  probe.warmup = 1;
  probe.log_every = 6;  // the summary's rate is the last window's: steps 7-12, warmed up
  probe.eval_every = 0;
  probe.eval_batches = 1;
  probe.save_every = 0;
  probe.max_seconds = 0;
  probe.resume = false;
  FW_ASSIGN_OR_RETURN(TrainSummary s, run_training(probe));
  std::error_code ec;
  fs::remove_all(dir, ec);
  const double tokens_per_step = static_cast<double>(t.batch_size * t.seq_len * t.grad_accum);
  return tokens_per_step / std::max(s.tokens_per_second, 1.0) * 1.03;  // validation and checkpoints on top
}

}  // namespace

Result<DefaultModelSummary> build_default_model(const DefaultModelOptions& o) {
  DefaultModelSummary summary;
  summary.model = o.dir / "model";
  std::error_code ec;
  if (fs::exists(summary.model / "model.safetensors", ec)) {
    summary.reused = true;
    return summary;
  }
  fs::create_directories(o.dir, ec);
  if (ec) return Status::io_error("cannot create " + o.dir.string() + ": " + ec.message());
  // Not the project's own source: replaying flywheel's history must judge the
  // model on code it has never seen (the tokenizer command's default corpus
  // still includes it).
  const std::vector<fs::path> corpus = default_corpus_paths();
  if (corpus.empty()) return Status::not_found("no embedded corpus on this machine (no Python stdlib, no headers)");

  // 1. Tokenizer: 8k byte-level BPE on up to 50 MB of the corpus.
  const fs::path tokenizer_path = o.dir / "tokenizer.json";
  if (!fs::exists(tokenizer_path, ec)) {
    auto start = std::chrono::steady_clock::now();
    BpeTrainerOptions topt;
    topt.vocab_size = 8192;
    topt.max_corpus_bytes = 50'000'000;
    topt.threads = o.threads;
    FW_ASSIGN_OR_RETURN(auto files, list_corpus_files(corpus, topt));
    spdlog::info("default model: training the tokenizer on {} files", files.size());
    FW_ASSIGN_OR_RETURN(Tokenizer trained, train_bpe_tokenizer(files, topt));
    FW_RETURN_IF_ERROR(trained.save(tokenizer_path));
    summary.tokenizer_seconds = seconds_since(start);
  }
  FW_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::from_file(tokenizer_path));

  // 2. Dataset: the corpus in token shards (an interrupted ingest resumes).
  auto start = std::chrono::steady_clock::now();
  IngestOptions iopt;
  for (const fs::path& p : corpus) iopt.sources.push_back("dir:" + p.string());
  iopt.out = o.dir / "dataset";
  iopt.tokenizer_path = tokenizer_path;
  iopt.valid_fraction = 0.01;
  iopt.threads = o.threads;
  spdlog::info("default model: ingesting the embedded corpus");
  FW_ASSIGN_OR_RETURN(IngestStats stats, ingest_corpus(iopt, tokenizer));
  summary.ingest_seconds = seconds_since(start);
  spdlog::info("default model: {} documents, {} train tokens", stats.documents, stats.train_tokens);

  // 3. Pretraining with FIM within the budget (resumes from run/latest).
  TrainOptions t;
  t.mode = "pretrain";
  t.data = iopt.out;
  t.tokenizer = tokenizer_path;
  t.preset = "default";
  t.arch = "llama";
  t.out = o.dir / "run";
  t.steps = o.max_steps;
  t.batch_size = 8;
  t.seq_len = 256;
  t.lr = 2e-3;
  t.min_lr = 2e-4;
  t.warmup = 100;
  t.eval_every = 500;
  t.eval_batches = 20;
  t.save_every = 250;
  t.keep = 2;
  t.threads = o.threads;
  t.seed = o.seed;
  t.max_seconds = o.max_seconds;
  if (!fs::exists(t.out / "latest", ec)) {
    FW_ASSIGN_OR_RETURN(double step_seconds, measure_step_seconds(t, o.dir / "step-probe"));
    t.steps = std::clamp<int64_t>(static_cast<int64_t>(o.max_seconds * 0.9 / step_seconds), 50, o.max_steps);
    t.warmup = std::min<int64_t>(100, t.steps / 10);
    spdlog::info("default model: {:.2f} s per step here: {} steps fit in {:.0f} s", step_seconds, t.steps,
                 o.max_seconds);
    FW_RETURN_IF_ERROR(write_file_atomically(o.dir / "steps.txt", std::to_string(t.steps) + "\n"));
  } else {
    // A resumed build keeps the schedule it started with.
    FW_ASSIGN_OR_RETURN(std::string steps_text, read_file(o.dir / "steps.txt"));
    t.steps = std::stoll(steps_text);
    t.warmup = std::min<int64_t>(100, t.steps / 10);
  }
  t.lineage_json = R"({"created_by": "flywheel train --preset default"})";
  FW_ASSIGN_OR_RETURN(summary.train, run_training(t));

  // 4. The servable model: the final checkpoint without trainer state.
  FW_ASSIGN_OR_RETURN(Model model, Model::load(summary.train.checkpoint));
  nlohmann::json lineage = {{"parent", summary.train.checkpoint.string()},
                            {"created_by", "flywheel train --preset default"},
                            {"steps", summary.train.steps}};
  if (summary.train.valid_loss) lineage["valid_loss"] = *summary.train.valid_loss;
  if (summary.train.valid_bits_per_byte) lineage["valid_bits_per_byte"] = *summary.train.valid_bits_per_byte;
  FW_RETURN_IF_ERROR(model.save(summary.model, lineage.dump(2) + "\n"));
  return summary;
}

}  // namespace flywheel
