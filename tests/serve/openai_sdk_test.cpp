// The npm `openai` SDK (tests/reference/node_modules, installed by
// scripts/install-npm-deps) against a running server: streaming chat,
// completions with `suffix`, and the error shape it parses.
#include <gtest/gtest.h>

#include <cstdio>

#include "tests/common/dependency.h"
#include "tests/serve/serve_test_util.h"

namespace flywheel::serve {
namespace {

namespace fs = std::filesystem;

std::string run_command(const std::string& command, int* exit_code) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  *exit_code = pclose(pipe);
  return out;
}

TEST(OpenAiSdk, StreamingChatAndFimCompletions) {
  const fs::path modules = fs::path(FLYWHEEL_SOURCE_DIR) / "tests" / "reference" / "node_modules" / "openai";
  FLYWHEEL_REQUIRE_DEPENDENCY(fs::exists(modules), "npm package openai (scripts/install-npm-deps)");
  testing::TestServer server;
  // The script imports "openai" from tests/reference/node_modules: run it from there.
  const fs::path script = fs::path(FLYWHEEL_SOURCE_DIR) / "tests" / "serve" / "openai_client.mjs";
  const fs::path copy = fs::path(FLYWHEEL_SOURCE_DIR) / "tests" / "reference" / "node_modules" /
                        (".flywheel_openai_client_" + std::to_string(getpid()) + ".mjs");
  fs::copy_file(script, copy, fs::copy_options::overwrite_existing);
  int exit_code = -1;
  const std::string out = run_command(
      "FLYWHEEL_BASE_URL=http://127.0.0.1:" + std::to_string(server.port()) + " node '" + copy.string() + "' 2>&1",
      &exit_code);
  fs::remove(copy);
  ASSERT_EQ(exit_code, 0) << out;
  auto result = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(result.is_discarded()) << out;

  // Streaming chat: a role chunk, content chunks, a finish reason.
  EXPECT_GE(result["chat"]["chunks"].get<int>(), 2) << out;
  EXPECT_EQ(result["chat"]["role"], "assistant");
  EXPECT_TRUE(result["chat"]["finish"] == "stop" || result["chat"]["finish"] == "length") << out;
  EXPECT_TRUE(result["chat"]["text"].is_string());

  // Completions with suffix (fill-in-the-middle).
  EXPECT_TRUE(result["completion"]["id"].get<std::string>().starts_with("cmpl-"));
  EXPECT_EQ(result["completion"]["object"], "text_completion");
  EXPECT_TRUE(result["completion"]["text"].is_string());
  const auto& usage = result["completion"]["usage"];
  EXPECT_GT(usage["prompt_tokens"].get<int>(), 5);
  EXPECT_LE(usage["completion_tokens"].get<int>(), 8);
  EXPECT_EQ(usage["total_tokens"].get<int>(),
            usage["prompt_tokens"].get<int>() + usage["completion_tokens"].get<int>());

  // The SDK read our error body.
  EXPECT_EQ(result["notFound"]["status"], 404) << out;
  EXPECT_EQ(result["notFound"]["code"], "model_not_found");
  EXPECT_EQ(result["notFound"]["param"], "model");
}

}  // namespace
}  // namespace flywheel::serve
