// `flywheel data ingest|info|peek`: a thin layer over src/data. Results go to
// stdout (plain text, or one JSON object with --json); logs and progress go
// to stderr.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/json_output.h"
#include "core/log.h"
#include "data/data.h"

namespace flywheel::cli {
namespace {

namespace fs = std::filesystem;

struct IngestArgs {
  std::vector<std::string> sources;
  std::string tokenizer;
  std::string out;
  std::string revision = "HEAD";
  bool history = false;
  uint64_t max_file_bytes = 1 << 20;
  double valid_fraction = 0.01;
  uint64_t shard_bytes = 64ull << 20;
  int threads = 0;
  bool keep_unknown = false;
  bool no_near_dedup = false;
  double near_dedup_threshold = 0.85;
  bool overwrite = false;
};

struct InfoArgs {
  std::string dataset;
};

struct PeekArgs {
  std::string dataset;
  std::string tokenizer;
  std::string split = "train";
  int64_t seq_len = 128;
  int64_t rows = 2;
  uint64_t seed = 0;
  double fim_rate = 0.5;
  bool repo_level = false;
};

Status run_ingest(const IngestArgs& a, const GlobalOptions& global) {
  if (a.sources.empty())
    return Status::invalid_argument("--source PATH is required (folders, files, git repositories)");
  if (a.out.empty()) return Status::invalid_argument("--out DATASET is required");
  FW_ASSIGN_OR_RETURN(Tokenizer tokenizer, load_tokenizer(a.tokenizer));
  IngestOptions o;
  o.sources = a.sources;
  o.out = a.out;
  o.tokenizer_path = fs::absolute(a.tokenizer).lexically_normal();
  o.revision = a.revision;
  o.history = a.history;
  o.valid_fraction = a.valid_fraction;
  o.shard_bytes = a.shard_bytes;
  o.threads = a.threads;
  o.overwrite = a.overwrite;
  o.filter.max_file_bytes = a.max_file_bytes;
  o.filter.keep_unknown_languages = a.keep_unknown;
  o.near_dedup.enabled = !a.no_near_dedup;
  o.near_dedup.threshold = a.near_dedup_threshold;
  FW_ASSIGN_OR_RETURN(IngestStats s, ingest_corpus(o, tokenizer));

  if (global.json) {
    nlohmann::json skipped = nlohmann::json::object();
    for (const auto& [k, v] : s.skipped) skipped[k] = v;
    print_json_line({{"out", a.out},
                     {"up_to_date", s.up_to_date},
                     {"files_seen", s.files_seen},
                     {"bytes_seen", s.bytes_seen},
                     {"skipped", skipped},
                     {"documents", s.documents},
                     {"bytes", s.bytes},
                     {"tokens", s.tokens},
                     {"train", {{"documents", s.train_documents}, {"tokens", s.train_tokens}}},
                     {"valid", {{"documents", s.valid_documents}, {"tokens", s.valid_tokens}}},
                     {"shards_written", s.shards_written},
                     {"shards_reused", s.shards_reused},
                     {"scan_seconds", s.scan_seconds},
                     {"tokenize_seconds", s.tokenize_seconds},
                     {"seconds", s.seconds},
                     {"mb_per_second", s.seconds > 0 ? static_cast<double>(s.bytes_seen) / 1e6 / s.seconds : 0.0}});
    return Status::OK();
  }
  if (s.up_to_date) {
    print_text(
        fmt::format("{} is up to date ({} documents, {} tokens); nothing to do\n", a.out, s.documents, s.tokens));
    return Status::OK();
  }
  std::string skipped;
  for (const auto& [k, v] : s.skipped) skipped += fmt::format("{}{} {}", skipped.empty() ? "" : ", ", v, k);
  print_text(
      fmt::format("wrote {}\n"
                  "  read:     {} files, {}\n"
                  "  skipped:  {}\n"
                  "  kept:     {} documents, {}, {} tokens\n"
                  "  train:    {} documents, {} tokens\n"
                  "  valid:    {} documents, {} tokens\n"
                  "  shards:   {} written, {} reused from an interrupted run\n"
                  "  time:     {:.1f} s (scan {:.1f} s, tokenize {:.1f} s), {:.1f} MB/s\n",
                  a.out, s.files_seen, human_bytes(s.bytes_seen), skipped.empty() ? "none" : skipped, s.documents,
                  human_bytes(s.bytes), s.tokens, s.train_documents, s.train_tokens, s.valid_documents, s.valid_tokens,
                  s.shards_written, s.shards_reused, s.seconds, s.scan_seconds, s.tokenize_seconds,
                  s.seconds > 0 ? static_cast<double>(s.bytes_seen) / 1e6 / s.seconds : 0.0));
  return Status::OK();
}

Status run_info(const InfoArgs& a, const GlobalOptions& global) {
  if (a.dataset.empty()) return Status::invalid_argument("--dataset DATASET is required");
  FW_ASSIGN_OR_RETURN(Dataset dataset, Dataset::open(a.dataset));
  if (global.json) {
    nlohmann::json m = dataset.manifest();
    m.erase("options");
    print_json_line(m);
    return Status::OK();
  }
  const nlohmann::json& m = dataset.manifest();
  std::string out = fmt::format("{}\n  tokenizer:  sha256:{} ({})\n  tokens:     {}-byte ids\n", a.dataset,
                                dataset.tokenizer_hash(), m["tokenizer"].value("path", ""), dataset.token_bytes());
  for (const char* split : {"train", "valid"})
    out += fmt::format("  {}:      {} documents, {} tokens, {} shards\n", split, dataset.document_count(split),
                       dataset.token_count(split), dataset.shards(split).size());
  for (const auto& s : m.value("sources", nlohmann::json::array()))
    out += fmt::format("  source:     {} ({}{}), {} documents\n", s.value("input", ""), s.value("kind", ""),
                       s.contains("commit") ? " " + s["commit"].get<std::string>().substr(0, 12) : "",
                       s.value("documents", uint64_t{0}));
  if (m.contains("stats") && m["stats"].contains("skipped"))
    for (const auto& [k, v] : m["stats"]["skipped"].items()) out += fmt::format("  skipped:    {} {}\n", v.dump(), k);
  print_text(out);
  return Status::OK();
}

Status run_peek(const PeekArgs& a, const GlobalOptions& global) {
  if (a.dataset.empty()) return Status::invalid_argument("--dataset DATASET is required");
  FW_ASSIGN_OR_RETURN(Tokenizer tokenizer, load_tokenizer(a.tokenizer));
  LoaderOptions o;
  o.dataset = a.dataset;
  o.split = a.split;
  o.seq_len = a.seq_len;
  o.batch_size = a.rows;
  o.seed = a.seed;
  o.fim_rate = a.fim_rate;
  o.fim_on_valid = true;
  o.repo_level = a.repo_level;
  FW_ASSIGN_OR_RETURN(DataLoader loader, DataLoader::open(o, tokenizer));
  FW_ASSIGN_OR_RETURN(std::optional<TokenBatch> batch, loader.next());
  if (!batch) return Status::OK();
  const size_t width = static_cast<size_t>(a.seq_len + 1);
  nlohmann::json rows = nlohmann::json::array();
  std::string text;
  for (int64_t r = 0; r < a.rows; ++r) {
    std::vector<TokenId> ids(batch->tokens.begin() + static_cast<std::ptrdiff_t>(r * width),
                             batch->tokens.begin() + static_cast<std::ptrdiff_t>((r + 1) * width));
    const std::string decoded = tokenizer.decode(ids);
    rows.push_back({{"ids", ids}, {"text", decoded}});
    text += fmt::format("---- row {} ----\n{}\n", r, decoded);
  }
  if (global.json) {
    print_json_line({{"rows", rows}, {"target_bytes", batch->target_bytes}});
  } else {
    print_text(text);
  }
  return Status::OK();
}

}  // namespace

void add_data_command(CLI::App& app, const GlobalOptions& global, CommandAction* action) {
  CLI::App* data = app.add_subcommand("data", "Build token datasets from source trees and git repositories");
  data->require_subcommand(1);
  data->footer(global_options_footer());

  auto ingest = std::make_shared<IngestArgs>();
  CLI::App* ingest_cmd = data->add_subcommand(
      "ingest",
      "Read folders and git repositories, filter and deduplicate their files, and write token shards with a "
      "manifest (re-running the same command resumes an interrupted ingest)");
  ingest_cmd
      ->add_option("--source", ingest->sources,
                   "Folders, files or git repositories (a repository's top folder or a bare repository is read "
                   "through git at --revision; 'dir:PATH' walks it as plain files)")
      ->type_name("PATH")
      ->expected(1, -1);
  ingest_cmd->add_option("--tokenizer", ingest->tokenizer, "tokenizer.json to encode with (required)")
      ->type_name("FILE");
  ingest_cmd->add_option("--out", ingest->out, "Dataset folder to write (required)")->type_name("DATASET");
  ingest_cmd->add_option("--revision", ingest->revision, "Git sources: the commit to read (any rev-parse expression)")
      ->capture_default_str();
  ingest_cmd->add_flag("--history", ingest->history,
                       "Git sources: also every older file version along the first-parent history (versions that are "
                       "near-duplicates of a newer one are dropped unless --no-near-dedup)");
  ingest_cmd->add_option("--max-file-bytes", ingest->max_file_bytes, "Skip larger files, e.g. 1MiB")
      ->transform(CLI::AsSizeValue(true).description(""))
      ->type_name("SIZE")
      ->capture_default_str();
  ingest_cmd
      ->add_option("--valid-fraction", ingest->valid_fraction,
                   "Share of files (chosen by content hash) in the valid split")
      ->check(CLI::Range(0.0, 0.999))
      ->capture_default_str();
  ingest_cmd->add_option("--shard-bytes", ingest->shard_bytes, "Text per shard, about, e.g. 64MiB")
      ->transform(CLI::AsSizeValue(true).description(""))
      ->type_name("SIZE")
      ->capture_default_str();
  ingest_cmd->add_option("--threads", ingest->threads, "Threads for reading and tokenizing (0: all cores)")
      ->capture_default_str()
      ->check(non_negative_integer());
  ingest_cmd->add_flag("--keep-unknown-languages", ingest->keep_unknown,
                       "Keep text files whose language the name does not tell");
  ingest_cmd->add_flag("--no-near-dedup", ingest->no_near_dedup, "Keep near-duplicate files (exact dedup stays)");
  ingest_cmd
      ->add_option("--near-dedup-threshold", ingest->near_dedup_threshold,
                   "MinHash Jaccard similarity at which two files count as near-duplicates")
      ->check(CLI::Range(0.01, 1.0))
      ->capture_default_str();
  ingest_cmd->add_flag("--overwrite", ingest->overwrite,
                       "Start over when --out holds an ingest made with other arguments or another tokenizer");
  ingest_cmd->footer(global_options_footer());
  ingest_cmd->callback(
      [ingest, &global, action] { *action = [ingest, &global] { return run_ingest(*ingest, global); }; });

  auto info = std::make_shared<InfoArgs>();
  CLI::App* info_cmd = data->add_subcommand("info", "Summarize a dataset's manifest");
  info_cmd->add_option("--dataset", info->dataset, "Dataset folder (required)")->type_name("DATASET");
  info_cmd->footer(global_options_footer());
  info_cmd->callback([info, &global, action] { *action = [info, &global] { return run_info(*info, global); }; });

  auto peek = std::make_shared<PeekArgs>();
  CLI::App* peek_cmd =
      data->add_subcommand("peek", "Decode the first batch the data loader makes (FIM and packing included)");
  peek_cmd->add_option("--dataset", peek->dataset, "Dataset folder (required)")->type_name("DATASET");
  peek_cmd->add_option("--tokenizer", peek->tokenizer, "The dataset's tokenizer.json (required)")->type_name("FILE");
  peek_cmd->add_option("--split", peek->split, "train or valid")->capture_default_str();
  peek_cmd->add_option("--seq-len", peek->seq_len, "Tokens per row")->capture_default_str()->check(positive_integer());
  peek_cmd->add_option("--rows", peek->rows, "Rows to show")->capture_default_str()->check(positive_integer());
  peek_cmd->add_option("--seed", peek->seed, "Shuffle and FIM seed")->capture_default_str();
  peek_cmd->add_option("--fim-rate", peek->fim_rate, "Share of document pieces turned into FIM")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  peek_cmd->add_flag("--repo-level", peek->repo_level, "Pack each repository's files together");
  peek_cmd->footer(global_options_footer());
  peek_cmd->callback([peek, &global, action] { *action = [peek, &global] { return run_peek(*peek, global); }; });
}

}  // namespace flywheel::cli
