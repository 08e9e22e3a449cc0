// One supervised example as tokens: prompt, then completion + <|endoftext|>,
// cut to a width the way SFT rows are (loader.h). Shared by the SFT loader
// and the learn module's objectives, so that DPO, KTO, policy gradient and
// distillation see exactly the tokens SFT would.
//
// Special-token strings in the text (e.g. "<|fim_prefix|>") are matched as
// special tokens, so FIM prompts work. When prompt + completion + eot is
// longer than `width`, tokens go from the start of the prompt first, then
// from the end of the completion (which may then lose its <|endoftext|>).
//
// Thread-safety: a pure function of its arguments.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace flywheel::data {

struct PromptCompletionTokens {
  std::vector<TokenId> prompt;
  std::vector<TokenId> completion;  // ends with `eot` unless the width cut it
};

PromptCompletionTokens encode_prompt_completion(const Tokenizer& tokenizer, std::string_view prompt,
                                                std::string_view completion, TokenId eot, size_t width);

}  // namespace flywheel::data
