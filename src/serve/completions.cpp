#include "serve/completions.h"

#include <algorithm>

#include "core/hash.h"

namespace flywheel::serve {
namespace {

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

std::string tail_window(const std::string& text) {
  if (text.size() <= kEventWindowBytes) return text;
  size_t start = text.size() - kEventWindowBytes;
  while (start < text.size() && is_continuation(text[start])) ++start;
  return text.substr(start);
}

std::string head_window(const std::string& text) {
  if (text.size() <= kEventWindowBytes) return text;
  size_t end = kEventWindowBytes;
  while (end > 0 && is_continuation(text[end])) --end;
  return text.substr(0, end);
}

// What every choice's event shares, computed on the HTTP thread before the
// run starts (the hashes cost a pass over the prompt).
feedback::SuggestionEvent event_template(const CompletionJob& job) {
  feedback::SuggestionEvent e;
  e.id = job.id;
  e.tenant = job.caller.tenant;
  e.model_id = job.model->id;
  e.source = job.context.source;
  e.session = job.context.session;
  e.repo = job.context.repo;
  e.path = job.context.path;
  e.language = job.context.language;
  e.cursor = job.context.cursor.value_or(static_cast<int64_t>(job.prompt.prefix.size()));
  e.prefix_hash = sha256_hex(job.prompt.prefix);
  e.suffix_hash = sha256_hex(job.prompt.suffix);
  e.prefix_window = tail_window(job.prompt.prefix);
  e.suffix_window = head_window(job.prompt.suffix);
  e.prompt_tokens = static_cast<int64_t>(job.prompt.tokens.size());
  return e;
}

void record_run(ServeContext& context, const CompletionJob& job, const feedback::SuggestionEvent& base,
                GenerationRun& run) {
  const double latency_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - job.received).count();
  std::vector<feedback::SuggestionEvent> suggestions;
  int64_t completion_tokens = 0;
  for (int i = 0; i < run.size(); ++i) {
    const Result<EngineResult>& r = run.result(i);
    if (!r.ok()) continue;
    completion_tokens += static_cast<int64_t>(r->tokens.size());
    if (!job.record_suggestion || r->text.empty()) continue;
    feedback::SuggestionEvent e = base;
    e.id = suggestion_id_for_choice(job.id, i);
    e.choice_index = i;
    e.text = r->text;
    e.completion_tokens = static_cast<int64_t>(r->tokens.size());
    e.latency_ms = latency_ms;
    e.shown_at_ms = feedback::unix_millis_now();
    suggestions.push_back(std::move(e));
  }
  const int64_t prompt_tokens = static_cast<int64_t>(job.prompt.tokens.size());
  feedback::UsageRecord usage{job.caller.tenant, job.model->id, job.route, 1, prompt_tokens, completion_tokens};
  context.events.record(std::move(suggestions), {}, {usage});
  context.metrics.observe_tokens(prompt_tokens, completion_tokens);
  context.limiter.add_tokens(job.caller, prompt_tokens + completion_tokens);
}

}  // namespace

Result<std::shared_ptr<ServedModel>> resolve_model(ServeContext& context, const std::string& name, const Caller& caller,
                                                   const std::string& session) {
  auto model = context.models.resolve(name, session.empty() ? caller.tenant : session);
  if (!model) {
    return Status::not_found("model: '" + name + "' is not served here (GET /v1/models lists what is)");
  }
  return model;
}

HttpError model_error(const Status& status) { return http_error(status, 404, "model_not_found", "model"); }

std::string supersede_key(const Caller& caller, const std::string& session) {
  if (session.empty()) return {};
  return caller.tenant + '\n' + session;
}

Status check_source(const EventContext& context, const Caller& caller) {
  if (context.source != "replay" || caller.admin || !caller.authenticated) return Status::OK();
  return Status(
      StatusCode::kPermissionDenied,
      "flywheel.source: only an admin key may record events as \"replay\" (a tenant's traffic is its editors')");
}

Result<std::shared_ptr<GenerationRun>> start_completion(ServeContext& context, CompletionJob job) {
  if (context.draining.load()) return Status(StatusCode::kUnavailable, "the server is shutting down");
  FW_RETURN_IF_ERROR(check_source(job.context, job.caller));
  std::vector<EngineRequest> choices;
  const bool single_line = job.gen.single_line.value_or(job.fim && single_line_rule(job.prompt.prefix));
  for (int i = 0; i < job.gen.n; ++i) {
    EngineRequest r;
    r.model = job.model;
    r.prompt = job.prompt.tokens;
    r.params = job.gen.params;
    for (const std::string& s : job.prompt.stop.strings) {
      if (r.params.stop.size() < SamplingParams::kMaxStopStrings) r.params.stop.push_back(s);
    }
    // Distinct but reproducible choices when a seed is given.
    if (r.params.seed) r.params.seed = *r.params.seed + static_cast<uint64_t>(i);
    if (job.gen.prefill_only) r.params.max_tokens = 1;
    r.stop_token_ids = job.prompt.stop.token_ids;
    // With n > 1 the choices of one request must not supersede each other.
    if (i == 0) r.supersede_key = job.supersede_key;
    if (job.gen.max_time_ms) r.deadline = job.received + std::chrono::milliseconds(*job.gen.max_time_ms);
    r.single_line = single_line;
    r.cache_scope = job.caller.tenant;  // tenants never share prompt-cache entries
    choices.push_back(std::move(r));
  }
  feedback::SuggestionEvent base = event_template(job);
  auto run = GenerationRun::start(context.engine, std::move(choices), job.gen.stream,
                                  [&context, job = std::move(job), base = std::move(base)](GenerationRun& finished) {
                                    record_run(context, job, base, finished);
                                  });
  return run;
}

HttpError prompt_error(const Status& status) {
  return http_error(status, 0, status.code() == StatusCode::kOutOfRange ? "context_length_exceeded" : "");
}

HttpError engine_error(const Status& status) {
  if (status.code() == StatusCode::kResourceExhausted) return http_error(status, 503, "overloaded");
  return http_error(status);
}

std::string openai_finish_reason(const std::string& engine_reason) {
  if (engine_reason == "length" || engine_reason == "deadline") return "length";
  return "stop";
}

std::string suggestion_id_for_choice(const std::string& completion_id, int choice_index) {
  if (choice_index == 0) return completion_id;
  return completion_id + "-" + std::to_string(choice_index);
}

Status check_suggestion_served(ServeContext& context, const std::string& suggestion_id, const Caller& caller) {
  feedback::EventQuery query;
  query.tenant = caller.tenant;
  query.id = suggestion_id;
  query.limit = 1;
  for (int attempt = 0; attempt < 2; ++attempt) {
    // Only a barrier here: an error it reports is the batch's, already logged.
    if (attempt == 1) (void)context.events.flush();
    FW_ASSIGN_OR_RETURN(auto found, context.store.events(query));
    if (!found.empty()) return Status::OK();
  }
  return Status::not_found("id: no suggestion '" + suggestion_id + "' was served (to this API key's tenant)");
}

int64_t unix_seconds_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace flywheel::serve
