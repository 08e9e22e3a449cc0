// What the route files share: the server's parts (models, engine, event
// writer, metrics) and its access policy. Built and owned by Server
// (server.cpp); the routes only borrow it. Internal to the serve module.
//
// Thread-safety: the members are thread-safe objects; the struct itself is
// not modified after the routes are registered.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "core/status.h"
#include "feedback/auth.h"
#include "feedback/event_writer.h"
#include "feedback/store.h"
#include "serve/engine.h"
#include "serve/metrics.h"
#include "serve/model_set.h"

namespace flywheel::serve {

// Who is calling: the API key's principal, or the anonymous one (tenant "",
// never admin) when auth is off or not enforced yet.
using Caller = feedback::Principal;

struct ServeContext {
  ModelSet& models;
  Engine& engine;
  Metrics& metrics;
  feedback::Store& store;
  feedback::EventWriter& events;
  feedback::Authenticator* authenticator = nullptr;  // null: auth off (--auth off)
  feedback::RateLimiter& limiter;
  std::chrono::milliseconds event_window{100};  // suggestions are durable within this
  bool anonymous_local_only = true;             // the anonymous caller must connect over loopback
  std::atomic<bool> draining{false};            // SIGTERM: refuse new generations (503)
};

}  // namespace flywheel::serve
