// The Prometheus text: counters by route and status, cumulative histogram
// buckets, gauges from the engine and the model set.
#include "serve/metrics.h"

#include <gtest/gtest.h>

namespace flywheel::serve {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

TEST(Metrics, CountersHistogramsAndGauges) {
  Metrics m;
  m.observe_request("/v1/completions", 200, 0.004);
  m.observe_request("/v1/completions", 200, 0.2);
  m.observe_request("/v1/completions", 400, 0.001);
  m.observe_request("other", 404, 100.0);  // beyond the last bucket: only +Inf
  m.observe_tokens(100, 20);
  EXPECT_EQ(m.request_count("/v1/completions", 200), 2);
  EXPECT_EQ(m.request_count("/v1/completions", 500), 0);

  ServingGauges g;
  g.engine.queue_depth = 3;
  g.engine.prompt_tokens = 200;
  g.engine.cached_prompt_tokens = 150;
  g.serving = {{"auto", "tiny\"v1"}};
  g.events_pending = 5;
  const std::string text = m.render(g);
  EXPECT_TRUE(has_line(text, R"(flywheel_http_requests_total{route="/v1/completions",status="200"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(flywheel_http_requests_total{route="/v1/completions",status="400"} 1)"));
  EXPECT_TRUE(has_line(text, R"(flywheel_http_request_duration_seconds_bucket{route="/v1/completions",le="0.005"} 2)"));
  EXPECT_TRUE(has_line(text, R"(flywheel_http_request_duration_seconds_bucket{route="/v1/completions",le="0.25"} 3)"));
  EXPECT_TRUE(has_line(text, R"(flywheel_http_request_duration_seconds_bucket{route="other",le="30"} 0)"));
  EXPECT_TRUE(has_line(text, R"(flywheel_http_request_duration_seconds_bucket{route="other",le="+Inf"} 1)"));
  EXPECT_TRUE(has_line(text, R"(flywheel_http_request_duration_seconds_count{route="/v1/completions"} 3)"));
  EXPECT_TRUE(has_line(text, "flywheel_prompt_tokens_total 100"));
  EXPECT_TRUE(has_line(text, "flywheel_completion_tokens_total 20"));
  EXPECT_TRUE(has_line(text, "flywheel_completion_tokens_per_second 2"));  // 20 tokens over the 10 s window
  EXPECT_TRUE(has_line(text, "flywheel_queue_depth 3"));
  EXPECT_TRUE(has_line(text, "flywheel_prompt_cache_hit_ratio 0.75"));
  EXPECT_TRUE(has_line(text, R"(flywheel_serving_model{deployment="auto",model="tiny\"v1"} 1)"));
  EXPECT_TRUE(has_line(text, "flywheel_events_pending 5"));
  EXPECT_TRUE(has_line(text, "# TYPE flywheel_http_request_duration_seconds histogram"));
}

}  // namespace
}  // namespace flywheel::serve
