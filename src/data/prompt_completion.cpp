#include "data/prompt_completion.h"

#include <algorithm>

namespace flywheel::data {

PromptCompletionTokens encode_prompt_completion(const Tokenizer& tokenizer, std::string_view prompt,
                                                std::string_view completion, TokenId eot, size_t width) {
  PromptCompletionTokens out{tokenizer.encode(prompt), tokenizer.encode(completion)};
  out.completion.push_back(eot);
  if (out.prompt.size() + out.completion.size() > width) {
    // The end of the prompt (next to the cursor) matters most, so its start goes first.
    const size_t drop = std::min(out.prompt.size(), out.prompt.size() + out.completion.size() - width);
    out.prompt.erase(out.prompt.begin(), out.prompt.begin() + static_cast<std::ptrdiff_t>(drop));
    if (out.completion.size() > width - out.prompt.size()) out.completion.resize(width - out.prompt.size());
  }
  return out;
}

}  // namespace flywheel::data
