#include "serve/metrics.h"

#include <fmt/format.h>

namespace flywheel::serve {
namespace {

std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

void Metrics::observe_request(std::string_view route, int status, double seconds) {
  std::lock_guard lock(mutex_);
  ++requests_[{std::string(route), status}];
  Histogram& h = latency_[std::string(route)];
  size_t i = 0;
  while (i < kLatencyBuckets.size() && seconds > kLatencyBuckets[i]) ++i;
  if (i < kLatencyBuckets.size()) ++h.buckets[i];
  ++h.count;
  h.sum += seconds;
}

void Metrics::observe_tokens(int64_t prompt_tokens, int64_t completion_tokens) {
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();
  std::lock_guard lock(mutex_);
  prompt_tokens_ += prompt_tokens;
  completion_tokens_ += completion_tokens;
  const size_t slot = static_cast<size_t>(now_s % kRateWindowSeconds);
  if (window_second_[slot] != now_s) {
    window_second_[slot] = now_s;
    window_tokens_[slot] = 0;
  }
  window_tokens_[slot] += completion_tokens;
}

double Metrics::tokens_per_second_locked(int64_t now_s) const {
  int64_t total = 0;
  for (int i = 0; i < kRateWindowSeconds; ++i) {
    if (now_s - window_second_[i] < kRateWindowSeconds) total += window_tokens_[i];
  }
  return static_cast<double>(total) / kRateWindowSeconds;
}

int64_t Metrics::request_count(std::string_view route, int status) const {
  std::lock_guard lock(mutex_);
  auto it = requests_.find({std::string(route), status});
  return it == requests_.end() ? 0 : it->second;
}

std::string Metrics::render(const ServingGauges& gauges) const {
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();
  std::string out;
  std::lock_guard lock(mutex_);

  header(out, "flywheel_http_requests_total", "counter", "HTTP requests by route and status");
  for (const auto& [key, count] : requests_) {
    out += fmt::format("flywheel_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", escape_label(key.first),
                       key.second, count);
  }
  header(out, "flywheel_http_request_duration_seconds", "histogram", "Time to the end of the response, by route");
  for (const auto& [route, h] : latency_) {
    const std::string label = escape_label(route);
    int64_t cumulative = 0;
    for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      cumulative += h.buckets[i];
      out += fmt::format("flywheel_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n", label,
                         kLatencyBuckets[i], cumulative);
    }
    out +=
        fmt::format("flywheel_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n", label, h.count);
    out += fmt::format("flywheel_http_request_duration_seconds_sum{{route=\"{}\"}} {}\n", label, h.sum);
    out += fmt::format("flywheel_http_request_duration_seconds_count{{route=\"{}\"}} {}\n", label, h.count);
  }
  header(out, "flywheel_prompt_tokens_total", "counter", "Prompt tokens of served completions");
  out += fmt::format("flywheel_prompt_tokens_total {}\n", prompt_tokens_);
  header(out, "flywheel_completion_tokens_total", "counter", "Generated tokens of served completions");
  out += fmt::format("flywheel_completion_tokens_total {}\n", completion_tokens_);
  header(out, "flywheel_completion_tokens_per_second", "gauge", "Generated tokens per second over the last 10 s");
  out += fmt::format("flywheel_completion_tokens_per_second {}\n", tokens_per_second_locked(now_s));

  const EngineStats& e = gauges.engine;
  header(out, "flywheel_queue_depth", "gauge", "Requests waiting for the scheduler");
  out += fmt::format("flywheel_queue_depth {}\n", e.queue_depth);
  header(out, "flywheel_active_sequences", "gauge", "Sequences being prefilled or decoded");
  out += fmt::format("flywheel_active_sequences {}\n", e.active_sequences);
  header(out, "flywheel_prompt_cache_hit_ratio", "gauge", "Prompt tokens reused from the prompt cache / all");
  const double ratio = e.prompt_tokens > 0 ? static_cast<double>(e.cached_prompt_tokens) / e.prompt_tokens : 0.0;
  out += fmt::format("flywheel_prompt_cache_hit_ratio {}\n", ratio);
  header(out, "flywheel_prompt_cache_entries", "gauge", "Sequences kept in the prompt cache");
  out += fmt::format("flywheel_prompt_cache_entries {}\n", e.prompt_cache_entries);
  header(out, "flywheel_prompt_cache_bytes", "gauge", "Bytes of KV kept in the prompt cache");
  out += fmt::format("flywheel_prompt_cache_bytes {}\n", e.prompt_cache_bytes);
  header(out, "flywheel_serving_model", "gauge", "1 for each model serving a deployment");
  for (const auto& [deployment, model] : gauges.serving) {
    out += fmt::format("flywheel_serving_model{{deployment=\"{}\",model=\"{}\"}} 1\n", escape_label(deployment),
                       escape_label(model));
  }
  header(out, "flywheel_events_pending", "gauge", "Events recorded but not yet committed");
  out += fmt::format("flywheel_events_pending {}\n", gauges.events_pending);
  return out;
}

}  // namespace flywheel::serve
