// Writes events off the request path with group commit: one writer thread
// takes whatever has queued and commits it as one transaction.
//
// - record_durable() blocks until its events are committed (the answer to
//   /v1/events and /v1/feedback is sent only after that).
// - record() returns at once; the events are committed within `max_delay`
//   (the server states this window: suggestions of served completions are
//   durable within it, default 100 ms).
// A failed commit is retried with backoff; record_durable() reports the
// error to its caller if the retries run out; nothing is dropped silently
// (pending() and the log say what is waiting).
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/status.h"
#include "feedback/events.h"
#include "feedback/store.h"

namespace flywheel::feedback {

struct EventWriterOptions {
  std::chrono::milliseconds max_delay{100};
  size_t max_batch = 4096;
};

class EventWriter {
 public:
  EventWriter(Store& store, EventWriterOptions options = {});
  ~EventWriter();  // flushes, then stops the thread

  void record(std::vector<SuggestionEvent> suggestions, std::vector<OutcomeEvent> outcomes = {},
              std::vector<UsageRecord> usage = {});
  Status record_durable(std::vector<SuggestionEvent> suggestions, std::vector<OutcomeEvent> outcomes);
  // Blocks until everything recorded so far is committed (or failed).
  Status flush();
  size_t pending() const;
  int64_t committed_events() const;
  // Transactions committed so far (committed_events() / commits() = the group size).
  int64_t commits() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flywheel::feedback
