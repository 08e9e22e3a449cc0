// A Store decorator for EventWriter tests: counts commits, can slow them down
// (an fsync stand-in) and fail the next N with a given status.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

#include "feedback/store.h"

namespace flywheel::feedback::testing {

class CountingStore : public Store {
 public:
  explicit CountingStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}

  void set_commit_delay(std::chrono::milliseconds delay) { delay_ = delay; }
  void fail_next(int n, Status status) {
    std::lock_guard lock(mutex_);
    failures_left_ = n;
    failure_ = std::move(status);
  }
  int64_t commits() const { return commits_; }
  int64_t failed_commits() const { return failed_; }

  Status append_with_usage(std::span<const SuggestionEvent> s, std::span<const OutcomeEvent> o,
                           std::span<const UsageBatch> u) override {
    {
      std::lock_guard lock(mutex_);
      if (failures_left_ > 0) {
        --failures_left_;
        ++failed_;
        return failure_;
      }
    }
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
    Status status = inner_->append_with_usage(s, o, u);
    if (status.ok())
      ++commits_;
    else
      ++failed_;
    return status;
  }
  Status append(std::span<const SuggestionEvent> s, std::span<const OutcomeEvent> o) override {
    return append_with_usage(s, o, {});
  }
  Result<std::vector<SuggestionWithOutcomes>> events(const EventQuery& q) override { return inner_->events(q); }
  Result<int64_t> count_suggestions(const std::string& t) override { return inner_->count_suggestions(t); }
  Result<int64_t> count_outcomes(const std::string& t) override { return inner_->count_outcomes(t); }
  Result<NewApiKey> create_key(const std::string& t, int64_t rpm, int64_t tpm, bool admin) override {
    return inner_->create_key(t, rpm, tpm, admin);
  }
  Result<std::vector<ApiKey>> list_keys(const std::string& t) override { return inner_->list_keys(t); }
  Status revoke_key(const std::string& id) override { return inner_->revoke_key(id); }
  Result<std::optional<ApiKey>> find_key(const std::string& s) override { return inner_->find_key(s); }
  Result<int64_t> active_key_count() override { return inner_->active_key_count(); }
  Status add_usage(std::span<const UsageRecord> r, int64_t at) override { return inner_->add_usage(r, at); }
  Result<std::vector<UsageRecord>> usage(const std::string& t, int64_t since, std::optional<int64_t> until) override {
    return inner_->usage(t, since, until);
  }
  std::string kind() const override { return inner_->kind(); }

 private:
  std::unique_ptr<Store> inner_;
  std::chrono::milliseconds delay_{0};
  std::mutex mutex_;
  int failures_left_ = 0;
  Status failure_;
  std::atomic<int64_t> commits_{0}, failed_{0};
};

}  // namespace flywheel::feedback::testing
