// Operations routes: GET /health (503 while draining or before a model is
// served, for load balancers), GET /metrics (Prometheus), POST /v1/feedback
// (our outcome record, answered after it is durable; 404 for a suggestion id
// the caller's tenant was never served), and the admin-key-only hot swap:
// POST /admin/swap {"model": ID|DIR, "id", "deployment", "wait"} → 202
// {"job", "state": "loading"} (or 200 with the final state when "wait" is
// true; 404 for a model that is not registered nor under --swap-dir, 409
// while another swap loads); GET /admin/swap/:job → the job's state.
#include "serve/api_types.h"
#include "serve/completions.h"
#include "serve/routes.h"
#include "serve/swap_jobs.h"

namespace flywheel::serve {
namespace {

using nlohmann::json;

json job_json(const SwapJobs::Job& job) {
  json out = {{"job", job.id}, {"state", job.state}, {"deployment", job.deployment}, {"model", job.model}};
  if (!job.model_id.empty()) out["id"] = job.model_id;
  if (!job.error.empty()) out["error"] = job.error;
  return out;
}

void health(ServeContext& context, httplib::Response& res) {
  auto model = context.models.resolve("auto");
  if (context.draining.load()) return send_json(res, 503, {{"status", "draining"}});
  if (!model) return send_json(res, 503, {{"status", "no model"}});
  send_json(res, 200, {{"status", "ok"}, {"model", model->id}});
}

void metrics(ServeContext& context, httplib::Response& res) {
  ServingGauges gauges;
  gauges.engine = context.engine.stats();
  // With an A/B split this names the model resolve() gives without a routing key.
  for (const std::string& name : context.models.deployment_names()) {
    if (auto model = context.models.resolve(name)) gauges.serving.emplace_back(name, model->id);
  }
  gauges.events_pending = static_cast<int64_t>(context.events.pending());
  res.status = 200;
  res.set_content(context.metrics.render(gauges), "text/plain; version=0.0.4");
}

void feedback_route(ServeContext& context, const httplib::Request& req, httplib::Response& res, const Caller& caller) {
  auto body = read_json_body(req);
  if (!body.ok()) return send_error(res, body.status());
  auto parsed = parse_feedback_request(*body);
  if (!parsed.ok()) return send_error(res, parsed.status());
  feedback::OutcomeEvent outcome;
  outcome.suggestion_id = suggestion_id_for_choice(parsed->id, parsed->choice_index);
  if (Status known = check_suggestion_served(context, outcome.suggestion_id, caller); !known.ok())
    return send_error(res, http_error(known, 0, "", "id"));
  outcome.tenant = caller.tenant;
  outcome.kind = parsed->kind;
  outcome.choice_index = parsed->choice_index;
  outcome.accepted_length = parsed->accepted_length.value_or(0);
  outcome.final_text = std::move(parsed->final_text);
  outcome.at_ms = feedback::unix_millis_now();
  Status recorded = context.events.record_durable({}, {std::move(outcome)});
  if (!recorded.ok()) return send_error(res, recorded);
  send_json(res, 200, {{"ok", true}});
}

void swap(SwapJobs& swaps, const httplib::Request& req, httplib::Response& res) {
  auto body = read_json_body(req);
  if (!body.ok()) return send_error(res, body.status());
  auto parsed = parse_swap_request(*body);
  if (!parsed.ok()) return send_error(res, parsed.status());
  auto started = swaps.start(*parsed);
  if (!started.ok()) {
    const StatusCode code = started.status().code();
    if (code == StatusCode::kAlreadyExists)
      return send_error(res, http_error(started.status(), 409, "swap_in_progress"));
    if (code == StatusCode::kNotFound) return send_error(res, http_error(started.status(), 404, "model_not_found"));
    return send_error(res, started.status());
  }
  SwapJobs::Job job = *started;
  if (!parsed->wait) return send_json(res, 202, job_json(job));
  job = swaps.wait(job.id);
  if (job.state == "failed") {
    HttpError error = http_error(Status::invalid_argument("model: " + job.error), 400, "swap_failed");
    error.body["job"] = job_json(job);
    return send_error(res, error);
  }
  send_json(res, 200, job_json(job));
}

}  // namespace

void add_admin_routes(Router& router, ServeContext& context, SwapJobs& swaps) {
  router.get("/health", Access::kPublic,
             [&context](const httplib::Request&, httplib::Response& res, const Caller&) { health(context, res); });
  router.get("/metrics", Access::kPublic,
             [&context](const httplib::Request&, httplib::Response& res, const Caller&) { metrics(context, res); });
  router.post("/v1/feedback", Access::kUser,
              [&context](const httplib::Request& req, httplib::Response& res, const Caller& caller) {
                feedback_route(context, req, res, caller);
              });
  router.post("/admin/swap", Access::kAdmin,
              [&swaps](const httplib::Request& req, httplib::Response& res, const Caller&) { swap(swaps, req, res); });
  router.get(R"(/admin/swap/([A-Za-z0-9-]+))", Access::kAdmin,
             [&swaps](const httplib::Request& req, httplib::Response& res, const Caller&) {
               auto job = swaps.get(req.matches[1]);
               if (!job) return send_error(res, Status::not_found("no swap job '" + std::string(req.matches[1]) + "'"));
               send_json(res, 200, job_json(*job));
             });
}

}  // namespace flywheel::serve
