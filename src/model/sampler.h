// Sampling the next token from a vector of logits, and stop-string matching
// over streamed text, as OpenAI-compatible servers do.
//
// Sampler: the logits of one position (one float per vocabulary entry) go
// through, in this order (the order Hugging Face's generate and llama.cpp
// document):
//   1. penalties: repetition (HF/CTRL, over prompt and output), then presence
//      and frequency (OpenAI, over generated tokens only);
//   2. temperature (0 = greedy: argmax after penalties, ties to the lowest id);
//   3. top-k, 4. top-p (on the top-k renormalized distribution), 5. min-p;
//   6. a draw from what is left, renormalized.
// Reported log-probabilities are log-softmax of that processed distribution
// (what is left after step 5, at the given temperature), as OpenAI reports
// them. For greedy decoding they are the log-softmax of the penalized logits
// at temperature 1 (a temperature-0 distribution would report 0 for the
// argmax and -inf for the rest, which tells a client nothing).
// Cost per call: a few vectorized passes over the vocabulary (copy, scale and
// maximum, exp) and, per filter, one or two threshold passes that cut the
// candidates down before anything is sorted (top-p buckets the probability
// mass by distance below the maximum to find its cut): only a nucleus that
// is itself most of a 150k vocabulary gets sorted in full. About 0.3-1 ms
// for 151936 logits on one core.
// Greedy decoding skips steps 3-5. A NaN or -inf logit is never chosen (if
// every logit is, the answer is id 0 with logprob -inf); +inf wins outright.
//
// StopMatcher: consumes generated text pieces and says which text is safe to
// show now, holding back a tail that could still become a stop string.
//
// Thread-safety: a Sampler or StopMatcher belongs to one sequence and one
// thread; SamplingParams is a plain value.
// Errors: SamplingParams::validate() names the bad field and its allowed
// range; sample() and StopMatcher never fail (sample() asserts a non-empty
// logits span).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace flywheel {

struct SamplingParams {
  float temperature = 1.0f;  // [0, 2]; 0 = greedy
  int top_k = 0;             // >= 0; 0 = off
  float top_p = 1.0f;        // [0, 1]; 1 = off; 0 keeps the most likely token only
  float min_p = 0.0f;        // [0, 1]; 0 = off
  float repetition_penalty =
      1.0f;  // > 0; 1 = off. Seen tokens (prompt + output): logit > 0 → logit / p, else logit * p
  float presence_penalty = 0.0f;   // [-2, 2]; subtracted once from each token generated at least once
  float frequency_penalty = 0.0f;  // [-2, 2]; subtracted per occurrence among generated tokens
  std::optional<uint64_t> seed;    // unset: seeded from std::random_device
  int logprobs = 0;                // [0, 20]: how many top alternatives to report
  std::vector<std::string> stop;   // non-empty strings, at most kMaxStopStrings
  int max_tokens = 256;            // >= 1
  // [0, 1]; 0 = off. The completion ends before the first token whose
  // probability under the model (softmax of the raw logits, before penalties,
  // temperature and filters) is below this: a suggestion holds only what the
  // model is sure of, and one whose first token is unsure comes back empty
  // (an editor shows nothing).
  float min_token_prob = 0.0f;
  // [0, 1]; 0 = off. With a model that has a show head (model/show_head.h):
  // nothing is generated when the head's P(accept) at the prompt's end is
  // below this (the result is empty and says it was withheld). A model
  // without a head shows everything.
  float min_show_prob = 0.0f;
  // OpenAI's logit_bias: (token id, bias in [-100, 100]) added to the logits
  // after the penalties, before temperature (100 all but forces the token,
  // -100 all but bans it). Ids outside the vocabulary are refused by
  // validate_generation_request().
  std::vector<std::pair<TokenId, float>> logit_bias;

  static constexpr int kMaxLogprobs = 20;
  static constexpr size_t kMaxLogitBias = 1024;
  static constexpr size_t kMaxStopStrings = 64;

  // OK, or invalid_argument naming the field, its value and the allowed range.
  Status validate() const;
  bool greedy() const { return temperature == 0.0f; }
};

struct TokenLogprob {
  TokenId id = 0;
  float logprob = 0.0f;
};

struct SampledToken {
  TokenId id = 0;
  float logprob = 0.0f;           // of `id` in the processed distribution
  std::vector<TokenLogprob> top;  // up to params.logprobs entries, most likely first, ties by lower id;
                                  // only tokens that survived the filters (finite logprob)
};

class Sampler {
 public:
  // `params` should have passed validate(); out-of-range values are clamped.
  explicit Sampler(SamplingParams params);

  // Picks the next token. `logits` has one entry per vocabulary id.
  // `context_tokens` is the prompt followed by the tokens generated so far;
  // the first `prompt_length` of them are the prompt (repetition penalty sees
  // all of them, presence/frequency penalties only the rest). Ids outside
  // the logits range are ignored by the penalties.
  SampledToken sample(std::span<const float> logits, std::span<const TokenId> context_tokens = {},
                      size_t prompt_length = 0);

  // Applies step 1 (penalties) in place: exposed so tests and callers that
  // inspect the processed logits see exactly what sample() uses.
  void apply_penalties(std::span<float> logits, std::span<const TokenId> context_tokens, size_t prompt_length) const;

  const SamplingParams& params() const { return params_; }
  // The seed actually used (params.seed or the one drawn from random_device).
  uint64_t seed() const { return seed_; }

 private:
  // A uniform double in [0, 1) from 53 bits of the engine: the same sequence
  // on every standard library (std::uniform_real_distribution is not).
  double next_uniform();
  // Fill candidates_ (in id order) from work_ (processed logits) and probs_:
  // at least the k best ids (or every id with non-zero probability)...
  void collect_at_least(float max_logit, size_t k);
  // ...or a small superset of the top-p nucleus: best ids holding `target` mass.
  void collect_nucleus_superset(float max_logit, double target);

  SamplingParams params_;
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::vector<float> work_;          // processed logits, reused between calls
  std::vector<TokenId> candidates_;  // ids still in the running, reused between calls
  std::vector<float> probs_;         // exp(logit - max) of the candidates
};

// Stop-string matching over streamed text (e.g. StreamDecoder output).
//   StopMatcher m({"\n\n", "```"});
//   for each piece: auto r = m.push(piece); emit(r.text); if (r.stopped) break;
//   at the end (no stop hit): emit(m.finish());
// The text emitted by push() and finish() is the generated text cut right
// before the earliest stop string (the stop itself is never emitted), and a
// prefix of the text is released as soon as no stop string can start in it.
// Pieces are expected to be whole UTF-8 characters (StreamDecoder's are);
// held-back text then always starts at a character boundary.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stop_strings);

  struct Output {
    std::string text;      // safe to emit now
    bool stopped = false;  // a stop string completed; nothing more will be emitted
  };

  // Adds a piece of generated text. After a stop, returns {"", true}.
  Output push(std::string_view piece);
  // End of generation without a stop: returns the held-back text (empty
  // after a stop).
  std::string finish();

  bool stopped() const { return stopped_; }
  // The stop string that matched (empty until stopped).
  const std::string& matched() const { return matched_; }
  // Bytes currently held back.
  size_t held_bytes() const { return held_.size(); }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  std::string matched_;
  bool stopped_ = false;
};

}  // namespace flywheel
