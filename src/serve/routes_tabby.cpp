// Tabby-compatible routes: POST /v1/completions with `segments` (dispatched
// here from routes_openai.cpp), POST /v1/events, GET /v1/health.
//
// A Tabby request becomes a FIM prompt with repository context: the file
// path, the repository name (the last part of git_url), and Tabby's snippets
// (declarations, then snippets of changed files, then of recently opened
// files: most relevant first in Tabby, so reversed into FimRequest's
// most-relevant-last order). The clipboard is not used. A newer request of
// the same user and file supersedes the older one.
#include <algorithm>
#include <thread>

#include "core/version.h"
#include "serve/api_types.h"
#include "serve/client_connection.h"
#include "serve/completions.h"
#include "serve/ids.h"
#include "serve/routes.h"

namespace flywheel::serve {
namespace {

using nlohmann::json;

// "https://github.com/org/repo.git" → "repo".
std::string repo_name_from_url(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.ends_with(".git")) url.resize(url.size() - 4);
  const size_t slash = url.find_last_of("/:");
  return slash == std::string::npos ? url : url.substr(slash + 1);
}

void events(ServeContext& context, const httplib::Request& req, httplib::Response& res, const Caller& caller) {
  auto body = read_json_body(req);
  if (!body.ok()) return send_error(res, body.status());
  auto parsed = parse_tabby_event(*body, req.get_param_value("select_kind"));
  if (!parsed.ok()) return send_error(res, parsed.status());
  feedback::OutcomeEvent outcome;
  outcome.suggestion_id = suggestion_id_for_choice(parsed->completion_id, parsed->choice_index);
  if (Status known = check_suggestion_served(context, outcome.suggestion_id, caller); !known.ok())
    return send_error(res, http_error(known, 0, "", "completion_id"));
  outcome.tenant = caller.tenant;
  outcome.kind = parsed->kind;
  outcome.choice_index = parsed->choice_index;
  outcome.at_ms = feedback::unix_millis_now();
  // Acknowledged only once durable (the flywheel learns from these).
  Status recorded = context.events.record_durable({}, {std::move(outcome)});
  if (!recorded.ok()) return send_error(res, recorded);
  send_json(res, 200, {{"ok", true}});
}

void health(ServeContext& context, httplib::Response& res) {
  auto model = context.models.resolve("auto");
  const std::string id = model ? model->id : "";
  send_json(
      res, 200,
      {{"model", id},
       {"chat_model", model && model->format.chat != ChatStyle::kNone ? json(id) : json(nullptr)},
       {"device", "cpu"},
       {"arch", "x86_64"},
       {"cpu_info", ""},
       {"cpu_count", std::max(1u, std::thread::hardware_concurrency())},
       {"cuda_devices", json::array()},
       {"version", {{"build_date", ""}, {"git_sha", ""}, {"git_describe", "flywheel " + std::string(kVersion)}}}});
}

}  // namespace

void handle_tabby_completion(ServeContext& context, const nlohmann::json& body, const httplib::Request& req,
                             httplib::Response& res, const Caller& caller) {
  auto parsed = parse_tabby_completion_request(body);
  if (!parsed.ok()) return send_error(res, parsed.status());
  TabbyCompletionRequest& r = *parsed;
  auto model = resolve_model(context, "auto", caller, r.context.session);
  if (!model.ok()) return send_error(res, model_error(model.status()));
  FimRequest fim{r.prefix, r.suffix, r.filepath, repo_name_from_url(r.git_url), std::move(r.snippets)};
  std::reverse(fim.extra_files.begin(), fim.extra_files.end());
  auto prompt = build_fim(**model, std::move(fim), "", r.gen.fit_fim());
  if (!prompt.ok()) return send_error(res, prompt_error(prompt.status()));

  CompletionJob job;
  job.id = new_id("cmpl-");
  job.route = "/v1/completions";
  job.caller = caller;
  job.model = *model;
  job.prompt = std::move(prompt).value();
  job.gen = r.gen;
  job.gen.stream = false;  // Tabby's completion API answers whole
  job.fim = true;
  job.context = r.context;
  const std::string session = !r.context.session.empty()
                                  ? r.context.session
                                  : (r.filepath.empty() ? "" : "tabby\n" + r.user + "\n" + r.filepath);
  job.supersede_key = supersede_key(caller, session);
  const std::string id = job.id;
  auto started = start_completion(context, std::move(job));
  if (!started.ok()) return send_error(res, engine_error(started.status()));
  std::shared_ptr<GenerationRun> run = *started;
  wait_unless_client_leaves(*run, req);
  const Result<EngineResult>& result = run->result(0);
  if (!result.ok()) return send_error(res, engine_error(result.status()));
  send_json(res, 200, {{"id", id}, {"choices", json::array({{{"index", 0}, {"text", result->text}}})}});
}

void add_tabby_routes(Router& router, ServeContext& context) {
  router.post("/v1/events", Access::kUser,
              [&context](const httplib::Request& req, httplib::Response& res, const Caller& caller) {
                events(context, req, res, caller);
              });
  router.get("/v1/health", Access::kPublic,
             [&context](const httplib::Request&, httplib::Response& res, const Caller&) { health(context, res); });
}

}  // namespace flywheel::serve
