// DataLoader: batches of token sequences for the trainer, from a token
// dataset (pretraining, with fill-in-the-middle) or from SFT examples.
//
// Pretraining: packing in lanes. The split's documents (or, with repo_level,
// its repositories) are shuffled once per epoch (seed, epoch) and dealt round
// robin to G = world_size * batch_size lanes: lane j gets the units at
// positions j, j+G, j+2G, ... of the endless sequence epoch 0 order, epoch 1
// order, ... (only epoch 0 when loop is false). A lane's tokens are its units
// one after the other:
//   document mode   <doc tokens> <|endoftext|>
//   repo_level      <|repo_name|>name\n <|file_sep|>path\n<file tokens>[\n] ... <|endoftext|>
//                   (files in an order shuffled per epoch; "\n" after a file that does not end in
//                   one, as src/model/prompt_format.h lays out repository context at inference)
// Batch b, row i on rank r is window b of lane j = r*batch_size + i: the
// lane's tokens [b*seq_len, b*seq_len + seq_len + 1). So ranks read disjoint
// lanes, and the union of the ranks' batches b is exactly the batch b of one
// rank with batch_size * world_size rows: data-parallel runs see the data a
// single process would. Each window is then transformed on its own: every
// piece of a file inside it goes through FimTransform::apply (fim.h) with
// probability fim_rate (context-level FIM, length preserving). Targets that
// are padding (<|fim_pad|> from FIM, or past the end of the data when loop is
// false) have loss_mask 0; every other target counts, <|endoftext|> and FIM
// markers included. target_bytes sums the bytes of the counted targets
// (markers count 0 bytes) for bits per byte.
//
// SFT (sft_jsonl set): one example per row, {"prompt": ..., "completion": ...}
// per line, encoded as prompt + completion + <|endoftext|> (special-token
// strings in the text are matched as special tokens, so FIM prompts work);
// loss_mask is 1 on completion targets and the final <|endoftext|>. A row that
// is too long loses tokens from the start of the prompt, then from the end
// of the completion; shorter rows are padded with <|fim_pad|> (else
// <|endoftext|>), masked. Row i of batch b on rank r is example number
// b*G + r*batch_size + i of the endless shuffled sequence, as above.
//
// Determinism and resume: everything random comes from SplitMix64 streams
// named by (seed, epoch) for orders and (seed, lane, window, piece) for FIM,
// so state() is just positions: per lane the unit it is in and the offset,
// and the batch count (and the same for every rank, so rank 0's state
// restores any rank). restore() continues bit for bit. It refuses a state
// taken with another seed, seq_len, global batch (world_size * batch_size),
// split, mode or dataset; fim rates may change between runs (the
// continuation then differs in FIM choices only).
//
// fim_rate applies to the train split; the valid split uses 0 unless
// fim_on_valid is set, so validation loss measures plain left-to-right text.
//
// Thread-safety: a DataLoader belongs to one thread. It keeps its own copy
// of the tokenizer, and the shards stay memory-mapped while it lives.
// Errors: open() checks the options, the dataset's tokenizer against the one
// given, every shard (header, size, checksum), and that the tokenizer has
// the special tokens the options need.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace flywheel {

struct LoaderOptions {
  std::filesystem::path dataset;  // directory with manifest.json
  std::string split = "train";    // train | valid
  int64_t seq_len = 512;          // tokens per sequence (the loader returns seq_len + 1 for shifted targets)
  int64_t batch_size = 8;         // sequences per batch (per rank)
  uint64_t seed = 0;
  double fim_rate = 0.5;      // per document piece of a window (Bavarian et al. 2022); valid: 0 unless fim_on_valid
  double fim_spm_rate = 0.5;  // share of FIM documents in SPM order
  bool repo_level = false;    // pack a repository's files together with <|repo_name|>/<|file_sep|>
  // > 0 (and not repo_level): documents are cut into chunks of at most this
  // many tokens, and the chunks are what is shuffled and packed, so that
  // consecutive batches do not continue the same few documents (a row would
  // otherwise stay in one long file for many steps). <|endoftext|> follows a
  // document's last chunk only. 0: whole documents.
  int64_t chunk_tokens = 0;
  int rank = 0, world_size = 1;  // each rank reads its own slice
  bool loop = true;              // start a new epoch (reshuffled) at the end; false: end after one pass

  bool fim_on_valid = false;        // apply fim_rate to the valid split too
  bool verify_checksums = true;     // check every shard's payload checksum at open
  std::filesystem::path sft_jsonl;  // set: SFT rows from this JSONL instead of `dataset`
  double sft_valid_fraction = 0.0;  // SFT: share of examples (by hash) that form the valid split
};

struct TokenBatch {
  int64_t batch_size = 0, seq_len = 0;
  std::vector<int32_t> tokens;     // batch_size * (seq_len + 1), row-major
  std::vector<uint8_t> loss_mask;  // batch_size * seq_len: 1 where target t+1 counts
  int64_t target_bytes = 0;        // UTF-8 bytes the counted targets stand for (for bits per byte)
};

class DataLoader {
 public:
  static Result<DataLoader> open(const LoaderOptions& options, const Tokenizer& tokenizer);
  Result<std::optional<TokenBatch>> next();     // nullopt at the end when loop == false
  nlohmann::json state() const;                 // exact position (epoch, order, offsets, RNG) for resume
  Status restore(const nlohmann::json& state);  // continues exactly where state() was taken
  int64_t epoch() const;                        // passes every lane has finished (the smallest lane epoch)

  int64_t batches() const;                       // batches returned so far (or restored)
  std::optional<int64_t> total_batches() const;  // loop == false: how many next() returns; else nullopt
  const LoaderOptions& options() const;

  class Impl;
  DataLoader(DataLoader&&) noexcept;
  DataLoader& operator=(DataLoader&&) noexcept;
  ~DataLoader();

 private:
  explicit DataLoader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flywheel
