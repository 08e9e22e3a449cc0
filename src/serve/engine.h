// The inference engine behind `flywheel serve`: one scheduler thread that
// owns every forward pass, fed by a queue of requests from the HTTP threads.
//
// - Continuous batching: each step prefills (in chunks) and decodes many
//   sequences in one Model::forward call; sequences join and leave between
//   steps.
// - Prompt cache: the KV of recent sequences is kept (LRU, bounded in bytes);
//   a new request reuses the one of its model and cache_scope (tenant)
//   sharing the longest token prefix with it (the keystroke case: each
//   request extends the previous by a few chars).
// - Cancellation: by the caller (client disconnected: on_text returns false
//   or RequestHandle::cancel), by a newer request with the same
//   supersede_key, or by the deadline (t_max_predict_ms).
// - Models: a request names the ServedModel its prompt was tokenized for.
//   Several models may be served at once; a hot swap only changes which
//   model new requests get (see ModelSet in serve/model_set.h); sequences in
//   flight finish on the model they started on.
//
// Thread-safety: submit() and the accessors may be called from any thread.
// Callbacks run on the scheduler thread and must return quickly (copy the
// text into a queue; never block on the network).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "model/model.h"
#include "model/prompt_format.h"
#include "model/sampler.h"

namespace flywheel::serve {

// A loaded checkpoint ready to serve.
struct ServedModel {
  std::string id;                // registry id or checkpoint directory name
  std::string path;              // checkpoint directory
  std::shared_ptr<Model> model;  // forward() is only called by the engine thread
  PromptFormat format;           // FIM and chat style detected from the tokenizer
  int64_t context_length = 0;    // max_position_embeddings
  const Tokenizer& tokenizer() const { return model->tokenizer(); }
};

// Loads a checkpoint directory (fp32 weights unless options say otherwise).
Result<std::shared_ptr<ServedModel>> load_served_model(const std::string& dir, const std::string& id,
                                                       const LoadOptions& options = {});

struct EngineRequest {
  std::shared_ptr<ServedModel> model;
  std::vector<TokenId> prompt;          // at least one token, at most context_length - 1
  SamplingParams params;                // params.stop: text stops; params.max_tokens bounds the output
  std::vector<TokenId> stop_token_ids;  // besides the model's eos ids
  std::string supersede_key;            // non-empty: a later request with the same key cancels this one
  // The prompt cache only reuses entries of the same scope (the tenant), so
  // cached_tokens never tells one tenant about another's prompts.
  std::string cache_scope;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // Single-line mode: stop at the first newline once some non-whitespace
  // text has been produced (editors' inline completion). Multi-line when false.
  bool single_line = false;
};

struct EngineResult {
  std::string text;                    // final text (stop strings removed)
  std::vector<TokenId> tokens;         // generated ids
  std::vector<SampledToken> logprobs;  // when params.logprobs > 0
  std::string finish_reason;           // "stop", "length", "cancelled", "superseded", "deadline"
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;  // prompt tokens reused from the prompt cache
  double queue_ms = 0, prefill_ms = 0, decode_ms = 0;
  std::string model_id;
  std::optional<float> show_probability;  // the show head's P(accept), when min_show_prob asked for it
  bool withheld = false;                  // below min_show_prob: nothing generated
};

// Called on the scheduler thread with each piece of text as it becomes final
// (never half a UTF-8 character, never part of a stop string). Return false
// to cancel the request.
using OnText = std::function<bool(std::string_view piece)>;
// Called exactly once, on the scheduler thread (or on the submitting thread
// when the request is rejected before it is queued).
using OnDone = std::function<void(Result<EngineResult>)>;

class RequestHandle {
 public:
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
};

struct EngineOptions {
  int max_batch = 32;                        // sequences per step
  int64_t prefill_chunk = 512;               // prompt tokens per sequence per step
  int64_t max_step_tokens = 2048;            // tokens per step over all sequences
  int64_t prompt_cache_bytes = 512ll << 20;  // KV kept for reuse
  int64_t max_queue = 1024;                  // submit() beyond this answers resource_exhausted (HTTP 503)
};

struct EngineStats {
  int64_t queue_depth = 0;
  int64_t active_sequences = 0;
  int64_t requests_done = 0;
  int64_t prompt_tokens = 0, cached_prompt_tokens = 0, generated_tokens = 0;
  int64_t prompt_cache_entries = 0, prompt_cache_bytes = 0;
  int64_t steps = 0;
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {});
  ~Engine();  // cancels what is left and joins the scheduler thread

  // Queues a request. Validation errors (empty prompt, prompt too long,
  // bad sampling params, queue full) come back through on_done before this
  // returns.
  std::shared_ptr<RequestHandle> submit(EngineRequest request, OnText on_text, OnDone on_done);

  // Stops taking requests, lets the ones queued and in flight finish, and
  // returns when none is left or the timeout passes (then cancels the rest).
  void drain(std::chrono::milliseconds timeout);

  // Drops the prompt-cache entries of a model (after it stops serving).
  void forget_model(const ServedModel* model);

  EngineStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flywheel::serve
