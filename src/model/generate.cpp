#include "model/generate.h"

#include <algorithm>
#include <chrono>

namespace flywheel {

Result<GenerationResult> generate(Model& model, const GenerationRequest& request, const TextCallback& on_text) {
  FW_RETURN_IF_ERROR(request.params.validate());
  if (request.prompt.empty()) return Status::invalid_argument("generate: the prompt has no tokens");
  const ModelConfig& config = model.config();
  const int64_t context = config.max_position_embeddings;
  if (static_cast<int64_t>(request.prompt.size()) >= context)
    return Status::out_of_range("the prompt has " + std::to_string(request.prompt.size()) +
                                " tokens; the model's context is " + std::to_string(context));
  std::vector<TokenId> stop_ids = request.stop_token_ids;
  for (int64_t id : config.eos_token_ids) stop_ids.push_back(static_cast<TokenId>(id));

  const int64_t budget =
      std::min<int64_t>(request.params.max_tokens, context - static_cast<int64_t>(request.prompt.size()));
  auto cache = model.new_cache(static_cast<int64_t>(request.prompt.size()) + budget);
  Sampler sampler(request.params);
  StreamDecoder decoder(model.tokenizer(), /*skip_special_tokens=*/true);
  StopMatcher stops(request.params.stop);
  GenerationResult result;
  std::vector<TokenId> context_tokens = request.prompt;
  bool cancelled = false;
  auto emit = [&](const std::string& text) {
    if (text.empty()) return;
    result.text += text;
    if (on_text && !on_text(text)) cancelled = true;
  };

  using Clock = std::chrono::steady_clock;
  auto started = Clock::now();
  std::span<const TokenId> next = request.prompt;
  TokenId sampled_id = 0;
  result.finish_reason = "length";
  for (int64_t step = 0; step < budget; ++step) {
    ForwardItem item{cache.get(), next, false};
    FW_ASSIGN_OR_RETURN(auto logits, model.forward(std::span<ForwardItem>(&item, 1)));
    if (step == 0) result.prefill_seconds = std::chrono::duration<double>(Clock::now() - started).count();
    SampledToken token = sampler.sample(logits[0], context_tokens, request.prompt.size());
    if (std::find(stop_ids.begin(), stop_ids.end(), token.id) != stop_ids.end()) {
      result.finish_reason = "stop";
      break;
    }
    result.tokens.push_back(token.id);
    context_tokens.push_back(token.id);
    if (request.params.logprobs > 0) result.logprobs.push_back(token);
    auto out = stops.push(decoder.push(token.id));
    emit(out.text);
    if (out.stopped) {
      result.finish_reason = "stop";
      break;
    }
    if (cancelled) {
      result.finish_reason = "cancelled";
      break;
    }
    sampled_id = token.id;
    next = std::span<const TokenId>(&sampled_id, 1);
  }
  if (!stops.stopped() && !cancelled) {
    auto out = stops.push(decoder.finish());
    emit(out.text);
    if (!out.stopped) emit(stops.finish());
    else result.finish_reason = "stop";
  }
  result.decode_seconds = std::chrono::duration<double>(Clock::now() - started).count() - result.prefill_seconds;
  return result;
}

}  // namespace flywheel
