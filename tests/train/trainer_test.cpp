// The trainer: a run stopped (gracefully, or killed after a checkpoint) and
// resumed follows exactly the loss curve of a run that never stopped; bad
// input gives clear errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "data/data.h"
#include "tokenizer/tokenizer.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "train/train.h"

namespace flywheel {
namespace {

namespace fs = std::filesystem;

class TrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("flywheel_trainer_" + std::to_string(::getpid()));
    fs::create_directories(root_);
    const fs::path src = fs::path(FLYWHEEL_SOURCE_DIR) / "src";
    BpeTrainerOptions topt;
    topt.vocab_size = 400;
    topt.show_progress = false;
    auto files = list_corpus_files({src / "tokenizer", src / "core"}, topt);
    ASSERT_TRUE(files.ok());
    auto tokenizer = train_bpe_tokenizer(*files, topt);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().to_string();
    ASSERT_TRUE(tokenizer->save(root_ / "tokenizer.json").ok());
    IngestOptions iopt;
    iopt.sources = {(src / "tokenizer").string(), (src / "core").string()};
    iopt.out = root_ / "dataset";
    iopt.tokenizer_path = root_ / "tokenizer.json";
    iopt.valid_fraction = 0.1;
    iopt.show_progress = false;
    auto stats = ingest_corpus(iopt, *tokenizer);
    ASSERT_TRUE(stats.ok()) << stats.status().to_string();
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static TrainOptions options(const std::string& out) {
    TrainOptions o;
    o.data = root_ / "dataset";
    o.tokenizer = root_ / "tokenizer.json";
    o.preset = "tiny";
    o.out = root_ / out;
    o.steps = 12;
    o.batch_size = 2;
    o.seq_len = 32;
    o.grad_accum = 2;
    o.warmup = 3;
    o.log_every = 1;
    o.eval_every = 6;
    o.eval_batches = 2;
    o.save_every = 4;
    o.keep = 10;
    o.threads = 1;
    o.seed = 7;
    return o;
  }

  // step -> loss from metrics.jsonl (training lines only).
  static std::map<int64_t, double> losses(const std::string& out) {
    std::map<int64_t, double> result;
    std::ifstream in(root_ / out / "metrics.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line);
      if (j.contains("loss")) result[j["step"].get<int64_t>()] = j["loss"].get<double>();
    }
    return result;
  }

  static fs::path root_;
};

fs::path TrainerTest::root_;

TEST_F(TrainerTest, StoppedAndResumedRunFollowsTheSameLossCurve) {
  auto straight = run_training(options("straight"));
  ASSERT_TRUE(straight.ok()) << straight.status().to_string();
  EXPECT_EQ(straight->steps, 12);
  EXPECT_TRUE(straight->valid_loss.has_value());

  // Stopped at step 7 (a checkpoint is written there), then resumed.
  TrainOptions stopped = options("stopped");
  stopped.stop_at_step = 7;
  auto first = run_training(stopped);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_TRUE(first->interrupted);
  EXPECT_EQ(first->steps, 7);
  auto second = run_training(options("stopped"));
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ(second->start_step, 7);
  EXPECT_EQ(losses("stopped"), losses("straight"));  // bit-identical on one rank

  // Killed after step 7 with the last checkpoint at step 4: resuming from it
  // redoes steps 5..12 identically.
  TrainOptions killed = options("killed");
  killed.stop_at_step = 7;
  ASSERT_TRUE(run_training(killed).ok());
  fs::remove_all(root_ / "killed" / "checkpoints" / "step-00000007");
  ASSERT_TRUE(write_file_atomically(root_ / "killed" / "latest", "step-00000004\n").ok());
  auto resumed = run_training(options("killed"));
  ASSERT_TRUE(resumed.ok()) << resumed.status().to_string();
  EXPECT_EQ(resumed->start_step, 4);
  EXPECT_EQ(losses("killed"), losses("straight"));
}

TEST_F(TrainerTest, CheckpointsAreCompleteAndPruned) {
  TrainOptions o = options("pruned");
  o.steps = 8;
  o.save_every = 2;
  o.keep = 2;
  ASSERT_TRUE(run_training(o).ok());
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(root_ / "pruned" / "checkpoints")) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"step-00000006", "step-00000008"}));
  const fs::path last = root_ / "pruned" / "checkpoints" / "step-00000008";
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "flywheel.json",
                        "optimizer.safetensors", "trainer_state.json"})
    EXPECT_TRUE(fs::exists(last / f)) << f;
  EXPECT_EQ(*read_file(root_ / "pruned" / "latest"), "step-00000008\n");
  auto lineage = nlohmann::json::parse(*read_file(last / "flywheel.json"));
  EXPECT_EQ(lineage["step"], 8);
  EXPECT_EQ(lineage["recipe"]["preset"], "tiny");
}

TEST_F(TrainerTest, BadInputGivesClearErrors) {
  TrainOptions o = options("bad");
  o.data = root_ / "no-such-dataset";
  auto r = run_training(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no-such-dataset"), std::string::npos) << r.status().to_string();

  o = options("bad");
  o.mode = "continue";
  r = run_training(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--init"), std::string::npos);

  // A tokenizer that does not match the shards.
  BpeTrainerOptions topt;
  topt.vocab_size = 300;
  topt.show_progress = false;
  auto files = list_corpus_files({fs::path(FLYWHEEL_SOURCE_DIR) / "src" / "cli"}, topt);
  ASSERT_TRUE(files.ok());
  auto other = train_bpe_tokenizer(*files, topt);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(other->save(root_ / "other.json").ok());
  o = options("bad");
  o.tokenizer = root_ / "other.json";
  r = run_training(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tokenizer"), std::string::npos) << r.status().to_string();

  // An unwritable run directory.
  o = options("bad");
  o.out = "/proc/flywheel-cannot-write-here";
  r = run_training(o);
  ASSERT_FALSE(r.ok());
}

}  // namespace
}  // namespace flywheel

namespace flywheel {
namespace {

// Max |a - b| over every F32 tensor of two model.safetensors.
float max_weight_difference(const fs::path& a, const fs::path& b) {
  auto fa = SafetensorsFile::open(a), fb = SafetensorsFile::open(b);
  EXPECT_TRUE(fa.ok() && fb.ok());
  float worst = 0;
  for (const auto& [name, view] : fa->tensors()) {
    const TensorView* other = fb->find(name);
    EXPECT_NE(other, nullptr) << name;
    if (other == nullptr) continue;
    const auto* x = reinterpret_cast<const float*>(view.data.data());
    const auto* y = reinterpret_cast<const float*>(other->data.data());
    for (int64_t i = 0; i < view.numel(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  }
  return worst;
}

// A full disk while a checkpoint is written (RLIMIT_FSIZE makes write()
// fail with EFBIG, as ENOSPC would): the run fails with a clear error, and
// `latest` still names the previous, complete checkpoint, which loads.
TEST_F(TrainerTest, AFullDiskNeverLeavesAPartialCheckpointAsLatest) {
  const std::string flywheel = std::string(FLYWHEEL_BINARY_DIR) + "/flywheel";
  const fs::path out = root_ / "full_disk";
  auto command = [&](int steps, const std::string& limit) {
    return "bash -c '" + limit + "trap \"\" XFSZ; exec " + flywheel + " train --data " + (root_ / "dataset").string() +
           " --tokenizer " + (root_ / "tokenizer.json").string() +
           " --preset tiny --seq-len 32 --batch-size 2 --warmup 1 --eval-every 0 --eval-batches 1 --threads 1" +
           " --save-every 2 --seed 5 --steps " + std::to_string(steps) + " --out " + out.string() + "' >" +
           (root_ / "full_disk.log").string() + " 2>&1";
  };
  ASSERT_EQ(std::system(command(2, "").c_str()), 0);
  ASSERT_TRUE(fs::exists(out / "checkpoints" / "step-00000002" / "model.safetensors"));
  const auto model_bytes = fs::file_size(out / "checkpoints" / "step-00000002" / "model.safetensors");
  // Resume with room for the logs but not for another model file (ulimit -f counts 512-byte blocks).
  const std::string limit = "ulimit -f " + std::to_string(model_bytes / 512 / 2) + "; ";
  auto log_text = [&] {
    auto text = read_file(root_ / "full_disk.log");
    return text.ok() ? *text : std::string();
  };
  EXPECT_NE(std::system(command(6, limit).c_str()), 0);
  const std::string log = log_text();
  EXPECT_TRUE(log.find("File too large") != std::string::npos || log.find("No space") != std::string::npos) << log;
  auto latest = read_file(out / "latest");
  ASSERT_TRUE(latest.ok());
  EXPECT_NE(latest->find("step-00000002"), std::string::npos) << *latest;
  for (const auto& entry : fs::directory_iterator(out / "checkpoints"))
    EXPECT_EQ(entry.path().filename().string().rfind("step-", 0), 0u) << "left behind: " << entry.path();
  auto model = Model::load(out / "checkpoints" / "step-00000002");
  EXPECT_TRUE(model.ok()) << model.status().to_string();
  // With room again, the run resumes from that checkpoint and finishes.
  EXPECT_EQ(std::system(command(6, "").c_str()), 0) << log_text();
  EXPECT_TRUE(fs::exists(out / "checkpoints" / "step-00000006" / "model.safetensors"));
}

TEST_F(TrainerTest, TwoRanksMatchOneRankWithTheGlobalBatch) {
  const std::string flywheel = std::string(FLYWHEEL_BINARY_DIR) + "/flywheel";
  auto command = [&](const std::string& out, int nproc, int batch) {
    return flywheel + " train --data '" + (root_ / "dataset").string() + "' --tokenizer '" +
           (root_ / "tokenizer.json").string() + "' --preset tiny --steps 5 --seq-len 32 --warmup 2 --eval-every 0" +
           " --eval-batches 1 --save-every 0 --threads 1 --seed 3 --batch-size " + std::to_string(batch) +
           " --nproc " + std::to_string(nproc) + " --out '" + (root_ / out).string() + "' >/dev/null 2>&1";
  };
  ASSERT_EQ(std::system(command("one_rank", 1, 4).c_str()), 0);
  ASSERT_EQ(std::system(command("two_ranks", 2, 2).c_str()), 0);
  const fs::path a = root_ / "one_rank" / "checkpoints" / "step-00000005" / "model.safetensors";
  const fs::path b = root_ / "two_ranks" / "checkpoints" / "step-00000005" / "model.safetensors";
  ASSERT_TRUE(fs::exists(a) && fs::exists(b));
  // AdamW magnifies float summation-order differences (~1e-6); the bound is 1e-5.
  EXPECT_LT(max_weight_difference(a, b), 1e-5f);
}

}  // namespace
}  // namespace flywheel
