// OpenAI-compatible routes: GET /v1/models, POST /v1/completions (with
// `suffix`: fill-in-the-middle), POST /v1/chat/completions (tools as in
// serve/tool_calls.h). Streams are SSE chunks ending with `data: [DONE]`.
#include <set>

#include "core/json_output.h"
#include "serve/api_types.h"
#include "serve/client_connection.h"
#include "serve/completions.h"
#include "serve/ids.h"
#include "serve/routes.h"
#include "serve/sse.h"
#include "serve/tool_calls.h"

namespace flywheel::serve {
namespace {

using nlohmann::json;

json usage_json(int64_t prompt_tokens, int64_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}};
}

// Prompt tokens once, completion tokens of every choice that finished.
json run_usage(GenerationRun& run, int64_t prompt_tokens) {
  int64_t completion = 0;
  for (int i = 0; i < run.size(); ++i)
    if (run.result(i).ok()) completion += static_cast<int64_t>(run.result(i)->tokens.size());
  return usage_json(prompt_tokens, completion);
}

// The first failed choice's error, if any.
const Status* first_error(GenerationRun& run) {
  for (int i = 0; i < run.size(); ++i)
    if (!run.result(i).ok()) return &run.result(i).status();
  return nullptr;
}

std::string token_text(const Tokenizer& tokenizer, TokenId id) {
  const TokenId ids[1] = {id};
  return tokenizer.decode(ids);
}

// /v1/completions' legacy logprobs object.
json completion_logprobs(const Tokenizer& tokenizer, const EngineResult& r) {
  json tokens = json::array(), token_logprobs = json::array(), top = json::array(), offsets = json::array();
  int64_t offset = 0;
  for (const SampledToken& t : r.logprobs) {
    const std::string text = token_text(tokenizer, t.id);
    tokens.push_back(text);
    token_logprobs.push_back(t.logprob);
    json alternatives = json::object();
    for (const TokenLogprob& alt : t.top) alternatives[token_text(tokenizer, alt.id)] = alt.logprob;
    top.push_back(std::move(alternatives));
    offsets.push_back(offset);
    offset += static_cast<int64_t>(text.size());
  }
  return {{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top}, {"text_offset", offsets}};
}

// /v1/chat/completions' logprobs object.
json chat_logprobs(const Tokenizer& tokenizer, const EngineResult& r) {
  auto entry = [&](TokenId id, float logprob) {
    const std::string text = token_text(tokenizer, id);
    return json{{"token", text}, {"logprob", logprob}, {"bytes", std::vector<unsigned char>(text.begin(), text.end())}};
  };
  json content = json::array();
  for (const SampledToken& t : r.logprobs) {
    json item = entry(t.id, t.logprob);
    item["top_logprobs"] = json::array();
    for (const TokenLogprob& alt : t.top) item["top_logprobs"].push_back(entry(alt.id, alt.logprob));
    content.push_back(std::move(item));
  }
  return {{"content", content}};
}

json chunk_error(const Status& status) { return engine_error(status).body; }

// The fields every OpenAI completion object and stream chunk carries.
json envelope(const std::string& id, const std::string& object, int64_t created, const std::string& model_id,
              json choices) {
  return {{"id", id}, {"object", object}, {"created", created}, {"model", model_id}, {"choices", std::move(choices)}};
}

// The end of an OpenAI stream: a usage chunk when asked for, then [DONE].
std::function<void(std::vector<std::string>*)> stream_end(std::shared_ptr<GenerationRun> run, bool include_usage,
                                                          int64_t prompt_tokens, std::string id, std::string model_id,
                                                          int64_t created, std::string object) {
  return [=](std::vector<std::string>* out) {
    if (include_usage) {
      json usage = envelope(id, object, created, model_id, json::array());
      usage["usage"] = run_usage(*run, prompt_tokens);
      out->push_back(to_json_line(usage));
    }
    out->push_back("[DONE]");
  };
}

void completions(ServeContext& context, const httplib::Request& req, httplib::Response& res, const Caller& caller) {
  auto body = read_json_body(req);
  if (!body.ok()) return send_error(res, body.status());
  if (is_tabby_completion(*body)) return handle_tabby_completion(context, *body, req, res, caller);
  auto parsed = parse_completion_request(*body);
  if (!parsed.ok()) return send_error(res, parsed.status());
  CompletionRequest& r = *parsed;

  auto model = resolve_model(context, r.model, caller, r.context.session);
  if (!model.ok()) return send_error(res, model_error(model.status()));
  const bool fim = r.suffix.has_value();
  auto prompt =
      fim ? build_fim(**model, FimRequest{r.prompt, *r.suffix, r.context.path, r.context.repo, {}}, "", r.gen.fit_fim())
          : build_plain(**model, r.prompt, r.gen.fit_plain());
  if (!prompt.ok()) return send_error(res, prompt_error(prompt.status()));

  CompletionJob job;
  job.id = new_id("cmpl-");
  job.route = "/v1/completions";
  job.caller = caller;
  job.model = *model;
  job.prompt = std::move(prompt).value();
  job.gen = r.gen;
  job.fim = fim;
  job.supersede_key = supersede_key(caller, r.context.session);
  job.context = r.context;
  const std::string id = job.id, model_id = (*model)->id;
  const int64_t prompt_tokens = static_cast<int64_t>(job.prompt.tokens.size());
  const int logprobs = r.gen.params.logprobs;
  const bool include_usage = r.gen.include_usage;
  const int64_t created = unix_seconds_now();
  auto started = start_completion(context, std::move(job));
  if (!started.ok()) return send_error(res, engine_error(started.status()));
  std::shared_ptr<GenerationRun> run = *started;

  auto chunk = [id, model_id, created](json choices) {
    return to_json_line(envelope(id, "text_completion", created, model_id, std::move(choices)));
  };
  if (r.gen.stream) {
    SseFormat format;
    format.on_event = [run, chunk](const GenerationRun::Event& e, std::vector<std::string>* out) {
      if (!e.done) {
        out->push_back(chunk(
            json::array({{{"text", e.text}, {"index", e.index}, {"logprobs", nullptr}, {"finish_reason", nullptr}}})));
        return;
      }
      const Result<EngineResult>& result = run->result(e.index);
      if (!result.ok()) return out->push_back(to_json_line(chunk_error(result.status())));
      out->push_back(chunk(json::array({{{"text", ""},
                                         {"index", e.index},
                                         {"logprobs", nullptr},
                                         {"finish_reason", openai_finish_reason(result->finish_reason)}}})));
    };
    format.on_end = stream_end(run, include_usage, prompt_tokens, id, model_id, created, "text_completion");
    return stream_sse(res, run, std::move(format));
  }

  wait_unless_client_leaves(*run, req);
  if (const Status* error = first_error(*run)) return send_error(res, engine_error(*error));
  json choices = json::array();
  for (int i = 0; i < run->size(); ++i) {
    const EngineResult& result = *run->result(i);
    json choice = {{"text", result.text},
                   {"index", i},
                   {"logprobs", logprobs > 0 ? completion_logprobs((*model)->tokenizer(), result) : json(nullptr)},
                   {"finish_reason", openai_finish_reason(result.finish_reason)}};
    if (result.show_probability) choice["show_probability"] = *result.show_probability;
    choices.push_back(std::move(choice));
  }
  json answer = envelope(id, "text_completion", created, model_id, std::move(choices));
  answer["usage"] = run_usage(*run, prompt_tokens);
  send_json(res, 200, answer);
}

json tool_calls_json(const std::vector<ToolCall>& calls, bool with_index) {
  json out = json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    json call = {{"id", calls[i].id},
                 {"type", "function"},
                 {"function", {{"name", calls[i].name}, {"arguments", calls[i].arguments}}}};
    if (with_index) call["index"] = i;
    out.push_back(std::move(call));
  }
  return out;
}

void chat_completions(ServeContext& context, const httplib::Request& req, httplib::Response& res,
                      const Caller& caller) {
  auto body = read_json_body(req);
  if (!body.ok()) return send_error(res, body.status());
  auto parsed = parse_chat_request(*body);
  if (!parsed.ok()) return send_error(res, parsed.status());
  ChatRequest& r = *parsed;

  auto model = resolve_model(context, r.model, caller, r.context.session);
  if (!model.ok()) return send_error(res, model_error(model.status()));
  auto prompt = build_chat(**model, chat_messages_with_tools(r));
  if (!prompt.ok()) return send_error(res, prompt_error(prompt.status()));

  CompletionJob job;
  job.id = new_id("chatcmpl-");
  job.route = "/v1/chat/completions";
  job.caller = caller;
  job.model = *model;
  job.prompt = std::move(prompt).value();
  job.gen = r.gen;
  job.supersede_key = supersede_key(caller, r.context.session);
  job.context = r.context;
  const std::string id = job.id, model_id = (*model)->id;
  const int64_t prompt_tokens = static_cast<int64_t>(job.prompt.tokens.size());
  const bool tools = !r.tools.empty() && r.tool_choice != "none";
  const bool logprobs = r.logprobs;
  const bool include_usage = r.gen.include_usage;
  const int64_t created = unix_seconds_now();
  auto started = start_completion(context, std::move(job));
  if (!started.ok()) return send_error(res, engine_error(started.status()));
  std::shared_ptr<GenerationRun> run = *started;

  auto chunk = [id, model_id, created](json choices) {
    return to_json_line(envelope(id, "chat.completion.chunk", created, model_id, std::move(choices)));
  };
  auto delta = [chunk](int index, json delta, json finish_reason) {
    return chunk(json::array(
        {{{"index", index}, {"delta", std::move(delta)}, {"logprobs", nullptr}, {"finish_reason", finish_reason}}}));
  };
  if (r.gen.stream) {
    // The role goes out once per choice, in its first chunk.
    auto role_sent = std::make_shared<std::vector<bool>>(run->size(), false);
    SseFormat format;
    format.on_event = [run, delta, role_sent, tools](const GenerationRun::Event& e, std::vector<std::string>* out) {
      if (!(*role_sent)[e.index]) {
        (*role_sent)[e.index] = true;
        out->push_back(delta(e.index, {{"role", "assistant"}, {"content", ""}}, nullptr));
      }
      // With tools the text is held back until it can be parsed (tool_calls.h).
      if (!e.done) {
        if (!tools) out->push_back(delta(e.index, {{"content", e.text}}, nullptr));
        return;
      }
      const Result<EngineResult>& result = run->result(e.index);
      if (!result.ok()) return out->push_back(to_json_line(chunk_error(result.status())));
      std::string finish = openai_finish_reason(result->finish_reason);
      if (tools) {
        ParsedToolOutput parsed_output = parse_tool_output(result->text);
        if (!parsed_output.content.empty())
          out->push_back(delta(e.index, {{"content", parsed_output.content}}, nullptr));
        if (!parsed_output.calls.empty()) {
          out->push_back(delta(e.index, {{"tool_calls", tool_calls_json(parsed_output.calls, true)}}, nullptr));
          finish = "tool_calls";
        }
      }
      out->push_back(delta(e.index, json::object(), finish));
    };
    format.on_end = stream_end(run, include_usage, prompt_tokens, id, model_id, created, "chat.completion.chunk");
    return stream_sse(res, run, std::move(format));
  }

  wait_unless_client_leaves(*run, req);
  if (const Status* error = first_error(*run)) return send_error(res, engine_error(*error));
  json choices = json::array();
  for (int i = 0; i < run->size(); ++i) {
    const EngineResult& result = *run->result(i);
    json message = {{"role", "assistant"}, {"content", result.text}};
    std::string finish = openai_finish_reason(result.finish_reason);
    if (tools) {
      ParsedToolOutput parsed_output = parse_tool_output(result.text);
      if (!parsed_output.calls.empty()) {
        message["content"] = parsed_output.content.empty() ? json(nullptr) : json(parsed_output.content);
        message["tool_calls"] = tool_calls_json(parsed_output.calls, false);
        finish = "tool_calls";
      }
    }
    choices.push_back({{"index", i},
                       {"message", std::move(message)},
                       {"logprobs", logprobs ? chat_logprobs((*model)->tokenizer(), result) : json(nullptr)},
                       {"finish_reason", finish}});
  }
  json answer = envelope(id, "chat.completion", created, model_id, std::move(choices));
  answer["usage"] = run_usage(*run, prompt_tokens);
  send_json(res, 200, answer);
}

void list_models(ServeContext& context, httplib::Response& res) {
  json data = json::array();
  std::set<std::string> seen;
  auto add = [&](const std::string& id) {
    if (seen.insert(id).second)
      data.push_back({{"id", id}, {"object", "model"}, {"created", 0}, {"owned_by", "flywheel"}});
  };
  for (const auto& model : context.models.models()) add(model->id);
  for (const std::string& name : context.models.deployment_names()) add(name);
  send_json(res, 200, {{"object", "list"}, {"data", std::move(data)}});
}

}  // namespace

void add_openai_routes(Router& router, ServeContext& context) {
  router.get("/v1/models", Access::kUser,
             [&context](const httplib::Request&, httplib::Response& res, const Caller&) { list_models(context, res); });
  router.post("/v1/completions", Access::kUser,
              [&context](const httplib::Request& req, httplib::Response& res, const Caller& caller) {
                completions(context, req, res, caller);
              });
  router.post("/v1/chat/completions", Access::kUser,
              [&context](const httplib::Request& req, httplib::Response& res, const Caller& caller) {
                chat_completions(context, req, res, caller);
              });
}

}  // namespace flywheel::serve
