#include "feedback/event_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace flywheel::feedback {
namespace {

using Clock = std::chrono::steady_clock;

// A failed commit is tried this often, backing off from 10 ms (about 0.3 s in
// all), before record_durable() callers get the error.
constexpr int kAttempts = 5;
constexpr std::chrono::milliseconds kFirstBackoff{10};
constexpr std::chrono::milliseconds kMaxBackoff{1000};
// record()'d events that keep failing for a reason a retry may cure (server
// down, disk full) wait this long before they are dropped with an error log.
constexpr std::chrono::seconds kGiveUpAfter{30};

bool retry_may_help(const Status& status) {
  return status.code() == StatusCode::kUnavailable || status.code() == StatusCode::kIoError ||
         status.code() == StatusCode::kResourceExhausted || status.code() == StatusCode::kDeadlineExceeded;
}

struct Completion {
  bool done = false;
  Status status;
};

// One record() or record_durable() call.
struct Entry {
  uint64_t seq = 0;
  std::vector<SuggestionEvent> suggestions;
  std::vector<OutcomeEvent> outcomes;
  UsageBatch usage;
  Clock::time_point enqueued;
  std::optional<Clock::time_point> first_failure;
  std::shared_ptr<Completion> completion;  // record_durable() only
  Status result;                           // of the latest commit attempt

  size_t events() const { return suggestions.size() + outcomes.size(); }
  size_t weight() const { return std::max<size_t>(1, events() + usage.records.size()); }
};

}  // namespace

struct EventWriter::Impl {
  Impl(Store& s, EventWriterOptions o) : store(s), options(o) {}

  Store& store;
  const EventWriterOptions options;

  mutable std::mutex mutex;
  std::condition_variable work_cv;  // the writer waits for entries
  std::condition_variable done_cv;  // callers wait for their commits
  std::deque<Entry> queue;          // by seq; failed entries go back to the front
  size_t queued_events = 0, queued_weight = 0, in_flight_events = 0;
  size_t durable_queued = 0;
  uint64_t next_seq = 1;
  uint64_t in_flight_first = 0;  // lowest seq being committed, 0 when idle
  uint64_t flush_through = 0;    // a flush() waits for every seq up to this
  bool stopping = false;
  Status unreported_error;  // a record()'d batch that was dropped, for the next flush()
  std::chrono::milliseconds backoff{0};
  std::atomic<int64_t> committed{0}, commits{0};
  std::thread thread;

  uint64_t lowest_unfinished() const {
    if (in_flight_first != 0) return in_flight_first;
    return queue.empty() ? next_seq : queue.front().seq;
  }

  void enqueue(Entry entry) {
    std::lock_guard lock(mutex);
    entry.seq = next_seq++;
    entry.enqueued = Clock::now();
    queued_events += entry.events();
    queued_weight += entry.weight();
    if (entry.completion) ++durable_queued;
    queue.push_back(std::move(entry));
    work_cv.notify_one();
  }

  // Waits while nothing is urgent: record()'d events wait for company for up
  // to half of max_delay, leaving the other half for the commit itself.
  bool should_wait(Clock::time_point* until) const {
    if (stopping || durable_queued > 0 || queued_weight >= options.max_batch) return false;
    if (queue.front().seq <= flush_through) return false;
    *until = queue.front().enqueued + options.max_delay / 2;
    return Clock::now() < *until;
  }

  void run() {
    std::unique_lock lock(mutex);
    while (true) {
      if (queue.empty()) {
        if (stopping) return;
        work_cv.wait(lock);
        continue;
      }
      if (Clock::time_point until; should_wait(&until)) {
        work_cv.wait_until(lock, until);
        continue;
      }
      std::vector<Entry> batch;
      size_t weight = 0;
      while (!queue.empty() && (batch.empty() || weight + queue.front().weight() <= options.max_batch)) {
        Entry& e = queue.front();
        weight += e.weight();
        queued_events -= e.events();
        queued_weight -= e.weight();
        in_flight_events += e.events();
        if (e.completion) --durable_queued;
        batch.push_back(std::move(e));
        queue.pop_front();
      }
      in_flight_first = batch.front().seq;
      lock.unlock();
      commit(batch);
      lock.lock();
      in_flight_first = 0;
      for (const Entry& e : batch) in_flight_events -= e.events();
      const bool requeued = finish(batch);
      done_cv.notify_all();
      if (requeued) {
        // Let the store recover before the next attempt; new entries keep queuing.
        lock.unlock();
        std::this_thread::sleep_for(backoff);
        lock.lock();
      }
    }
  }

  // Appends `entries` as one transaction, moving their rows into one batch
  // (and back, when it fails, for another attempt).
  Status append(std::span<Entry> entries) {
    std::vector<SuggestionEvent> suggestions;
    std::vector<OutcomeEvent> outcomes;
    std::vector<UsageBatch> usage;
    for (Entry& e : entries) {
      std::move(e.suggestions.begin(), e.suggestions.end(), std::back_inserter(suggestions));
      std::move(e.outcomes.begin(), e.outcomes.end(), std::back_inserter(outcomes));
      usage.push_back(std::move(e.usage));
    }
    Status status = store.append_with_usage(suggestions, outcomes, usage);
    if (status.ok()) {
      committed += static_cast<int64_t>(suggestions.size() + outcomes.size());
      ++commits;
      return status;
    }
    auto s = suggestions.begin();
    auto o = outcomes.begin();
    auto u = usage.begin();
    for (Entry& e : entries) {
      for (auto& x : e.suggestions) x = std::move(*s++);
      for (auto& x : e.outcomes) x = std::move(*o++);
      e.usage = std::move(*u++);
    }
    return status;
  }

  // Commits with retries; when the whole batch keeps failing, each entry
  // alone, so that one bad row fails only its own caller.
  void commit(std::vector<Entry>& batch) {
    Status status;
    auto delay = kFirstBackoff;
    for (int attempt = 1; attempt <= kAttempts; ++attempt) {
      status = append(batch);
      if (status.ok()) break;
      spdlog::warn("event store: commit of {} events failed (attempt {} of {}): {}", count_events(batch), attempt,
                   kAttempts, status.to_string());
      if (!retry_may_help(status)) break;
      if (attempt < kAttempts) std::this_thread::sleep_for(delay);
      delay = std::min(delay * 2, kMaxBackoff);
    }
    for (Entry& e : batch) e.result = status.ok() || batch.size() == 1 ? status : append(std::span(&e, 1));
  }

  static size_t count_events(std::span<const Entry> entries) {
    size_t n = 0;
    for (const Entry& e : entries) n += e.events();
    return n;
  }

  // Under the lock: completes durable callers; failed record()'d entries go
  // back to the queue while a retry may help (returns true then), else they
  // are dropped, loudly.
  bool finish(std::vector<Entry>& batch) {
    std::vector<Entry> retry;
    bool failed = false;
    for (Entry& e : batch) {
      failed |= !e.result.ok();
      if (e.completion) {
        e.completion->status = e.result;
        e.completion->done = true;
        continue;
      }
      if (e.result.ok()) continue;
      if (!e.first_failure) e.first_failure = Clock::now();
      if (!stopping && retry_may_help(e.result) && Clock::now() - *e.first_failure < kGiveUpAfter) {
        if (retry.empty())
          spdlog::warn("event store: {} events wait for the store to recover: {}", queued_events + e.events(),
                       e.result.to_string());
        retry.push_back(std::move(e));
        continue;
      }
      spdlog::error("event store: dropped {} events (first suggestion id '{}'): {}", e.events(),
                    e.suggestions.empty() ? "" : e.suggestions.front().id, e.result.to_string());
      if (unreported_error.ok()) unreported_error = e.result;
    }
    for (auto it = retry.rbegin(); it != retry.rend(); ++it) {
      queued_events += it->events();
      queued_weight += it->weight();
      queue.push_front(std::move(*it));
    }
    backoff = failed ? std::min(std::max(backoff * 2, kFirstBackoff), kMaxBackoff) : std::chrono::milliseconds(0);
    return !retry.empty();
  }
};

EventWriter::EventWriter(Store& store, EventWriterOptions options) : impl_(std::make_unique<Impl>(store, options)) {
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

EventWriter::~EventWriter() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->work_cv.notify_all();
  impl_->thread.join();
}

void EventWriter::record(std::vector<SuggestionEvent> suggestions, std::vector<OutcomeEvent> outcomes,
                         std::vector<UsageRecord> usage) {
  if (suggestions.empty() && outcomes.empty() && usage.empty()) return;
  Entry entry;
  entry.suggestions = std::move(suggestions);
  entry.outcomes = std::move(outcomes);
  entry.usage = {std::move(usage), unix_millis_now()};
  impl_->enqueue(std::move(entry));
}

Status EventWriter::record_durable(std::vector<SuggestionEvent> suggestions, std::vector<OutcomeEvent> outcomes) {
  if (suggestions.empty() && outcomes.empty()) return Status::OK();
  auto completion = std::make_shared<Completion>();
  Entry entry;
  entry.suggestions = std::move(suggestions);
  entry.outcomes = std::move(outcomes);
  entry.completion = completion;
  impl_->enqueue(std::move(entry));
  std::unique_lock lock(impl_->mutex);
  impl_->done_cv.wait(lock, [&] { return completion->done; });
  return completion->status;
}

Status EventWriter::flush() {
  std::unique_lock lock(impl_->mutex);
  const uint64_t marker = impl_->next_seq - 1;
  impl_->flush_through = std::max(impl_->flush_through, marker);
  impl_->work_cv.notify_one();
  impl_->done_cv.wait(lock, [&] { return impl_->lowest_unfinished() > marker; });
  return std::exchange(impl_->unreported_error, Status::OK());
}

size_t EventWriter::pending() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->queued_events + impl_->in_flight_events;
}

int64_t EventWriter::committed_events() const { return impl_->committed.load(); }

int64_t EventWriter::commits() const { return impl_->commits.load(); }

}  // namespace flywheel::feedback
