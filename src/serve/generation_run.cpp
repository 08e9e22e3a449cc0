#include "serve/generation_run.h"

#include <cassert>

namespace flywheel::serve {

GenerationRun::GenerationRun(int choices, bool streaming, OnFinished on_finished)
    : streaming_(streaming), on_finished_(std::move(on_finished)), results_(choices) {}

std::shared_ptr<GenerationRun> GenerationRun::start(Engine& engine, std::vector<EngineRequest> choices, bool streaming,
                                                    OnFinished on_finished) {
  std::shared_ptr<GenerationRun> run(
      new GenerationRun(static_cast<int>(choices.size()), streaming, std::move(on_finished)));
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (size_t i = 0; i < choices.size(); ++i) {
    const int index = static_cast<int>(i);
    auto handle = engine.submit(
        std::move(choices[i]), [run, index](std::string_view piece) { return run->on_text(index, piece); },
        [run, index](Result<EngineResult> result) { run->on_done(index, std::move(result)); });
    handles.push_back(std::move(handle));
  }
  std::lock_guard lock(run->mutex_);
  run->handles_ = std::move(handles);
  // cancel() may have come before the handles existed.
  if (run->cancelled_)
    for (auto& h : run->handles_)
      if (h) h->cancel();
  return run;
}

bool GenerationRun::on_text(int index, std::string_view piece) {
  std::lock_guard lock(mutex_);
  if (!streaming_ || piece.empty()) return !cancelled_;
  // Merge with a waiting piece of the same choice: fewer, larger SSE events
  // when the client reads slower than the engine writes.
  if (!events_.empty() && events_.back().index == index && !events_.back().done) {
    events_.back().text.append(piece);
  } else {
    events_.push_back({index, std::string(piece), false});
  }
  changed_.notify_all();
  return !cancelled_;
}

void GenerationRun::on_done(int index, Result<EngineResult> result) {
  bool last = false;
  {
    std::lock_guard lock(mutex_);
    assert(!results_[index].has_value());
    results_[index] = std::move(result);
    last = ++done_ == size();
    if (streaming_) events_.push_back({index, "", true});
  }
  // The hook reads the results, so it runs before waiters are woken: a
  // response is never sent before its events are handed to the writer.
  if (last && on_finished_) on_finished_(*this);
  std::lock_guard lock(mutex_);
  if (last) settled_ = true;
  changed_.notify_all();
}

std::optional<GenerationRun::Event> GenerationRun::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return !events_.empty() || settled_; });
  if (events_.empty()) return std::nullopt;
  Event event = std::move(events_.front());
  events_.pop_front();
  return event;
}

bool GenerationRun::finished() const {
  std::lock_guard lock(mutex_);
  return settled_ && events_.empty();
}

void GenerationRun::wait() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return settled_; });
}

bool GenerationRun::wait_for(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return settled_; });
}

const Result<EngineResult>& GenerationRun::result(int index) const {
  std::lock_guard lock(mutex_);
  assert(results_[index].has_value());
  return *results_[index];
}

void GenerationRun::cancel() {
  std::lock_guard lock(mutex_);
  cancelled_ = true;
  for (auto& h : handles_)
    if (h) h->cancel();
}

}  // namespace flywheel::serve
