// The in-process backend: a checkpoint asked through build_fim_prompt and
// generate(), as `flywheel generate --prefix/--suffix` does.
#include <chrono>
#include <mutex>

#include "eval/prompt_window.h"
#include "eval/replay.h"
#include "eval/typing.h"
#include "model/generate.h"
#include "model/prompt_format.h"

namespace flywheel::eval {
namespace {

class ModelBackend final : public CompletionBackend {
 public:
  ModelBackend(std::shared_ptr<Model> model, std::shared_ptr<std::mutex> shared_lock, PromptFormat format,
               GenerationOptions generation)
      : model_(std::move(model)), lock_(std::move(shared_lock)), format_(std::move(format)), generation_(generation) {}

  Result<Completion> complete(const CompletionQuery& query) override {
    const auto started = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> guard;
    if (lock_) guard = std::unique_lock(*lock_);
    GenerationRequest request;
    FW_RETURN_IF_ERROR(fit_prompt(query, request));
    request.params.temperature = generation_.temperature;
    request.params.max_tokens = generation_.max_tokens;
    request.params.min_token_prob = generation_.min_token_prob;
    request.params.min_show_prob = generation_.min_show_prob;
    request.params.seed = query.seed;
    // Single-line rule (docs/replay.md): stop at the first newline that
    // follows some non-blank text.
    std::string text;
    TextCallback on_text;
    if (query.single_line) {
      on_text = [&](std::string_view piece) {
        for (char ch : piece) {
          if (ch == '\n' && !trim_trailing_whitespace(text).empty()) {
            return false;
          }
          text += ch;
        }
        return true;
      };
    }
    FW_ASSIGN_OR_RETURN(GenerationResult result, generate(*model_, request, on_text));
    Completion completion;
    completion.text = query.single_line ? text : result.text;
    completion.latency_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    completion.id = query.session + "-" + query.request_key;
    return completion;
  }

  // Nothing to tell a model in this process; events go through the
  // recording wrapper when the replay has a store.
  Status report_outcome(const CompletionQuery&, const Completion&, const OutcomeReport&) override {
    return Status::OK();
  }

 private:
  // Prefix and suffix windows that fit the context with room for max_tokens:
  // 3/4 of the room for the prefix, 1/4 for the suffix, shrunk until the
  // encoded prompt fits.
  Status fit_prompt(const CompletionQuery& query, GenerationRequest& request) const {
    const Tokenizer& tokenizer = model_->tokenizer();
    const int64_t room = model_->config().max_position_embeddings - generation_.max_tokens - 1;
    if (room < 16)
      return Status::invalid_argument("max_tokens " + std::to_string(generation_.max_tokens) +
                                      " leaves no room for a prompt in a context of " +
                                      std::to_string(model_->config().max_position_embeddings));
    double prefix_bytes = static_cast<double>(room) * 3 * 4;  // ~4 bytes a token to start with
    double suffix_bytes = static_cast<double>(room) * 1 * 4;
    for (int attempt = 0; attempt < 16; ++attempt) {
      FimRequest fim{prefix_window(query.prefix, static_cast<size_t>(prefix_bytes)),
                     suffix_window(query.suffix, static_cast<size_t>(suffix_bytes)),
                     {},
                     {},
                     {}};
      FW_ASSIGN_OR_RETURN(Prompt prompt, build_fim_prompt(format_, tokenizer, fim, preferred_fim_order(format_)));
      std::vector<TokenId> ids = encode_prompt(tokenizer, prompt);
      if (static_cast<int64_t>(ids.size()) <= room) {
        request.prompt = std::move(ids);
        request.stop_token_ids = prompt.stop.token_ids;
        request.params.stop = prompt.stop.strings;
        return Status::OK();
      }
      const double shrink = 0.9 * static_cast<double>(room) / static_cast<double>(ids.size());
      prefix_bytes *= shrink;
      suffix_bytes *= shrink;
    }
    return Status::internal("could not fit a FIM prompt into the model's context");
  }

  std::shared_ptr<Model> model_;
  std::shared_ptr<std::mutex> lock_;  // set when the model is shared between workers
  PromptFormat format_;
  GenerationOptions generation_;
};

}  // namespace

Result<BackendFactory> model_backend_factory(const ModelBackendOptions& options) {
  if (options.generation.max_tokens < 1) return Status::invalid_argument("--max-tokens must be at least 1");
  LoadOptions load;
  load.dtype = options.bf16 ? WeightDtype::kBFloat16 : WeightDtype::kFloat32;
  load.threads = options.threads_per_model;
  FW_ASSIGN_OR_RETURN(Model first, Model::load(options.model_dir, load));
  FW_ASSIGN_OR_RETURN(PromptFormat format, detect_prompt_format(first.tokenizer(), first.config().model_type));
  if (format.fim == FimStyle::kNone)
    return Status::unsupported("the model in '" + options.model_dir.string() + "' has no fill-in-the-middle tokens");
  std::shared_ptr<Model> shared;
  std::shared_ptr<std::mutex> lock;
  if (!options.model_per_worker) {
    shared = std::make_shared<Model>(std::move(first));
    lock = std::make_shared<std::mutex>();
  }
  return BackendFactory([=]() -> Result<std::unique_ptr<CompletionBackend>> {
    std::shared_ptr<Model> model = shared;
    if (!model) {
      // Loaded on the worker's own thread: libtorch's thread count (set by
      // load) is a per-thread setting under OpenMP.
      FW_ASSIGN_OR_RETURN(Model copy, Model::load(options.model_dir, load));
      model = std::make_shared<Model>(std::move(copy));
    }
    return std::unique_ptr<CompletionBackend>(
        std::make_unique<ModelBackend>(std::move(model), lock, format, options.generation));
  });
}

}  // namespace flywheel::eval
