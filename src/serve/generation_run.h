// One HTTP request's generations on the engine: its `n` choices, and the
// hand-over of their text from the engine's scheduler thread to the HTTP
// thread that answers the client.
//
// The engine's callbacks only lock a mutex, append to a queue and notify
// (never block the scheduler); the HTTP thread waits on the condition
// variable (streaming: next(); whole answers: wait()). The run is held by
// shared_ptr from both sides, so a client that disconnects (the HTTP side
// lets go and calls cancel()) leaves nothing dangling for the callbacks.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "serve/engine.h"

namespace flywheel::serve {

class GenerationRun {
 public:
  // A piece of text of choice `index`, or (done) the end of that choice.
  struct Event {
    int index = 0;
    std::string text;
    bool done = false;
  };

  using OnFinished = std::function<void(GenerationRun&)>;

  // Submits one engine request per choice. `streaming`: text pieces are
  // queued for next(); otherwise only the final results are kept.
  // `on_finished` runs once, after the last choice is done, on the thread
  // that finished it (usually the scheduler's: it must not block).
  static std::shared_ptr<GenerationRun> start(Engine& engine, std::vector<EngineRequest> choices, bool streaming,
                                              OnFinished on_finished = {});

  // Streaming: the next event, waiting up to `timeout`; nullopt on timeout or
  // when everything was already delivered (see finished()).
  std::optional<Event> next(std::chrono::milliseconds timeout);
  // Every choice is done and every event was delivered by next().
  bool finished() const;

  // Blocks until every choice is done.
  void wait();
  // The same, for at most `timeout`; whether every choice is done.
  bool wait_for(std::chrono::milliseconds timeout);
  // After the choice is done (wait(), or its done event).
  const Result<EngineResult>& result(int index) const;
  int size() const { return static_cast<int>(results_.size()); }

  // Stops every choice (client gone); their results finish as "cancelled".
  void cancel();

 private:
  GenerationRun(int choices, bool streaming, OnFinished on_finished);
  bool on_text(int index, std::string_view piece);  // false: cancelled
  void on_done(int index, Result<EngineResult> result);

  const bool streaming_;
  OnFinished on_finished_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Event> events_;
  std::vector<std::optional<Result<EngineResult>>> results_;
  int done_ = 0;
  bool settled_ = false;  // every choice done and on_finished returned
  bool cancelled_ = false;
  std::vector<std::shared_ptr<RequestHandle>> handles_;
};

}  // namespace flywheel::serve
