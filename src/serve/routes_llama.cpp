// llama.cpp-compatible routes, so llama.vscode and llama.vim work unchanged:
// POST /infill (input_prefix, input_suffix, input_extra, prompt: the start of
// the middle) and POST /completion (plain prompt). Answers carry llama.cpp's
// fields (content, stop, stop_type, tokens_predicted, tokens_evaluated,
// tokens_cached, truncated, timings) plus `completion_id` for /v1/feedback.
// Streams are SSE events of {"content", "stop": false}, ending with one
// {"stop": true, ...} event and no [DONE] (llama.cpp's framing).
// n_predict 0 (llama.vscode's cache warm-up) runs the prompt and answers an
// empty content; cache_prompt is accepted but the prompt cache is always on.
#include "core/json_output.h"
#include "serve/api_types.h"
#include "serve/client_connection.h"
#include "serve/completions.h"
#include "serve/ids.h"
#include "serve/routes.h"
#include "serve/sse.h"

namespace flywheel::serve {
namespace {

using nlohmann::json;

std::string stop_type(const std::string& finish_reason) {
  if (finish_reason == "stop") return "eos";
  if (finish_reason == "length" || finish_reason == "deadline") return "limit";
  return "none";
}

json timings(const EngineResult& r) {
  const auto prompt_n = r.prompt_tokens - r.cached_tokens;
  const auto predicted_n = static_cast<int64_t>(r.tokens.size());
  auto per_second = [](int64_t n, double ms) { return ms > 0 ? 1000.0 * static_cast<double>(n) / ms : 0.0; };
  auto per_token = [](int64_t n, double ms) { return n > 0 ? ms / static_cast<double>(n) : 0.0; };
  return {{"prompt_n", prompt_n},
          {"prompt_ms", r.prefill_ms},
          {"prompt_per_token_ms", per_token(prompt_n, r.prefill_ms)},
          {"prompt_per_second", per_second(prompt_n, r.prefill_ms)},
          {"predicted_n", predicted_n},
          {"predicted_ms", r.decode_ms},
          {"predicted_per_token_ms", per_token(predicted_n, r.decode_ms)},
          {"predicted_per_second", per_second(predicted_n, r.decode_ms)}};
}

struct LlamaAnswer {
  std::string id, model_id;
  bool truncated = false;
  bool prefill_only = false;
  GenerationSettings gen;
};

// The final object, as llama.cpp's server writes it.
json final_json(const LlamaAnswer& a, const EngineResult& r) {
  const std::string content = a.prefill_only ? std::string() : r.text;
  return {{"index", 0},
          {"completion_id", a.id},
          {"content", content},
          {"tokens", json::array()},
          {"id_slot", 0},
          {"stop", true},
          {"model", a.model_id},
          {"tokens_predicted", a.prefill_only ? 0 : static_cast<int64_t>(r.tokens.size())},
          {"tokens_evaluated", r.prompt_tokens},
          {"tokens_cached", r.cached_tokens},
          {"generation_settings",
           {{"n_predict", a.prefill_only ? 0 : a.gen.params.max_tokens},
            {"temperature", a.gen.params.temperature},
            {"top_k", a.gen.params.top_k},
            {"top_p", a.gen.params.top_p},
            {"min_p", a.gen.params.min_p},
            {"repeat_penalty", a.gen.params.repetition_penalty},
            {"stop", a.gen.params.stop},
            {"stream", a.gen.stream}}},
          {"has_new_line", content.find('\n') != std::string::npos},
          {"truncated", a.truncated},
          {"stop_type", stop_type(r.finish_reason)},
          {"stopping_word", ""},
          {"timings", timings(r)}};
}

void answer(ServeContext& context, CompletionJob job, const httplib::Request& req, httplib::Response& res) {
  LlamaAnswer a{job.id, job.model->id, job.prompt.truncated, job.gen.prefill_only, job.gen};
  const bool stream = job.gen.stream && !job.gen.prefill_only;
  job.gen.stream = stream;
  auto started = start_completion(context, std::move(job));
  if (!started.ok()) return send_error(res, engine_error(started.status()));
  std::shared_ptr<GenerationRun> run = *started;
  if (stream) {
    SseFormat format;
    format.on_event = [run, a](const GenerationRun::Event& e, std::vector<std::string>* out) {
      if (!e.done) {
        out->push_back(to_json_line({{"index", 0},
                                     {"content", e.text},
                                     {"tokens", json::array()},
                                     {"stop", false},
                                     {"id_slot", 0},
                                     {"completion_id", a.id}}));
        return;
      }
      const Result<EngineResult>& result = run->result(e.index);
      if (!result.ok()) return out->push_back(to_json_line(engine_error(result.status()).body));
      json last = final_json(a, *result);
      last["content"] = "";  // the text went out in the events before
      out->push_back(to_json_line(last));
    };
    format.on_end = [](std::vector<std::string>*) {};
    return stream_sse(res, run, std::move(format));
  }
  wait_unless_client_leaves(*run, req);
  const Result<EngineResult>& result = run->result(0);
  if (!result.ok()) return send_error(res, engine_error(result.status()));
  send_json(res, 200, final_json(a, *result));
}

CompletionJob new_job(const char* route, const Caller& caller, std::shared_ptr<ServedModel> model, BuiltPrompt prompt,
                      const GenerationSettings& gen, const EventContext& event_context) {
  CompletionJob job;
  job.id = new_id("cmpl-");
  job.route = route;
  job.caller = caller;
  job.model = std::move(model);
  job.prompt = std::move(prompt);
  job.gen = gen;
  job.context = event_context;
  job.supersede_key = supersede_key(caller, event_context.session);
  job.record_suggestion = !gen.prefill_only;
  return job;
}

void infill(ServeContext& context, const httplib::Request& req, httplib::Response& res, const Caller& caller) {
  auto body = read_json_body(req);
  if (!body.ok()) return send_error(res, body.status());
  auto parsed = parse_infill_request(*body);
  if (!parsed.ok()) return send_error(res, parsed.status());
  InfillRequest& r = *parsed;
  auto model = resolve_model(context, r.model, caller, r.context.session);
  if (!model.ok()) return send_error(res, model_error(model.status()));
  FimRequest fim{r.input_prefix, r.input_suffix, r.context.path, r.context.repo, std::move(r.input_extra)};
  auto prompt = build_fim(**model, std::move(fim), r.prompt, r.gen.fit_fim());
  if (!prompt.ok()) return send_error(res, prompt_error(prompt.status()));
  CompletionJob job = new_job("/infill", caller, *model, std::move(prompt).value(), r.gen, r.context);
  job.fim = true;
  answer(context, std::move(job), req, res);
}

void completion(ServeContext& context, const httplib::Request& req, httplib::Response& res, const Caller& caller) {
  auto body = read_json_body(req);
  if (!body.ok()) return send_error(res, body.status());
  auto parsed = parse_llama_completion_request(*body);
  if (!parsed.ok()) return send_error(res, parsed.status());
  CompletionRequest& r = *parsed;
  auto model = resolve_model(context, r.model, caller, r.context.session);
  if (!model.ok()) return send_error(res, model_error(model.status()));
  auto prompt = build_plain(**model, r.prompt, r.gen.fit_plain());
  if (!prompt.ok()) return send_error(res, prompt_error(prompt.status()));
  answer(context, new_job("/completion", caller, *model, std::move(prompt).value(), r.gen, r.context), req, res);
}

}  // namespace

void add_llama_routes(Router& router, ServeContext& context) {
  router.post("/infill", Access::kUser,
              [&context](const httplib::Request& req, httplib::Response& res, const Caller& caller) {
                infill(context, req, res, caller);
              });
  router.post("/completion", Access::kUser,
              [&context](const httplib::Request& req, httplib::Response& res, const Caller& caller) {
                completion(context, req, res, caller);
              });
}

}  // namespace flywheel::serve
