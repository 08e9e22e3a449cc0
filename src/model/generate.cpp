#include "model/generate.h"

#include <chrono>

#include "model/sequence_generator.h"

namespace flywheel {

Result<GenerationResult> generate(Model& model, const GenerationRequest& request, const TextCallback& on_text) {
  FW_RETURN_IF_ERROR(validate_generation_request(model, request));
  SequenceGenerator generator(model, request);
  auto cache = model.new_cache(static_cast<int64_t>(request.prompt.size()) + generator.budget());

  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  std::span<const TokenId> next = request.prompt;
  TokenId fed = 0;
  bool first = true;
  while (!generator.done()) {
    float show = 0;
    ForwardItem item{cache.get(), next, false, generator.wants_show_probability() ? &show : nullptr};
    FW_ASSIGN_OR_RETURN(auto logits, model.forward(std::span<ForwardItem>(&item, 1)));
    if (first) {
      generator.result().prefill_seconds = std::chrono::duration<double>(Clock::now() - started).count();
      first = false;
    }
    std::string text = generator.next(logits[0], item.show_probability ? std::optional<float>(show) : std::nullopt);
    if (!text.empty() && on_text && !on_text(text)) generator.cancel("cancelled");
    fed = generator.last_token();
    next = std::span<const TokenId>(&fed, 1);
  }
  GenerationResult& result = generator.result();
  result.decode_seconds = std::chrono::duration<double>(Clock::now() - started).count() - result.prefill_seconds;
  return std::move(result);
}

}  // namespace flywheel
