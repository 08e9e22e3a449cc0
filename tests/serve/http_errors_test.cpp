// Status → HTTP status and OpenAI's error body.
#include "serve/http_errors.h"

#include <gtest/gtest.h>

namespace flywheel::serve {
namespace {

TEST(HttpErrors, StatusCodesMapToHttp) {
  EXPECT_EQ(http_status_for(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(http_status_for(StatusCode::kOutOfRange), 400);
  EXPECT_EQ(http_status_for(StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(http_status_for(StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(http_status_for(StatusCode::kNotFound), 404);
  EXPECT_EQ(http_status_for(StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(http_status_for(StatusCode::kUnavailable), 503);
  EXPECT_EQ(http_status_for(StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(http_status_for(StatusCode::kInternal), 500);
}

TEST(HttpErrors, OpenAiShape) {
  HttpError e = http_error(Status::invalid_argument("max_tokens: must be an integer"));
  EXPECT_EQ(e.status, 400);
  const auto& error = e.body.at("error");
  EXPECT_EQ(error.at("message"), "max_tokens: must be an integer");
  EXPECT_EQ(error.at("type"), "invalid_request_error");
  EXPECT_EQ(error.at("param"), "max_tokens");
  EXPECT_EQ(error.at("code"), "invalid_argument");

  HttpError auth = http_error(Status(StatusCode::kUnauthenticated, "missing API key"));
  EXPECT_EQ(auth.status, 401);
  EXPECT_EQ(auth.body["error"]["code"], "invalid_api_key");
  EXPECT_TRUE(auth.body["error"]["param"].is_null());

  HttpError quota = http_error(Status::resource_exhausted("over quota"));
  EXPECT_EQ(quota.status, 429);
  EXPECT_EQ(quota.body["error"]["type"], "rate_limit_error");

  HttpError overridden = http_error(Status::resource_exhausted("queue full"), 503, "overloaded");
  EXPECT_EQ(overridden.status, 503);
  EXPECT_EQ(overridden.body["error"]["code"], "overloaded");
  EXPECT_EQ(overridden.body["error"]["type"], "server_error");
}

TEST(HttpErrors, HttplibStatuses) {
  EXPECT_EQ(http_error_for_status(413, "/v1/completions").body["error"]["code"], "request_too_large");
  HttpError missing = http_error_for_status(404, "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body["error"]["message"].get<std::string>().find("/nope"), std::string::npos);
  EXPECT_EQ(http_error_for_status(400, "/x").status, 400);
  EXPECT_EQ(http_error_for_status(500, "/x").body["error"]["type"], "server_error");
}

}  // namespace
}  // namespace flywheel::serve
