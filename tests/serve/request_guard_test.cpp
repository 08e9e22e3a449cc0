// Host, Origin and Content-Type rules (serve/request_guard.h): the parsing
// helpers, and a server configured with an allowed host and CORS origin.
#include "serve/request_guard.h"

#include <gtest/gtest.h>

#include "tests/serve/serve_test_util.h"

namespace flywheel::serve {
namespace {

using nlohmann::json;

TEST(RequestGuard, HostNames) {
  EXPECT_EQ(host_name_of("LocalHost:8080"), "localhost");
  EXPECT_EQ(host_name_of("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(host_name_of("[::1]:8080"), "::1");
  EXPECT_EQ(host_name_of("::1"), "::1");
  EXPECT_EQ(host_name_of(" example.com:80 "), "example.com");
}

TEST(RequestGuard, LoopbackAddresses) {
  for (const char* a : {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"}) EXPECT_TRUE(is_loopback_address(a)) << a;
  for (const char* a : {"10.0.0.1", "192.168.1.10", "::", "fe80::1", "0.0.0.0", "", "localhost"})
    EXPECT_FALSE(is_loopback_address(a)) << a;
}

TEST(RequestGuard, JsonContentTypes) {
  EXPECT_TRUE(is_json_content_type("application/json"));
  EXPECT_TRUE(is_json_content_type("application/json; charset=utf-8"));
  EXPECT_TRUE(is_json_content_type(" Application/JSON "));
  EXPECT_FALSE(is_json_content_type(""));
  EXPECT_FALSE(is_json_content_type("text/plain"));
  EXPECT_FALSE(is_json_content_type("application/jsonx"));
  EXPECT_FALSE(is_json_content_type("application/x-www-form-urlencoded"));
}

TEST(RequestGuard, ConfiguredHostsAndOrigins) {
  ServerOptions options;
  options.allowed_hosts = {"flywheel.internal"};
  options.cors_origins = {"https://app.example"};
  testing::TestServer server(options);
  auto client = server.client();
  const std::string body = json{{"prompt", "x"}, {"max_tokens", 1}}.dump();

  EXPECT_EQ(client->Get("/v1/models", {{"Host", "flywheel.internal:8080"}})->status, 200);
  EXPECT_EQ(client->Get("/v1/models", {{"Host", "other.internal"}})->status, 403);

  // The allowed origin's preflight, then its request, get the CORS headers.
  auto preflight =
      client->Options("/v1/completions", {{"Origin", "https://app.example"},
                                          {"Access-Control-Request-Method", "POST"},
                                          {"Access-Control-Request-Headers", "authorization,content-type"}});
  ASSERT_TRUE(preflight);
  EXPECT_EQ(preflight->status, 204);
  EXPECT_EQ(preflight->get_header_value("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_NE(preflight->get_header_value("Access-Control-Allow-Headers").find("Authorization"), std::string::npos);
  EXPECT_NE(preflight->get_header_value("Access-Control-Allow-Methods").find("POST"), std::string::npos);
  auto allowed = client->Post("/v1/completions", {{"Origin", "https://app.example"}}, body, "application/json");
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->status, 200) << allowed->body;
  EXPECT_EQ(allowed->get_header_value("Access-Control-Allow-Origin"), "https://app.example");
  // Another origin is refused, even one that differs only by scheme.
  auto refused = client->Post("/v1/completions", {{"Origin", "http://app.example"}}, body, "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_FALSE(refused->has_header("Access-Control-Allow-Origin"));
}

}  // namespace
}  // namespace flywheel::serve
