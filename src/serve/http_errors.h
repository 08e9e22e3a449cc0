// Status → HTTP: the status code and OpenAI's error body
//   {"error": {"message": "...", "type": "...", "param": "..." | null, "code": "..." | null}}
// that every route answers with (the llama.cpp and Tabby routes too: their
// clients only look at the HTTP status).
//
//   invalid_argument, out_of_range, unsupported, corruption → 400 invalid_request_error
//   unauthenticated → 401 (code invalid_api_key)   permission_denied → 403 permission_error
//   not_found → 404   resource_exhausted → 429 rate_limit_error (quota; the
//   engine's full queue is mapped to 503 by the caller)   unavailable, cancelled → 503
//   deadline_exceeded → 504   anything else → 500 server_error
//
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"

namespace flywheel::serve {

struct HttpError {
  int status = 500;
  nlohmann::json body;
};

int http_status_for(StatusCode code);

// `status` must not be OK. `param` defaults to the field an api_types error
// names; `code` defaults to the Status code's snake_case name (or
// invalid_api_key for 401).
HttpError http_error(const Status& status, int http_status = 0, std::string code = "");
HttpError http_error(const Status& status, int http_status, std::string code, std::string param);

// The body for a status httplib produced itself (413 body too large, 404
// unknown path, 400 unreadable request), in the same shape.
HttpError http_error_for_status(int http_status, const std::string& path);

}  // namespace flywheel::serve
