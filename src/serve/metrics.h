// The server's Prometheus metrics (text exposition format 0.0.4), served at
// GET /metrics:
//   flywheel_http_requests_total{route,status}           counter
//   flywheel_http_request_duration_seconds{route}        histogram (whole response, streams included)
//   flywheel_prompt_tokens_total, flywheel_completion_tokens_total   counters
//   flywheel_completion_tokens_per_second                gauge: generated tokens over the last 10 s
//   flywheel_queue_depth, flywheel_active_sequences      gauges (from the engine)
//   flywheel_prompt_cache_hit_ratio                      gauge: cached / all prompt tokens since start
//   flywheel_prompt_cache_entries, flywheel_prompt_cache_bytes
//   flywheel_serving_model{deployment,model}             1 per model serving a deployment
//   flywheel_events_pending                              events waiting for their commit
// `route` is the route pattern ("/v1/completions"), never the raw path, so
// the label set stays bounded; unknown paths count as "other".
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "serve/engine.h"

namespace flywheel::serve {

// Values the metrics read from elsewhere at scrape time.
struct ServingGauges {
  EngineStats engine;
  std::vector<std::pair<std::string, std::string>> serving;  // (deployment, model id)
  int64_t events_pending = 0;
};

class Metrics {
 public:
  static constexpr std::array<double, 12> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1,  0.25,
                                                             0.5,   1.0,  2.5,   5.0,  10.0, 30.0};
  static constexpr int kRateWindowSeconds = 10;

  void observe_request(std::string_view route, int status, double seconds);
  void observe_tokens(int64_t prompt_tokens, int64_t completion_tokens);
  std::string render(const ServingGauges& gauges) const;

  // For tests and the bench: requests counted for (route, status).
  int64_t request_count(std::string_view route, int status) const;

 private:
  struct Histogram {
    std::array<int64_t, kLatencyBuckets.size()> buckets{};  // non-cumulative
    int64_t count = 0;
    double sum = 0;
  };
  double tokens_per_second_locked(int64_t now_s) const;

  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  std::map<std::string, Histogram> latency_;
  int64_t prompt_tokens_ = 0, completion_tokens_ = 0;
  // Completion tokens per second of the last kRateWindowSeconds (ring by second).
  std::array<int64_t, kRateWindowSeconds> window_tokens_{};
  std::array<int64_t, kRateWindowSeconds> window_second_{};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace flywheel::serve
