// The per-sequence side of generation, shared by generate() (one sequence)
// and the serving engine (many sequences batched per step): sampling, stop
// tokens, stop strings, single-line mode, and text streamed without half a
// UTF-8 character. The caller owns the forward passes: it hands next() the
// logits of the sequence's latest position and feeds last_token() back.
//
// Thread-safety: one generator per sequence, used from one thread at a time.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "model/generate.h"
#include "model/sampler.h"
#include "tokenizer/tokenizer.h"

namespace flywheel {

class SequenceGenerator {
 public:
  // `request` must have passed validate_generation_request().
  SequenceGenerator(const Model& model, const GenerationRequest& request);

  // Tokens this sequence may still generate in total: min(max_tokens, context - prompt).
  int64_t budget() const { return budget_; }

  // Whether the forward pass that ends the prompt should compute the show
  // head's probability (ForwardItem::show_probability) for next().
  bool wants_show_probability() const { return wants_show_probability_ && result_.tokens.empty() && !done_; }

  // Samples the next token from `logits` (one row of V floats). Returns the
  // text that became final (may be empty). After it returns, done() says
  // whether generation ended (stop token, stop string, single line, budget).
  // `show_probability` (the first call only): below params.min_show_prob,
  // nothing is generated and the result is withheld.
  std::string next(std::span<const float> logits, std::optional<float> show_probability = std::nullopt);
  bool done() const { return done_; }
  // The token sampled last: the input of the next forward step.
  TokenId last_token() const { return last_token_; }

  // Ends early (client gone, superseded, deadline): no more text is emitted.
  void cancel(const std::string& reason);

  // The result so far; after done() or cancel() it is final.
  GenerationResult& result() { return result_; }

 private:
  std::string finish_text();  // flushes decoder and stop matcher at the end
  std::string apply_single_line(std::string text);

  const GenerationRequest& request_;
  std::vector<TokenId> stop_ids_;
  int64_t budget_ = 0;
  Sampler sampler_;
  StreamDecoder decoder_;
  StopMatcher stops_;
  std::vector<TokenId> context_tokens_;
  GenerationResult result_;
  TokenId last_token_ = 0;
  bool done_ = false;
  bool wants_show_probability_ = false;
  bool seen_visible_text_ = false;  // single-line mode: a newline ends the line only after this
};

// Checks sampling parameters, a non-empty prompt, and that it fits the context.
Status validate_generation_request(const Model& model, const GenerationRequest& request);

}  // namespace flywheel
