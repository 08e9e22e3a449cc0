// The two kinds of DataLoader (loader.h): packed pretraining windows
// (pretrain_loader.cpp) and SFT rows (sft_loader.cpp). Private to the data
// module.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "data/loader.h"
#include "data/rng.h"
#include "data/text_tokens.h"

namespace flywheel {

class DataLoader::Impl {
 public:
  virtual ~Impl() = default;
  virtual Result<std::optional<TokenBatch>> next() = 0;
  virtual nlohmann::json state() const = 0;
  virtual Status restore(const nlohmann::json& state) = 0;
  virtual int64_t epoch() const = 0;
  virtual std::optional<int64_t> total_batches() const = 0;
  int64_t batches() const { return static_cast<int64_t>(batches_); }
  const LoaderOptions& options() const { return options_; }

 protected:
  LoaderOptions options_;
  uint64_t batches_ = 0;
};

namespace data {

inline constexpr std::string_view kLoaderStateFormat = "flywheel-loader-state";
inline constexpr int kLoaderStateVersion = 1;

// Stream tags, so that streams of different purposes never share a seed.
inline constexpr uint64_t kOrderStream = 1, kFimStream = 2, kRepoFilesStream = 3;

// A loader's own tokenizer (a copy: the caller's may go away) and what it derives from it.
struct LoaderTokens {
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<TokenBytes> bytes;
  std::unique_ptr<PlainTextEncoder> encoder;
  TokenId eot = 0;
  TokenId pad = 0;  // <|fim_pad|>, else <|endoftext|>
};
Result<LoaderTokens> make_loader_tokens(const Tokenizer& tokenizer);

// Shuffled orders per epoch, computed on first use and dropped when older
// than what is still needed.
class OrderCache {
 public:
  OrderCache(uint32_t count, uint64_t seed) : count_(count), seed_(seed) {}
  const std::vector<uint32_t>& order(uint64_t epoch);
  void drop_before(uint64_t epoch);

 private:
  uint32_t count_;
  uint64_t seed_;
  std::map<uint64_t, std::vector<uint32_t>> orders_;
};

// Checks a state object's header and that `fields` equal the loader's.
Status check_state(const nlohmann::json& state, std::string_view mode, const nlohmann::json& fields);

Result<std::unique_ptr<DataLoader::Impl>> open_pretrain_loader(const LoaderOptions& options,
                                                               const Tokenizer& tokenizer);
Result<std::unique_ptr<DataLoader::Impl>> open_sft_loader(const LoaderOptions& options, const Tokenizer& tokenizer);

}  // namespace data
}  // namespace flywheel
