// `flywheel tokenizer train|encode|decode|info`: a thin layer over
// src/tokenizer. Results go to stdout (plain text, or one JSON object with
// --json); logs and progress go to stderr.
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/file_system.h"
#include "core/json_output.h"
#include "core/log.h"
#include "tokenizer/tokenizer.h"

namespace flywheel::cli {
namespace {

namespace fs = std::filesystem;

struct TrainOptions {
  std::vector<std::string> inputs;
  size_t vocab_size = 8192;
  size_t min_frequency = 2;
  int threads = 0;
  uint64_t max_bytes = 0;
  uint64_t max_file_bytes = 1 << 20;
  std::vector<std::string> special_tokens = default_special_tokens();
  std::string out = "tokenizer.json";
};

struct EncodeOptions {
  std::string tokenizer;
  std::string text;
  const CLI::Option* text_option = nullptr;  // given (on the command line or in --config) or not
  bool special = false;
  bool tokens = false;
};

struct DecodeOptions {
  std::string tokenizer;
  std::string ids;
  const CLI::Option* ids_option = nullptr;
  bool skip_special = false;
};

struct InfoOptions {
  std::string tokenizer;
};

// ---- train ----

Status run_train(const TrainOptions& o, const GlobalOptions& global) {
  BpeTrainerOptions options;
  options.vocab_size = o.vocab_size;
  options.min_frequency = o.min_frequency;
  options.threads = o.threads;
  options.max_corpus_bytes = o.max_bytes;
  options.max_file_bytes = static_cast<size_t>(o.max_file_bytes);
  options.special_tokens = o.special_tokens;

  std::vector<fs::path> inputs(o.inputs.begin(), o.inputs.end());
  if (inputs.empty()) {
    inputs = default_corpus_paths(find_project_root());
    if (inputs.empty()) {
      return Status::not_found("no --input given and no default corpus found on this machine; pass --input PATH");
    }
    std::vector<std::string> names;
    for (const auto& p : inputs) names.push_back(p.string());
    spdlog::info("no --input given: training on the default corpus: {}", join(names, ", "));
  }
  for (const auto& input : inputs) {
    std::error_code ec;
    if (!fs::exists(input, ec)) return Status::not_found("--input '" + input.string() + "' does not exist");
  }

  const auto start = std::chrono::steady_clock::now();
  FW_ASSIGN_OR_RETURN(auto files, list_corpus_files(inputs, options));
  if (files.empty()) {
    return Status::invalid_argument(
        "no source files found under the --input paths (binary, vendored and "
        "files above --max-file-bytes are skipped)");
  }
  spdlog::info("training a {}-token byte-level BPE tokenizer on {} files", o.vocab_size, files.size());
  BpeTrainerStats stats;
  FW_ASSIGN_OR_RETURN(auto tokenizer, train_bpe_tokenizer(files, options, &stats));

  fs::path out(o.out);
  if (out.has_parent_path()) FW_RETURN_IF_ERROR(default_file_system().create_directories(out.parent_path()));
  FW_RETURN_IF_ERROR(tokenizer.save(out));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (global.json) {
    print_json_line({{"out", out.string()},
                     {"files", stats.files},
                     {"files_skipped", stats.files_skipped},
                     {"bytes", stats.bytes},
                     {"unique_words", stats.unique_words},
                     {"merges", stats.merges},
                     {"vocab_size", tokenizer.vocab_size()},
                     {"read_seconds", stats.read_seconds},
                     {"merge_seconds", stats.merge_seconds},
                     {"seconds", seconds},
                     {"content_hash", tokenizer.content_hash()}});
    return Status::OK();
  }
  print_text(fmt::format(
      "trained {} (vocab size {}, {} merges)\n"
      "  corpus:  {} files ({} skipped), {}, {} unique words\n"
      "  time:    {:.1f} s (reading {:.1f} s, merging {:.1f} s)\n"
      "  hash:    sha256:{}\n",
      out.string(), tokenizer.vocab_size(), stats.merges, stats.files, stats.files_skipped, human_bytes(stats.bytes),
      stats.unique_words, seconds, stats.read_seconds, stats.merge_seconds, tokenizer.content_hash()));
  return Status::OK();
}

// ---- encode ----

Status run_encode(const EncodeOptions& o, const GlobalOptions& global) {
  FW_ASSIGN_OR_RETURN(auto tokenizer, load_tokenizer(o.tokenizer));
  std::string text;
  if (o.text_option != nullptr && o.text_option->count() > 0) {
    text = o.text;
  } else {
    FW_ASSIGN_OR_RETURN(text, read_stdin());
  }
  std::vector<TokenId> ids = tokenizer.encode(text, o.special);

  std::vector<std::string> tokens;
  if (o.tokens) {
    for (TokenId id : ids) tokens.push_back(tokenizer.id_to_token(id).value_or(""));
  }
  if (global.json) {
    nlohmann::json result = {{"ids", ids}};
    if (o.tokens) result["tokens"] = tokens;
    print_json_line(result);
    return Status::OK();
  }
  std::string out;
  if (o.tokens) {
    for (size_t i = 0; i < ids.size(); ++i) out += std::to_string(ids[i]) + "\t" + tokens[i] + "\n";
  } else {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i > 0) out += ' ';
      out += std::to_string(ids[i]);
    }
    out += '\n';
  }
  print_text(out);
  return Status::OK();
}

// ---- decode ----

// Ids as written by people or by `encode`: "1 2 3", "1,2,3", "[1, 2, 3]", or
// encode's JSON object {"ids": [...]}.
Result<std::vector<TokenId>> parse_ids(std::string_view text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && text[first] == '{') {
    nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded() || !value.is_object() || !value.contains("ids") || !value["ids"].is_array()) {
      return Status::invalid_argument("ids given as JSON must be an object with an \"ids\" array");
    }
    std::vector<TokenId> ids;
    for (const auto& id : value["ids"]) {
      if (!id.is_number_integer()) return Status::invalid_argument("\"ids\" must hold integers, got " + id.dump());
      ids.push_back(id.get<TokenId>());
    }
    return ids;
  }
  std::vector<TokenId> ids;
  size_t i = 0;
  auto is_separator = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == '[' || c == ']';
  };
  while (i < text.size()) {
    if (is_separator(text[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < text.size() && !is_separator(text[end])) ++end;
    std::string_view word = text.substr(i, end - i);
    int64_t value = 0;
    auto [ptr, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
    if (ec != std::errc() || ptr != word.data() + word.size() || value < INT32_MIN || value > INT32_MAX) {
      return Status::invalid_argument("'" + std::string(word) +
                                      "' is not a token id (expected integers such as \"1 2 3\")");
    }
    ids.push_back(static_cast<TokenId>(value));
    i = end;
  }
  return ids;
}

Status run_decode(const DecodeOptions& o, const GlobalOptions& global) {
  FW_ASSIGN_OR_RETURN(auto tokenizer, load_tokenizer(o.tokenizer));
  std::string text;
  if (o.ids_option != nullptr && o.ids_option->count() > 0) {
    text = o.ids;
  } else {
    FW_ASSIGN_OR_RETURN(text, read_stdin());
  }
  FW_ASSIGN_OR_RETURN(auto ids, parse_ids(text));
  for (TokenId id : ids) {
    if (!tokenizer.id_to_token(id).has_value()) {
      return Status::invalid_argument("token id " + std::to_string(id) + " is not in the vocabulary (size " +
                                      std::to_string(tokenizer.vocab_size()) + ")");
    }
  }
  std::string decoded = tokenizer.decode(ids, o.skip_special);
  if (global.json) {
    print_json_line({{"text", decoded}});
    return Status::OK();
  }
  // The text exactly, so that `decode > file` round-trips; a newline only to
  // keep an interactive prompt off the text's last line.
  if (::isatty(STDOUT_FILENO) == 1 && (decoded.empty() || decoded.back() != '\n')) decoded += '\n';
  print_text(decoded);
  return Status::OK();
}

// ---- info ----

Status run_info(const InfoOptions& o, const GlobalOptions& global) {
  FW_ASSIGN_OR_RETURN(auto tokenizer, load_tokenizer(o.tokenizer));
  const auto& added = tokenizer.added_tokens();
  if (global.json) {
    nlohmann::json added_json = nlohmann::json::array();
    nlohmann::json special_json = nlohmann::json::array();
    for (const auto& token : added) {
      added_json.push_back({{"id", token.id}, {"content", token.content}, {"special", token.special}});
      if (token.special) special_json.push_back(token.content);
    }
    print_json_line({{"path", o.tokenizer},
                     {"kind", std::string(tokenizer.kind())},
                     {"vocab_size", tokenizer.vocab_size()},
                     {"merges", tokenizer.merge_count()},
                     {"added_tokens", added_json},
                     {"special_tokens", special_json},
                     {"content_hash", tokenizer.content_hash()}});
    return Status::OK();
  }
  size_t special_count = 0;
  std::string added_lines;
  for (const auto& token : added) {
    special_count += token.special ? 1 : 0;
    added_lines += fmt::format("    {:>7}  {}{}\n", token.id, token.content, token.special ? "  (special)" : "");
  }
  print_text(fmt::format(
      "{}\n  kind:          {}\n  vocab size:    {}\n  merges:        {}\n  added tokens:  {} ({} special)\n{}"
      "  content hash:  sha256:{}\n",
      o.tokenizer, tokenizer.kind(), tokenizer.vocab_size(), tokenizer.merge_count(), added.size(), special_count,
      added_lines, tokenizer.content_hash()));
  return Status::OK();
}

void add_tokenizer_option(CLI::App& sub, std::string& target) {
  // Not ->required(): it may come from --config, which CLI11 applies after the
  // required check of a subcommand would run; the action checks instead.
  sub.add_option("--tokenizer", target, "Hugging Face tokenizer.json to use (required)")->type_name("FILE");
}

}  // namespace

void add_tokenizer_command(CLI::App& app, const GlobalOptions& global, CommandAction* action) {
  CLI::App* tokenizer = app.add_subcommand("tokenizer", "Train, inspect and run BPE tokenizers (tokenizer.json)");
  tokenizer->require_subcommand(1);
  tokenizer->footer(global_options_footer());

  // ---- train ----
  auto train = std::make_shared<TrainOptions>();
  CLI::App* train_cmd = tokenizer->add_subcommand(
      "train", "Train a byte-level BPE tokenizer on source code and save it as tokenizer.json");
  train_cmd
      ->add_option("--input", train->inputs,
                   "Files or directories to train on (directories are walked; binary, vendored and VCS "
                   "files skipped). Default: the embedded corpus (Python standard library, /usr/include, "
                   "flywheel's source)")
      ->type_name("PATH")
      ->expected(1, -1);
  train_cmd
      ->add_option("--vocab-size", train->vocab_size, "Vocabulary size, including the 256 bytes and special tokens")
      ->capture_default_str()
      ->check(positive_integer());
  train_cmd->add_option("--min-frequency", train->min_frequency, "Pairs seen fewer times are never merged")
      ->capture_default_str()
      ->check(positive_integer());
  train_cmd->add_option("--threads", train->threads, "Threads for reading and counting (0: all cores)")
      ->capture_default_str()
      ->check(non_negative_integer());
  train_cmd
      ->add_option("--max-bytes", train->max_bytes,
                   "Stop reading the corpus after this many bytes, e.g. 50MB or 1GiB (0: no limit)")
      ->transform(CLI::AsSizeValue(true).description(""))
      ->type_name("SIZE")
      ->capture_default_str();
  train_cmd->add_option("--max-file-bytes", train->max_file_bytes, "Skip larger files (likely generated), e.g. 1MiB")
      ->transform(CLI::AsSizeValue(true).description(""))
      ->type_name("SIZE")
      ->capture_default_str();
  train_cmd->add_option("--special-tokens", train->special_tokens, "Special tokens to reserve (ids 0, 1, ...)")
      ->type_name("TOKEN")
      ->expected(1, -1)
      ->default_str(join(default_special_tokens(), " "));
  train_cmd->add_option("--out", train->out, "Where to write tokenizer.json (written atomically)")
      ->type_name("FILE")
      ->capture_default_str();
  train_cmd->footer(global_options_footer());
  train_cmd->callback([train, &global, action] { *action = [train, &global] { return run_train(*train, global); }; });

  // ---- encode ----
  auto encode = std::make_shared<EncodeOptions>();
  CLI::App* encode_cmd = tokenizer->add_subcommand("encode", "Turn text into token ids");
  add_tokenizer_option(*encode_cmd, encode->tokenizer);
  encode->text_option =
      encode_cmd->add_option("--text", encode->text, "Text to encode (default: all of standard input, byte for byte)");
  encode_cmd->add_flag("--special", encode->special,
                       "Add the post-processor's special tokens (e.g. <s> for Llama 2), like Hugging Face's "
                       "add_special_tokens=True");
  encode_cmd->add_flag("--tokens", encode->tokens, "Also show each token's string (one 'id<TAB>token' per line)");
  encode_cmd->footer(global_options_footer());
  encode_cmd->callback(
      [encode, &global, action] { *action = [encode, &global] { return run_encode(*encode, global); }; });

  // ---- decode ----
  auto decode = std::make_shared<DecodeOptions>();
  CLI::App* decode_cmd = tokenizer->add_subcommand("decode", "Turn token ids back into text");
  add_tokenizer_option(*decode_cmd, decode->tokenizer);
  decode->ids_option = decode_cmd->add_option(
      "--ids", decode->ids,
      "Ids such as \"1 2 3\" or \"[1, 2, 3]\" (default: standard input; encode's --json output also works)");
  decode_cmd->add_flag("--skip-special", decode->skip_special, "Leave special tokens out of the text");
  decode_cmd->footer(global_options_footer());
  decode_cmd->callback(
      [decode, &global, action] { *action = [decode, &global] { return run_decode(*decode, global); }; });

  // ---- info ----
  auto info = std::make_shared<InfoOptions>();
  CLI::App* info_cmd =
      tokenizer->add_subcommand("info", "Show a tokenizer's kind, vocabulary, merges and special tokens");
  add_tokenizer_option(*info_cmd, info->tokenizer);
  info_cmd->footer(global_options_footer());
  info_cmd->callback([info, &global, action] { *action = [info, &global] { return run_info(*info, global); }; });
}

}  // namespace flywheel::cli
