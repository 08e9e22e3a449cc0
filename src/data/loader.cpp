#include "data/loader.h"

#include <type_traits>

#include "data/loader_internal.h"

namespace flywheel {
namespace data {

namespace {

// A copy of the tokenizer: cheap where Tokenizer is copyable (its pipeline is
// shared and immutable), else a reload from its own JSON.
template <typename T>
Result<std::unique_ptr<T>> copy_tokenizer(const T& tokenizer) {
  if constexpr (std::is_copy_constructible_v<T>) {
    return std::make_unique<T>(tokenizer);
  } else {
    FW_ASSIGN_OR_RETURN(T copy, T::from_json(tokenizer.to_json()));
    return std::make_unique<T>(std::move(copy));
  }
}

}  // namespace

Result<LoaderTokens> make_loader_tokens(const Tokenizer& tokenizer) {
  LoaderTokens t;
  FW_ASSIGN_OR_RETURN(t.tokenizer, copy_tokenizer(tokenizer));
  auto eot = t.tokenizer->token_to_id("<|endoftext|>");
  if (!eot)
    return Status::invalid_argument(
        "the data loader needs the <|endoftext|> token between documents, which this tokenizer does not have; "
        "train one with `flywheel tokenizer train` (it reserves it)");
  t.eot = *eot;
  t.pad = t.tokenizer->token_to_id("<|fim_pad|>").value_or(*eot);
  t.bytes = std::make_unique<TokenBytes>(*t.tokenizer);
  t.encoder = std::make_unique<PlainTextEncoder>(*t.tokenizer);
  return t;
}

const std::vector<uint32_t>& OrderCache::order(uint64_t epoch) {
  auto it = orders_.find(epoch);
  if (it == orders_.end())
    it = orders_.emplace(epoch, shuffled_indices(count_, stream_seed({seed_, kOrderStream, epoch}))).first;
  return it->second;
}

void OrderCache::drop_before(uint64_t epoch) {
  while (!orders_.empty() && orders_.begin()->first < epoch) orders_.erase(orders_.begin());
}

Status check_state(const nlohmann::json& state, std::string_view mode, const nlohmann::json& fields) {
  if (!state.is_object() || state.value("format", "") != kLoaderStateFormat)
    return Status::invalid_argument("not a data loader state (expected an object with \"format\": \"" +
                                    std::string(kLoaderStateFormat) + "\")");
  if (state.value("version", 0) != kLoaderStateVersion)
    return Status::unsupported("data loader state version " + state.value("version", nlohmann::json()).dump() +
                               " is not supported (expected " + std::to_string(kLoaderStateVersion) + ")");
  if (state.value("mode", "") != mode)
    return Status::invalid_argument("the data loader state is for " + state.value("mode", std::string("?")) +
                                    " data, this loader reads " + std::string(mode) + " data");
  for (const auto& [key, value] : fields.items()) {
    if (!state.contains(key) || state[key] != value)
      return Status::invalid_argument("the data loader state was taken with " + key + " = " +
                                      (state.contains(key) ? state[key].dump() : std::string("(none)")) +
                                      ", this loader has " + value.dump() +
                                      "; resume with the same data options (seq_len, batch_size * world_size, seed, "
                                      "split, dataset)");
  }
  return Status::OK();
}

}  // namespace data

namespace {

Status validate(const LoaderOptions& o) {
  if (o.seq_len < 1) return Status::invalid_argument("seq_len must be at least 1, got " + std::to_string(o.seq_len));
  if (o.batch_size < 1)
    return Status::invalid_argument("batch_size must be at least 1, got " + std::to_string(o.batch_size));
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size)
    return Status::invalid_argument("rank " + std::to_string(o.rank) + " is not in a world of size " +
                                    std::to_string(o.world_size));
  if (o.split != "train" && o.split != "valid")
    return Status::invalid_argument("split must be \"train\" or \"valid\", got \"" + o.split + "\"");
  if (!(o.fim_rate >= 0 && o.fim_rate <= 1) || !(o.fim_spm_rate >= 0 && o.fim_spm_rate <= 1))
    return Status::invalid_argument("fim_rate and fim_spm_rate must be in [0, 1]");
  if (!(o.sft_valid_fraction >= 0 && o.sft_valid_fraction < 1))
    return Status::invalid_argument("sft_valid_fraction must be in [0, 1)");
  if (o.sft_jsonl.empty() && o.dataset.empty())
    return Status::invalid_argument("the data loader needs a dataset folder (or an SFT JSONL file)");
  return Status::OK();
}

}  // namespace

Result<DataLoader> DataLoader::open(const LoaderOptions& options, const Tokenizer& tokenizer) {
  FW_RETURN_IF_ERROR(validate(options));
  std::unique_ptr<Impl> impl;
  if (!options.sft_jsonl.empty()) {
    FW_ASSIGN_OR_RETURN(impl, data::open_sft_loader(options, tokenizer));
  } else {
    FW_ASSIGN_OR_RETURN(impl, data::open_pretrain_loader(options, tokenizer));
  }
  return DataLoader(std::move(impl));
}

DataLoader::DataLoader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DataLoader::DataLoader(DataLoader&&) noexcept = default;
DataLoader& DataLoader::operator=(DataLoader&&) noexcept = default;
DataLoader::~DataLoader() = default;

Result<std::optional<TokenBatch>> DataLoader::next() { return impl_->next(); }
nlohmann::json DataLoader::state() const { return impl_->state(); }
Status DataLoader::restore(const nlohmann::json& state) { return impl_->restore(state); }
int64_t DataLoader::epoch() const { return impl_->epoch(); }
int64_t DataLoader::batches() const { return impl_->batches(); }
std::optional<int64_t> DataLoader::total_batches() const { return impl_->total_batches(); }
const LoaderOptions& DataLoader::options() const { return impl_->options(); }

}  // namespace flywheel
