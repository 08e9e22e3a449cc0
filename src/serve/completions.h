// The path every generating route shares once its body is parsed: resolve
// the model, start the run on the engine, and record what was served.
//
// Recording: when the last choice of a run finishes (on whichever thread
// that is, the client still there or not), each choice that produced text
// becomes a SuggestionEvent, the request a UsageRecord, and both go to the
// EventWriter's group commit (durable within the server's event window).
// Choice 0 has the completion's id; choice i > 0 the id "<id>-<i>" (the
// store keys suggestions by id); outcomes for (id, choice_index) are mapped
// the same way (suggestion_id_for_choice). Windows: the last 2 KB of the
// prefix and the first 2 KB of the suffix (cut at UTF-8 character starts);
// hashes: sha256 of the whole prefix and suffix.
//
// Thread-safety: functions of a ServeContext, safe from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/status.h"
#include "serve/api_types.h"
#include "serve/generation_run.h"
#include "serve/http_errors.h"
#include "serve/prompts.h"
#include "serve/serve_context.h"

namespace flywheel::serve {

inline constexpr size_t kEventWindowBytes = 2048;

struct CompletionJob {
  std::string id;     // "cmpl-...": the response id and the suggestion id
  std::string route;  // the usage record's route
  Caller caller;
  std::shared_ptr<ServedModel> model;
  BuiltPrompt prompt;
  GenerationSettings gen;
  bool fim = false;           // the single-line rule applies
  std::string supersede_key;  // "" or tenant-scoped session key
  EventContext context;
  bool record_suggestion = true;  // false: usage only (prefill-only warm-ups)
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
};

// "auto"/"" → the serving deployment, else a model id or deployment name
// (A/B splits route by session, else by tenant); an unknown name is a 404
// (param "model", code model_not_found) ready for send_error.
Result<std::shared_ptr<ServedModel>> resolve_model(ServeContext& context, const std::string& name, const Caller& caller,
                                                   const std::string& session);
HttpError model_error(const Status& status);

// The key under which a newer request cancels an older one: "" without a
// session; else scoped by tenant so tenants never cancel each other.
std::string supersede_key(const Caller& caller, const std::string& session);

// Events say where their traffic came from, and the cycle and live learning
// read that: a caller may claim `source: "replay"` only with an admin key, or
// as the anonymous operator when no key is enforced (loopback in auto mode,
// everyone with --auth off); a tenant's key gets permission_denied (403).
Status check_source(const EventContext& context, const Caller& caller);

// Starts the job's choices on the engine (503 while draining; check_source).
Result<std::shared_ptr<GenerationRun>> start_completion(ServeContext& context, CompletionJob job);

// A prompt that could not be built: 400, with OpenAI's code
// context_length_exceeded when it is too long.
HttpError prompt_error(const Status& status);

// An engine error as HTTP: a full queue is 503 (overloaded), not a quota 429.
HttpError engine_error(const Status& status);

// OpenAI's finish_reason for the engine's ("deadline" counts as "length").
std::string openai_finish_reason(const std::string& engine_reason);

std::string suggestion_id_for_choice(const std::string& completion_id, int choice_index);

// An outcome may only name a suggestion served to the caller's tenant:
// not_found otherwise (another tenant's id gets the same answer as an id
// that never existed). A suggestion still in the event writer's window is
// flushed first, so an outcome sent right after its completion is accepted.
Status check_suggestion_served(ServeContext& context, const std::string& suggestion_id, const Caller& caller);

// Unix seconds, for OpenAI's `created`.
int64_t unix_seconds_now();

}  // namespace flywheel::serve
