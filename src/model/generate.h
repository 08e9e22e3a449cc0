// Text generation over a Model: prefill the prompt, then sample token by
// token, streaming text that never splits a UTF-8 character and never shows
// a stop string.
//
// Thread-safety: like Model (one generation at a time on a model).
// Errors: invalid sampling parameters or a prompt longer than the context.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/model.h"
#include "model/sampler.h"

namespace flywheel {

struct GenerationRequest {
  std::vector<TokenId> prompt;  // at least one token
  SamplingParams params;
  std::vector<TokenId> stop_token_ids;  // besides the model's eos ids
  // Stop at the first newline once the completion has shown non-whitespace
  // text (an editor's single-line inline completion). The newline is not part
  // of the text. A completion that starts with line breaks and indentation
  // still gets its first line.
  bool single_line = false;
};

struct GenerationResult {
  std::string text;
  std::vector<TokenId> tokens;         // generated ids (a stop token is not included)
  std::string finish_reason;           // "stop", "length" or "cancelled"
  std::vector<SampledToken> logprobs;  // one per generated token when params.logprobs > 0
  double prefill_seconds = 0;
  double decode_seconds = 0;
  // The show head's P(accept) at the prompt's end, when params.min_show_prob
  // asked for it and the model has a head; withheld: it was below.
  std::optional<float> show_probability;
  bool withheld = false;
};

// Called with each piece of text as it becomes final; return false to cancel.
using TextCallback = std::function<bool(std::string_view piece)>;

Result<GenerationResult> generate(Model& model, const GenerationRequest& request, const TextCallback& on_text = {});

}  // namespace flywheel
