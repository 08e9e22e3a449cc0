// SFT rows from {"prompt", "completion"} JSONL (loader.h).
#include <algorithm>
#include <limits>

#include "core/atomic_file.h"
#include "core/hash.h"
#include "core/jsonl.h"
#include "data/loader_internal.h"
#include "data/prompt_completion.h"

namespace flywheel::data {
namespace {

struct Example {
  std::string prompt, completion;
};

class SftLoader final : public DataLoader::Impl {
 public:
  Status open(const LoaderOptions& options, const Tokenizer& tokenizer);
  Result<std::optional<TokenBatch>> next() override;
  nlohmann::json state() const override;
  Status restore(const nlohmann::json& state) override;
  int64_t epoch() const override { return static_cast<int64_t>(batches_ * rows_total_ / examples_.size()); }
  std::optional<int64_t> total_batches() const override { return total_; }

 private:
  void fill_row(const Example& example, TokenBatch& batch);
  nlohmann::json identity() const;

  LoaderTokens tok_;
  std::vector<Example> examples_;
  uint64_t file_hash_ = 0;
  uint64_t rows_total_ = 0, seq_len_ = 0;
  std::optional<OrderCache> orders_;
  std::optional<int64_t> total_;
};

Status SftLoader::open(const LoaderOptions& options, const Tokenizer& tokenizer) {
  options_ = options;
  FW_ASSIGN_OR_RETURN(tok_, make_loader_tokens(tokenizer));
  FW_ASSIGN_OR_RETURN(std::string text, read_file(options.sft_jsonl));
  const std::string where = "SFT file '" + options.sft_jsonl.string() + "'";
  FW_RETURN_IF_ERROR(for_each_jsonl_object(
      text, where, "{\"prompt\": string, \"completion\": string}", [&](const nlohmann::json& value) {
        auto prompt = value.find("prompt"), completion = value.find("completion");
        if (prompt == value.end() || !prompt->is_string() || completion == value.end() || !completion->is_string())
          return false;
        Example e{prompt->get<std::string>(), completion->get<std::string>()};
        // The split by hash of the example, as ingestion splits files.
        const Sha256Digest h = sha256(e.prompt + '\0' + e.completion);
        uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v = (v << 8) | h[static_cast<size_t>(i)];
        const bool valid = static_cast<long double>(v) <
                           static_cast<long double>(options.sft_valid_fraction) * 18446744073709551616.0L;
        if (valid == (options.split == "valid")) examples_.push_back(std::move(e));
        return true;
      }));
  file_hash_ = xxh3_64(text);
  if (examples_.empty())
    return Status::invalid_argument(where + " has no examples in the '" + options.split + "' split" +
                                    (options.split == "valid" ? " (set sft_valid_fraction above 0)" : ""));
  if (examples_.size() > std::numeric_limits<uint32_t>::max())
    return Status::unsupported(where + " has more than 2^32 examples");
  rows_total_ = static_cast<uint64_t>(options.batch_size) * static_cast<uint64_t>(options.world_size);
  seq_len_ = static_cast<uint64_t>(options.seq_len);
  orders_.emplace(static_cast<uint32_t>(examples_.size()), options.seed);
  if (!options.loop) total_ = static_cast<int64_t>((examples_.size() + rows_total_ - 1) / rows_total_);
  return Status::OK();
}

void SftLoader::fill_row(const Example& example, TokenBatch& batch) {
  const size_t width = seq_len_ + 1;
  const PromptCompletionTokens tokens =
      encode_prompt_completion(*tok_.tokenizer, example.prompt, example.completion, tok_.eot, width);
  const std::vector<TokenId>& prompt = tokens.prompt;
  std::vector<TokenId> row = prompt;
  row.insert(row.end(), tokens.completion.begin(), tokens.completion.end());
  const size_t real = row.size();
  row.resize(width, tok_.pad);
  batch.tokens.insert(batch.tokens.end(), row.begin(), row.end());
  for (size_t t = 1; t < width; ++t) {
    const uint8_t counts = t >= prompt.size() && t < real ? 1 : 0;
    batch.loss_mask.push_back(counts);
    if (counts) batch.target_bytes += static_cast<int64_t>(tok_.bytes->length(row[t]));
  }
}

Result<std::optional<TokenBatch>> SftLoader::next() {
  if (total_ && static_cast<int64_t>(batches_) >= *total_) return std::optional<TokenBatch>();
  TokenBatch batch;
  batch.batch_size = options_.batch_size;
  batch.seq_len = options_.seq_len;
  const uint64_t n = examples_.size();
  for (int64_t i = 0; i < options_.batch_size; ++i) {
    const uint64_t g = batches_ * rows_total_ +
                       static_cast<uint64_t>(options_.rank) * static_cast<uint64_t>(options_.batch_size) +
                       static_cast<uint64_t>(i);
    if (!options_.loop && g >= n) {
      batch.tokens.insert(batch.tokens.end(), seq_len_ + 1, tok_.pad);
      batch.loss_mask.insert(batch.loss_mask.end(), seq_len_, 0);
      continue;
    }
    fill_row(examples_[orders_->order(g / n)[g % n]], batch);
  }
  ++batches_;
  orders_->drop_before(batches_ * rows_total_ / n);
  return std::optional<TokenBatch>(std::move(batch));
}

nlohmann::json SftLoader::identity() const {
  return {{"split", options_.split},     {"seed", options_.seed},        {"seq_len", options_.seq_len},
          {"global_batch", rows_total_}, {"examples", examples_.size()}, {"file_hash", file_hash_}};
}

nlohmann::json SftLoader::state() const {
  nlohmann::json s = identity();
  s["format"] = kLoaderStateFormat;
  s["version"] = kLoaderStateVersion;
  s["mode"] = "sft";
  s["batches"] = batches_;
  s["epoch"] = epoch();
  return s;
}

Status SftLoader::restore(const nlohmann::json& state) {
  FW_RETURN_IF_ERROR(check_state(state, "sft", identity()));
  if (!state.contains("batches") || !state["batches"].is_number_unsigned())
    return Status::invalid_argument("the data loader state has no valid \"batches\"");
  batches_ = state["batches"].get<uint64_t>();
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<DataLoader::Impl>> open_sft_loader(const LoaderOptions& options, const Tokenizer& tokenizer) {
  auto loader = std::make_unique<SftLoader>();
  FW_RETURN_IF_ERROR(loader->open(options, tokenizer));
  return std::unique_ptr<DataLoader::Impl>(std::move(loader));
}

}  // namespace flywheel::data
