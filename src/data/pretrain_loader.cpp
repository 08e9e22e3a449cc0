// Packed pretraining windows with context-level FIM (loader.h).
#include <algorithm>
#include <limits>
#include <optional>

#include "data/dataset.h"
#include "data/fim.h"
#include "data/loader_internal.h"

namespace flywheel::data {
namespace {

constexpr uint32_t kFraming = std::numeric_limits<uint32_t>::max();

// A document, or with chunk_tokens a chunk of one.
struct DocRef {
  uint32_t shard = 0;
  uint64_t begin = 0, end = 0;
  bool ends_document = true;  // <|endoftext|> follows it
  uint64_t length() const { return end - begin; }
};

// A stretch of a unit's tokens: framing (owned by the loader) or a document's tokens.
struct Run {
  uint32_t doc = kFraming;
  const TokenId* framing = nullptr;
  uint64_t length = 0;
};

// The runs of one unit in one epoch, with their start offsets.
struct UnitRuns {
  uint32_t unit = kFraming;
  uint64_t epoch = 0;
  std::vector<Run> runs;
  std::vector<uint64_t> starts;
};

struct Piece {
  size_t start = 0, length = 0;
};

class PretrainLoader final : public DataLoader::Impl {
 public:
  Status open(const LoaderOptions& options, const Tokenizer& tokenizer);
  Result<std::optional<TokenBatch>> next() override;
  nlohmann::json state() const override;
  Status restore(const nlohmann::json& state) override;
  int64_t epoch() const override;
  std::optional<int64_t> total_batches() const override { return total_; }

 private:
  bool lane_ended(uint64_t lane, uint64_t k) const { return !options_.loop && lane + k * lanes_total_ >= units_; }
  uint64_t epoch_of(uint64_t lane, uint64_t k) const { return (lane + k * lanes_total_) / units_; }
  uint32_t unit_at(uint64_t lane, uint64_t k) {
    const uint64_t g = lane + k * lanes_total_;
    return orders_->order(g / units_)[g % units_];
  }
  const UnitRuns& runs_of(size_t cache_slot, uint32_t unit, uint64_t epoch);
  void fill_window(uint64_t lane, size_t cache_slot, std::vector<TokenId>& row, std::vector<uint8_t>& pad);
  void advance_lanes();
  nlohmann::json identity() const;

  LoaderTokens tok_;
  std::optional<FimTransform> fim_;
  double fim_rate_ = 0;
  std::vector<TokenShard> shards_;
  std::vector<DocRef> docs_;
  uint64_t dataset_tokens_ = 0;
  // repo_level framing
  std::vector<std::vector<uint32_t>> repo_docs_;
  std::vector<std::vector<TokenId>> repo_headers_;
  std::vector<std::vector<TokenId>> doc_headers_;
  std::vector<uint8_t> doc_newline_;
  std::vector<TokenId> newline_;
  std::vector<TokenId> eot_;

  std::vector<uint64_t> unit_length_;
  uint64_t units_ = 0, lanes_total_ = 0, seq_len_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> lanes_;  // per lane: (k, offset into unit k)
  std::optional<OrderCache> orders_;
  std::vector<UnitRuns> cache_;  // one per row of this rank
  std::optional<int64_t> total_;
};

Status PretrainLoader::open(const LoaderOptions& options, const Tokenizer& tokenizer) {
  options_ = options;
  FW_ASSIGN_OR_RETURN(Dataset dataset, Dataset::open(options.dataset, tokenizer));
  FW_ASSIGN_OR_RETURN(tok_, make_loader_tokens(tokenizer));
  eot_ = {tok_.eot};
  fim_rate_ = options.split == "valid" && !options.fim_on_valid ? 0.0 : options.fim_rate;
  if (fim_rate_ > 0) {
    FW_ASSIGN_OR_RETURN(FimTransform fim, FimTransform::create(*tok_.tokenizer));
    fim_ = std::move(fim);
  }
  const std::vector<ShardEntry> entries = dataset.shards(options.split);
  for (const ShardEntry& e : entries) {
    FW_ASSIGN_OR_RETURN(TokenShard shard, dataset.open_shard(e, options.verify_checksums));
    const auto index = static_cast<uint32_t>(shards_.size());
    const uint64_t chunk = options.repo_level || options.chunk_tokens <= 0
                               ? std::numeric_limits<uint64_t>::max()
                               : static_cast<uint64_t>(options.chunk_tokens);
    for (uint64_t d = 0; d < shard.document_count(); ++d) {
      const uint64_t begin = shard.document_begin(d), end = shard.document_end(d);
      for (uint64_t at = begin; at < end; at += std::min(chunk, end - at))
        docs_.push_back({index, at, at + std::min(chunk, end - at), end - at <= chunk});
    }
    dataset_tokens_ += shard.token_count();
    shards_.push_back(std::move(shard));
  }
  if (docs_.empty())
    return Status::invalid_argument("dataset '" + options.dataset.string() + "' has no documents in the '" +
                                    options.split + "' split" +
                                    (options.split == "valid" ? " (ingest with --valid-fraction above 0)" : ""));

  if (!options.repo_level) {
    for (const DocRef& d : docs_) unit_length_.push_back(d.length() + (d.ends_document ? 1 : 0));
  } else {
    auto repo_name = tok_.tokenizer->token_to_id("<|repo_name|>");
    auto file_sep = tok_.tokenizer->token_to_id("<|file_sep|>");
    if (!repo_name || !file_sep)
      return Status::invalid_argument(
          "repository-level packing needs the <|repo_name|> and <|file_sep|> tokens, which this tokenizer does not "
          "have; train one with `flywheel tokenizer train` (it reserves them) or turn repo_level off");
    newline_ = tok_.encoder->encode("\n");
    std::map<std::string, uint32_t> repo_index;
    size_t doc = 0;
    for (const ShardEntry& e : entries) {
      FW_ASSIGN_OR_RETURN(std::vector<DocumentInfo> infos, dataset.read_documents(e));
      for (const DocumentInfo& info : infos) {
        // Documents with no tokens were left out of docs_ above; so are they here.
        if (info.tokens == 0) continue;
        auto [it, inserted] = repo_index.emplace(info.repo, static_cast<uint32_t>(repo_docs_.size()));
        if (inserted) {
          repo_docs_.emplace_back();
          std::vector<TokenId> header{*repo_name};
          tok_.encoder->encode_append(info.repo + "\n", header);
          repo_headers_.push_back(std::move(header));
        }
        repo_docs_[it->second].push_back(static_cast<uint32_t>(doc));
        std::vector<TokenId> header{*file_sep};
        tok_.encoder->encode_append(info.path + "\n", header);
        doc_headers_.push_back(std::move(header));
        const DocRef& ref = docs_[doc];
        const std::string& last = tok_.bytes->bytes(shards_[ref.shard].token(ref.end - 1));
        doc_newline_.push_back(last.empty() || last.back() != '\n' ? 1 : 0);
        ++doc;
      }
    }
    if (doc != docs_.size())
      return Status::corruption("the document metadata of dataset '" + options.dataset.string() +
                                "' does not match its shards; ingest the corpus again");
    for (size_t r = 0; r < repo_docs_.size(); ++r) {
      uint64_t length = repo_headers_[r].size() + 1;
      for (uint32_t d : repo_docs_[r])
        length += doc_headers_[d].size() + docs_[d].length() + (doc_newline_[d] ? newline_.size() : 0);
      unit_length_.push_back(length);
    }
  }
  units_ = unit_length_.size();
  if (units_ > std::numeric_limits<uint32_t>::max())
    return Status::unsupported("more than 2^32 documents in one split are not supported");
  lanes_total_ = static_cast<uint64_t>(options.batch_size) * static_cast<uint64_t>(options.world_size);
  seq_len_ = static_cast<uint64_t>(options.seq_len);
  lanes_.assign(lanes_total_, {0, 0});
  orders_.emplace(static_cast<uint32_t>(units_), options.seed);
  cache_.resize(static_cast<size_t>(options.batch_size));

  if (!options.loop) {
    int64_t total = 0;
    const std::vector<uint32_t>& order = orders_->order(0);
    for (uint64_t lane = 0; lane < lanes_total_; ++lane) {
      uint64_t length = 0;
      for (uint64_t g = lane; g < units_; g += lanes_total_) length += unit_length_[order[g]];
      const uint64_t windows = length <= 1 ? 0 : (length - 1 + seq_len_ - 1) / seq_len_;
      total = std::max<int64_t>(total, static_cast<int64_t>(windows));
    }
    total_ = total;
  }
  return Status::OK();
}

const UnitRuns& PretrainLoader::runs_of(size_t slot, uint32_t unit, uint64_t epoch) {
  UnitRuns& u = cache_[slot];
  if (u.unit == unit && u.epoch == epoch && !u.runs.empty()) return u;
  u.unit = unit;
  u.epoch = epoch;
  u.runs.clear();
  u.starts.clear();
  auto add = [&](Run run) {
    if (run.length == 0) return;
    u.starts.push_back(u.starts.empty() ? 0 : u.starts.back() + u.runs.back().length);
    u.runs.push_back(run);
  };
  if (!options_.repo_level) {
    add({unit, nullptr, docs_[unit].length()});
    if (!docs_[unit].ends_document) return u;
  } else {
    add({kFraming, repo_headers_[unit].data(), repo_headers_[unit].size()});
    const std::vector<uint32_t>& files = repo_docs_[unit];
    const std::vector<uint32_t> order = shuffled_indices(static_cast<uint32_t>(files.size()),
                                                         stream_seed({options_.seed, kRepoFilesStream, epoch, unit}));
    for (uint32_t i : order) {
      const uint32_t d = files[i];
      add({kFraming, doc_headers_[d].data(), doc_headers_[d].size()});
      add({d, nullptr, docs_[d].length()});
      if (doc_newline_[d]) add({kFraming, newline_.data(), newline_.size()});
    }
  }
  add({kFraming, eot_.data(), 1});
  return u;
}

void PretrainLoader::fill_window(uint64_t lane, size_t slot, std::vector<TokenId>& row, std::vector<uint8_t>& pad) {
  row.clear();
  pad.clear();
  std::vector<Piece> pieces;
  uint64_t need = seq_len_ + 1;
  uint64_t k = lanes_[lane].first;
  uint64_t offset = lanes_[lane].second;
  while (need > 0) {
    if (lane_ended(lane, k)) {
      row.insert(row.end(), need, tok_.pad);
      pad.insert(pad.end(), need, 1);
      break;
    }
    const UnitRuns& u = runs_of(slot, unit_at(lane, k), epoch_of(lane, k));
    size_t r = static_cast<size_t>(std::upper_bound(u.starts.begin(), u.starts.end(), offset) - u.starts.begin()) - 1;
    for (; r < u.runs.size() && need > 0; ++r) {
      const Run& run = u.runs[r];
      const uint64_t within = offset - u.starts[r];
      const uint64_t take = std::min(run.length - within, need);
      const size_t at = row.size();
      row.resize(at + take);
      if (run.doc == kFraming) {
        std::copy(run.framing + within, run.framing + within + take, row.begin() + static_cast<std::ptrdiff_t>(at));
      } else {
        const DocRef& d = docs_[run.doc];
        shards_[d.shard].read_tokens(d.begin + within, d.begin + within + take, row.data() + at);
        pieces.push_back({at, static_cast<size_t>(take)});
      }
      pad.insert(pad.end(), take, 0);
      offset += take;
      need -= take;
    }
    ++k;
    offset = 0;
  }
  if (!fim_) return;
  std::vector<TokenId> out;
  std::vector<uint8_t> out_pad;
  for (size_t q = 0; q < pieces.size(); ++q) {
    const Piece& p = pieces[q];
    out.clear();
    out_pad.clear();
    const uint64_t seed = stream_seed({options_.seed, kFimStream, lane, batches_, q});
    fim_->apply(std::span<const TokenId>(row.data() + p.start, p.length), seed, fim_rate_, options_.fim_spm_rate, out,
                out_pad);
    std::copy(out.begin(), out.end(), row.begin() + static_cast<std::ptrdiff_t>(p.start));
    std::copy(out_pad.begin(), out_pad.end(), pad.begin() + static_cast<std::ptrdiff_t>(p.start));
  }
}

void PretrainLoader::advance_lanes() {
  uint64_t min_epoch = std::numeric_limits<uint64_t>::max();
  for (uint64_t lane = 0; lane < lanes_total_; ++lane) {
    auto& [k, offset] = lanes_[lane];
    offset += seq_len_;
    while (!lane_ended(lane, k)) {
      const uint64_t length = unit_length_[unit_at(lane, k)];
      if (offset < length) break;
      offset -= length;
      ++k;
    }
    min_epoch = std::min(min_epoch, epoch_of(lane, k));
  }
  orders_->drop_before(min_epoch);
}

Result<std::optional<TokenBatch>> PretrainLoader::next() {
  if (total_ && static_cast<int64_t>(batches_) >= *total_) return std::optional<TokenBatch>();
  TokenBatch batch;
  batch.batch_size = options_.batch_size;
  batch.seq_len = options_.seq_len;
  batch.tokens.reserve(static_cast<size_t>(batch.batch_size) * (seq_len_ + 1));
  batch.loss_mask.reserve(static_cast<size_t>(batch.batch_size) * seq_len_);
  std::vector<TokenId> row;
  std::vector<uint8_t> pad;
  for (int64_t i = 0; i < options_.batch_size; ++i) {
    const uint64_t lane =
        static_cast<uint64_t>(options_.rank) * static_cast<uint64_t>(options_.batch_size) + static_cast<uint64_t>(i);
    fill_window(lane, static_cast<size_t>(i), row, pad);
    batch.tokens.insert(batch.tokens.end(), row.begin(), row.end());
    for (uint64_t t = 1; t <= seq_len_; ++t) {
      const uint8_t counts = pad[t] ? 0 : 1;
      batch.loss_mask.push_back(counts);
      if (counts) batch.target_bytes += static_cast<int64_t>(tok_.bytes->length(row[t]));
    }
  }
  advance_lanes();
  ++batches_;
  return std::optional<TokenBatch>(std::move(batch));
}

int64_t PretrainLoader::epoch() const {
  uint64_t min_epoch = std::numeric_limits<uint64_t>::max();
  for (uint64_t lane = 0; lane < lanes_total_; ++lane)
    min_epoch = std::min(min_epoch, epoch_of(lane, lanes_[lane].first));
  return static_cast<int64_t>(min_epoch);
}

nlohmann::json PretrainLoader::identity() const {
  return {{"split", options_.split},
          {"seed", options_.seed},
          {"seq_len", options_.seq_len},
          {"global_batch", lanes_total_},
          {"repo_level", options_.repo_level},
          {"units", units_},
          {"chunk_tokens", options_.repo_level ? 0 : std::max<int64_t>(options_.chunk_tokens, 0)},
          {"dataset_tokens", dataset_tokens_}};
}

nlohmann::json PretrainLoader::state() const {
  nlohmann::json lanes = nlohmann::json::array();
  for (const auto& [k, offset] : lanes_) lanes.push_back({k, offset});
  nlohmann::json s = identity();
  s["format"] = kLoaderStateFormat;
  s["version"] = kLoaderStateVersion;
  s["mode"] = "pretrain";
  s["batches"] = batches_;
  s["epoch"] = epoch();
  s["lanes"] = std::move(lanes);
  s["rng"] = "stateless: SplitMix64 streams (seed, epoch) for orders, (seed, lane, batch, piece) for FIM";
  return s;
}

Status PretrainLoader::restore(const nlohmann::json& state) {
  FW_RETURN_IF_ERROR(check_state(state, "pretrain", identity()));
  const nlohmann::json& lanes = state.value("lanes", nlohmann::json());
  if (!lanes.is_array() || lanes.size() != lanes_total_ || !state.contains("batches") ||
      !state["batches"].is_number_unsigned())
    return Status::invalid_argument(
        "the data loader state has no valid \"lanes\" (one [unit, offset] per lane) or "
        "\"batches\"");
  std::vector<std::pair<uint64_t, uint64_t>> restored;
  for (const auto& lane : lanes) {
    if (!lane.is_array() || lane.size() != 2 || !lane[0].is_number_unsigned() || !lane[1].is_number_unsigned())
      return Status::invalid_argument("the data loader state has a lane that is not [unit, offset]");
    restored.emplace_back(lane[0].get<uint64_t>(), lane[1].get<uint64_t>());
  }
  lanes_ = std::move(restored);
  batches_ = state["batches"].get<uint64_t>();
  for (UnitRuns& u : cache_) u = UnitRuns{};
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<DataLoader::Impl>> open_pretrain_loader(const LoaderOptions& options,
                                                               const Tokenizer& tokenizer) {
  auto loader = std::make_unique<PretrainLoader>();
  FW_RETURN_IF_ERROR(loader->open(options, tokenizer));
  return std::unique_ptr<DataLoader::Impl>(std::move(loader));
}

}  // namespace flywheel::data
