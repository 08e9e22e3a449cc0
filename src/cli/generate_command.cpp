// `flywheel generate`: stream a completion (plain prompt or fill-in-the-middle)
// from a checkpoint to stdout.
#include <fmt/format.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/json_output.h"
#include "model/generate.h"
#include "model/prompt_format.h"

namespace flywheel::cli {
namespace {

struct GenerateOptions {
  std::string model;
  std::string prompt;
  const CLI::Option* prompt_option = nullptr;
  std::string prefix, suffix;
  const CLI::Option* prefix_option = nullptr;
  std::string prompt_format;
  bool spm = false;
  bool bf16 = false;
  int threads = 0;
  SamplingParams params;
  std::optional<uint64_t> seed;
};

Status run_generate(GenerateOptions& o, const GlobalOptions& global) {
  if (o.model.empty()) return Status::invalid_argument("--model DIR is required");
  const bool fim = o.prefix_option != nullptr && o.prefix_option->count() > 0;
  const bool plain = o.prompt_option != nullptr && o.prompt_option->count() > 0;
  if (fim && plain) return Status::invalid_argument("give either --prompt or --prefix/--suffix, not both");
  o.params.seed = o.seed;
  FW_RETURN_IF_ERROR(o.params.validate());

  LoadOptions load;
  load.dtype = o.bf16 ? WeightDtype::kBFloat16 : WeightDtype::kFloat32;
  load.threads = o.threads;
  FW_ASSIGN_OR_RETURN(Model model, Model::load(o.model, load));
  const Tokenizer& tokenizer = model.tokenizer();

  GenerationRequest request;
  request.params = o.params;
  if (fim) {
    FW_ASSIGN_OR_RETURN(PromptFormat format, o.prompt_format.empty()
                                                 ? detect_prompt_format(tokenizer, model.config().model_type)
                                                 : prompt_format_from_name(o.prompt_format));
    FimRequest fim_request{o.prefix, o.suffix, {}, {}, {}};
    FW_ASSIGN_OR_RETURN(Prompt prompt,
                        build_fim_prompt(format, tokenizer, fim_request, o.spm ? FimOrder::kSpm : FimOrder::kPsm));
    request.prompt = encode_prompt(tokenizer, prompt);
    request.stop_token_ids = prompt.stop.token_ids;
    for (const std::string& s : prompt.stop.strings) request.params.stop.push_back(s);
  } else {
    // As Hugging Face tokenizes: with the post-processor's special tokens (BOS where the tokenizer adds one).
    request.prompt = tokenizer.encode(o.prompt, /*add_special_tokens=*/true);
  }
  if (request.prompt.empty()) {
    if (!model.config().bos_token_id)
      return Status::invalid_argument("the prompt is empty and the model has no bos_token_id to start from");
    request.prompt.push_back(static_cast<TokenId>(*model.config().bos_token_id));
  }

  TextCallback stream;
  if (!global.json) {
    stream = [](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    };
  }
  FW_ASSIGN_OR_RETURN(GenerationResult result, generate(model, request, stream));
  const double decode_tps = result.tokens.size() > 1 && result.decode_seconds > 0
                                ? static_cast<double>(result.tokens.size() - 1) / result.decode_seconds
                                : 0.0;
  if (global.json) {
    nlohmann::json out = {{"text", result.text},
                          {"finish_reason", result.finish_reason},
                          {"prompt_tokens", request.prompt.size()},
                          {"completion_tokens", result.tokens.size()},
                          {"tokens", result.tokens},
                          {"prefill_seconds", result.prefill_seconds},
                          {"decode_seconds", result.decode_seconds},
                          {"decode_tokens_per_second", decode_tps}};
    if (o.params.logprobs > 0) {
      nlohmann::json lp = nlohmann::json::array();
      for (const SampledToken& t : result.logprobs) {
        nlohmann::json top = nlohmann::json::array();
        for (const TokenLogprob& alt : t.top) top.push_back({{"id", alt.id}, {"logprob", alt.logprob}});
        lp.push_back({{"id", t.id}, {"logprob", t.logprob}, {"top", top}});
      }
      out["logprobs"] = lp;
    }
    print_json_line(out);
  } else {
    print_text("\n");
    std::fprintf(stderr, "[%zu prompt tokens, %zu generated, %s; prefill %.3f s, decode %.1f tokens/s]\n",
                 request.prompt.size(), result.tokens.size(), result.finish_reason.c_str(), result.prefill_seconds,
                 decode_tps);
  }
  return Status::OK();
}

}  // namespace

void add_generate_command(CLI::App& app, const GlobalOptions& global, CommandAction* action) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a checkpoint, streamed to stdout");
  cmd->add_option("--model", o->model, "Checkpoint directory")->type_name("DIR");
  o->prompt_option = cmd->add_option("--prompt", o->prompt, "Text to continue (tokenized with BOS where the tokenizer adds one)");
  o->prefix_option = cmd->add_option("--prefix", o->prefix, "Fill-in-the-middle: the text before the cursor");
  cmd->add_option("--suffix", o->suffix, "Fill-in-the-middle: the text after the cursor");
  const auto format_names = prompt_format_names();
  cmd->add_option("--prompt-format", o->prompt_format,
                  "FIM/chat format (default: detected from the tokenizer): " +
                      join(std::vector<std::string>(format_names.begin(), format_names.end()), ", "));
  cmd->add_flag("--spm", o->spm, "Fill-in-the-middle in suffix-prefix-middle order");
  cmd->add_option("--max-tokens", o->params.max_tokens, "Most tokens to generate")->capture_default_str();
  cmd->add_option("--temperature", o->params.temperature, "Sampling temperature; 0 is greedy")->capture_default_str();
  cmd->add_option("--top-k", o->params.top_k, "Keep the k most likely tokens (0: off)")->capture_default_str();
  cmd->add_option("--top-p", o->params.top_p, "Nucleus sampling mass (1: off)")->capture_default_str();
  cmd->add_option("--min-p", o->params.min_p, "Drop tokens below min-p times the top probability")->capture_default_str();
  cmd->add_option("--repetition-penalty", o->params.repetition_penalty, "CTRL-style penalty on seen tokens")
      ->capture_default_str();
  cmd->add_option("--presence-penalty", o->params.presence_penalty, "OpenAI presence penalty")->capture_default_str();
  cmd->add_option("--frequency-penalty", o->params.frequency_penalty, "OpenAI frequency penalty")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Random seed (same seed, same output)");
  cmd->add_option("--stop", o->params.stop, "Stop string (repeatable); not included in the output");
  cmd->add_option("--logprobs", o->params.logprobs, "Report this many top alternatives per token (with --json)");
  cmd->add_flag("--bf16", o->bf16, "Keep weights in bf16 (half the memory)");
  cmd->add_option("--threads", o->threads, "Threads (default: all cores)")->check(non_negative_integer());
  cmd->footer(global_options_footer());
  cmd->callback([o, &global, action] { *action = [o, &global] { return run_generate(*o, global); }; });
}

}  // namespace flywheel::cli
