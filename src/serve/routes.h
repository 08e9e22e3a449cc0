// The route families of `flywheel serve`, one file each (internal to the
// serve module):
//   routes_openai.cpp  GET /v1/models, POST /v1/completions (OpenAI; Tabby's
//                      body with `segments` is handed to the Tabby handler),
//                      POST /v1/chat/completions
//   routes_llama.cpp   POST /infill, POST /completion (llama.cpp's server)
//   routes_tabby.cpp   Tabby's completion body, POST /v1/events, GET /v1/health
//   routes_admin.cpp   GET /health, GET /metrics, POST /v1/feedback,
//                      POST /admin/swap, GET /admin/swap/:job
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "serve/router.h"
#include "serve/serve_context.h"

namespace flywheel::serve {

class SwapJobs;

void add_openai_routes(Router& router, ServeContext& context);
void add_llama_routes(Router& router, ServeContext& context);
void add_tabby_routes(Router& router, ServeContext& context);
void add_admin_routes(Router& router, ServeContext& context, SwapJobs& swaps);

// POST /v1/completions with Tabby's body (see api_types.h is_tabby_completion).
void handle_tabby_completion(ServeContext& context, const nlohmann::json& body, const httplib::Request& req,
                             httplib::Response& res, const Caller& caller);

}  // namespace flywheel::serve
