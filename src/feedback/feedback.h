// feedback: what developers did with the suggestions they were shown, who
// may ask for them, and how much they used. The module's public header.
//
//   events.h        SuggestionEvent, OutcomeEvent, outcome kinds (Tabby's too)
//   store.h         Store: events, API keys, usage; SQLite or PostgreSQL (open_store)
//   event_writer.h  EventWriter: group commit off the request path
//   auth.h          Authenticator (API keys -> Principal), RateLimiter (quotas)
//
// The other headers here (sql_*, *_connection, migrations, key_secret) are
// the module's internals. Thread-safety and errors: see each header.
#pragma once

#include "feedback/auth.h"
#include "feedback/event_writer.h"
#include "feedback/events.h"
#include "feedback/store.h"
