// Runs the built `flywheel` binary the way a user does: --help everywhere,
// bad flags, --json errors, --config files, and a tokenizer trained here on a
// small corpus used for an encode/decode round trip.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "feedback/store.h"

namespace {

namespace fs = std::filesystem;

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
};

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << content;
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("flywheel-cli-test-" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_);
    // A small corpus of code: enough repetition for merges, fast to train.
    std::string c_code, py_code;
    for (int i = 0; i < 40; ++i) {
      c_code += "int add_" + std::to_string(i) + "(int a, int b) {\n  return a + b; // sum\n}\n\n";
      py_code += "def greet_" + std::to_string(i) + "(name):\n    return f\"hello, {name}!\"\n\n";
    }
    write(*dir_ / "corpus" / "a.c", c_code);
    write(*dir_ / "corpus" / "b.py", py_code);
    write(*dir_ / "corpus" / "sub" / "c.txt", "héllo wörld — ünïcode ✓ 🎉\n\tindented\r\nline\n");
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*dir_, ec);
    delete dir_;
    dir_ = nullptr;
  }

  // Runs `flywheel ARGS` (ARGS already shell-quoted where needed) in the
  // suite's directory with `input` on stdin.
  static Outcome flywheel(const std::string& args, const std::string& input = "") {
    static std::atomic<int> counter{0};
    std::string id = std::to_string(counter++);
    fs::path in = *dir_ / ("stdin" + id), out = *dir_ / ("stdout" + id), err = *dir_ / ("stderr" + id);
    write(in, input);
    std::string command = "cd " + quote(dir_->string()) + " && FLYWHEEL_NO_PROGRESS=1 " +
                          quote(std::string(FLYWHEEL_BINARY_DIR) + "/flywheel") + " " + args + " <" +
                          quote(in.string()) + " >" + quote(out.string()) + " 2>" + quote(err.string());
    int status = std::system(command.c_str());
    Outcome run;
    run.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    run.out = slurp(out);
    run.err = slurp(err);
    return run;
  }

  // Trains tok.json once for the tests that need a tokenizer.
  static const std::string& tokenizer() {
    static std::string path;
    if (path.empty()) {
      Outcome run = flywheel("tokenizer train --input corpus --vocab-size 300 --threads 1 --out models/tok.json");
      EXPECT_EQ(run.code, 0) << run.err;
      path = "models/tok.json";
    }
    return path;
  }

  static fs::path* dir_;
};

fs::path* CliTest::dir_ = nullptr;

size_t count_lines(const std::string& text) {
  size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

TEST_F(CliTest, HelpOnEveryCommand) {
  for (std::string command :
       {"", "tokenizer", "tokenizer train", "tokenizer encode", "tokenizer decode", "tokenizer info"}) {
    Outcome run = flywheel(command + " --help");
    EXPECT_EQ(run.code, 0) << command << "\n" << run.err;
    std::string usage = "Usage: flywheel" + (command.empty() ? "" : " " + command);
    EXPECT_NE(run.out.find(usage), std::string::npos) << command << "\n" << run.out;
    EXPECT_EQ(run.err, "") << command;
  }
  Outcome train = flywheel("tokenizer train --help");
  for (const char* option : {"--input", "--vocab-size", "--min-frequency", "--threads", "--max-bytes", "--out"}) {
    EXPECT_NE(train.out.find(option), std::string::npos) << option;
  }
  EXPECT_NE(flywheel("tokenizer encode -h").out.find("--special"), std::string::npos);
  EXPECT_NE(flywheel("tokenizer decode --help").out.find("--skip-special"), std::string::npos);
  EXPECT_NE(flywheel("tokenizer info --help").out.find("--json"), std::string::npos);  // footer names globals
}

TEST_F(CliTest, Version) {
  Outcome run = flywheel("--version");
  EXPECT_EQ(run.code, 0);
  EXPECT_EQ(run.out.rfind("flywheel ", 0), 0u) << run.out;
}

TEST_F(CliTest, BadCommandLinesGiveOneClearLineAndExitCode2) {
  struct Case {
    std::string args;
    std::string expected;
  };
  std::vector<Case> cases = {
      {"", "subcommand is required"},
      {"--bogus", "'--bogus'"},
      {"tokenizer", "subcommand is required"},
      {"tokenizer frobnicate", "frobnicate"},
      {"tokenizer encode --bogus", "--bogus"},
      {"tokenizer train --vocab-size many", "--vocab-size: must be a positive integer, got 'many'"},
      {"tokenizer train --threads -1", "--threads"},
      {"tokenizer train --max-bytes 5XB", "--max-bytes"},
      {"--log-level loud tokenizer info", "unknown log level 'loud'"},
      {"tokenizer encode --text hi", "--tokenizer FILE is required"},
      {"--config missing.toml tokenizer info", "missing.toml"},
  };
  for (const auto& c : cases) {
    Outcome run = flywheel(c.args);
    EXPECT_EQ(run.code, 2) << c.args << "\n" << run.err;
    EXPECT_EQ(run.out, "") << c.args;
    EXPECT_EQ(count_lines(run.err), 1u) << c.args << "\n" << run.err;
    EXPECT_EQ(run.err.rfind("flywheel: error: ", 0), 0u) << c.args << "\n" << run.err;
    EXPECT_NE(run.err.find(c.expected), std::string::npos) << c.args << "\n" << run.err;
  }
}

TEST_F(CliTest, JsonErrorsAreOneObjectOnStdout) {
  for (std::string args : {"--json tokenizer encode --tokenizer missing.json --text x",
                           "tokenizer encode --tokenizer missing.json --text x --json"}) {
    Outcome run = flywheel(args);
    EXPECT_EQ(run.code, 3) << args;
    ASSERT_EQ(count_lines(run.out), 1u) << run.out;
    auto error = nlohmann::json::parse(run.out);
    EXPECT_EQ(error["error"]["type"], "not_found");
    EXPECT_EQ(error["error"]["code"], 3);
    EXPECT_NE(error["error"]["message"].get<std::string>().find("missing.json"), std::string::npos);
  }
  Outcome usage = flywheel("--json tokenizer train --vocab-size x");
  EXPECT_EQ(usage.code, 2);
  EXPECT_EQ(nlohmann::json::parse(usage.out)["error"]["type"], "invalid_argument");
}

TEST_F(CliTest, TrainReportsStats) {
  Outcome run = flywheel("tokenizer train --input corpus --vocab-size 280 --threads 1 --out models/t2.json --json");
  ASSERT_EQ(run.code, 0) << run.err;
  auto stats = nlohmann::json::parse(run.out);
  EXPECT_EQ(stats["files"], 3);
  EXPECT_GT(stats["bytes"].get<int64_t>(), 1000);
  EXPECT_GT(stats["unique_words"].get<int64_t>(), 10);
  EXPECT_GT(stats["merges"].get<int64_t>(), 0);
  EXPECT_EQ(stats["vocab_size"], 280);
  EXPECT_EQ(stats["content_hash"].get<std::string>().size(), 64u);
  EXPECT_TRUE(fs::exists(*dir_ / "models" / "t2.json"));

  Outcome text = flywheel("tokenizer train --input corpus --vocab-size 280 --threads 1 --out models/t3.json");
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("3 files"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("merges"), std::string::npos) << text.out;
}

TEST_F(CliTest, TrainErrors) {
  Outcome missing = flywheel("tokenizer train --input no/such/dir --out models/x.json");
  EXPECT_EQ(missing.code, 3) << missing.err;
  EXPECT_NE(missing.err.find("no/such/dir"), std::string::npos) << missing.err;
  fs::create_directories(*dir_ / "empty");
  Outcome empty = flywheel("tokenizer train --input empty --out models/x.json");
  EXPECT_NE(empty.code, 0);
  EXPECT_EQ(count_lines(empty.err), 1u) << empty.err;
  EXPECT_FALSE(fs::exists(*dir_ / "models" / "x.json"));
}

TEST_F(CliTest, EncodeDecodeRoundTrip) {
  const std::string& tok = tokenizer();
  const std::string text = "int add(int a, int b) {\n\treturn a + b;\r\n}\n# héllo 🎉 <|endoftext|>";
  Outcome encoded = flywheel("tokenizer encode --tokenizer " + tok, text);
  ASSERT_EQ(encoded.code, 0) << encoded.err;
  ASSERT_EQ(count_lines(encoded.out), 1u);

  // Ids on the command line.
  std::string ids = encoded.out.substr(0, encoded.out.size() - 1);
  Outcome decoded = flywheel("tokenizer decode --tokenizer " + tok + " --ids " + quote(ids));
  ASSERT_EQ(decoded.code, 0) << decoded.err;
  EXPECT_EQ(decoded.out, text);

  // Ids on stdin, and encode's --json piped into decode.
  EXPECT_EQ(flywheel("tokenizer decode --tokenizer " + tok, encoded.out).out, text);
  Outcome json = flywheel("--json tokenizer encode --tokenizer " + tok, text);
  ASSERT_EQ(json.code, 0);
  auto parsed = nlohmann::json::parse(json.out);
  std::string spaced;
  for (const auto& id : parsed["ids"]) spaced += (spaced.empty() ? "" : " ") + std::to_string(id.get<int>());
  EXPECT_EQ(spaced, ids);
  EXPECT_EQ(flywheel("tokenizer decode --tokenizer " + tok, json.out).out, text);

  Outcome json_decoded = flywheel("tokenizer decode --json --tokenizer " + tok + " --ids " + quote(ids));
  EXPECT_EQ(nlohmann::json::parse(json_decoded.out)["text"], text);

  // The special token is matched as one id, and --skip-special drops it.
  Outcome skipped = flywheel("tokenizer decode --skip-special --tokenizer " + tok, encoded.out);
  EXPECT_EQ(skipped.out, text.substr(0, text.size() - std::string("<|endoftext|>").size()));
}

TEST_F(CliTest, EncodeTextAndTokens) {
  const std::string& tok = tokenizer();
  Outcome from_flag = flywheel("tokenizer encode --tokenizer " + tok + " --text " + quote("return a + b;"));
  Outcome from_stdin = flywheel("tokenizer encode --tokenizer " + tok, "return a + b;");
  ASSERT_EQ(from_flag.code, 0) << from_flag.err;
  EXPECT_EQ(from_flag.out, from_stdin.out);
  EXPECT_EQ(flywheel("tokenizer encode --tokenizer " + tok + " --text ''").out, "\n");

  Outcome tokens = flywheel("--json tokenizer encode --tokens --tokenizer " + tok + " --text " + quote("return a"));
  auto parsed = nlohmann::json::parse(tokens.out);
  ASSERT_EQ(parsed["ids"].size(), parsed["tokens"].size());
  std::string joined;
  for (const auto& t : parsed["tokens"]) joined += t.get<std::string>();
  EXPECT_EQ(joined, "returnĠa");  // ByteLevel shows the space as Ġ
}

TEST_F(CliTest, DecodeRejectsBadIds) {
  const std::string& tok = tokenizer();
  Outcome word = flywheel("tokenizer decode --tokenizer " + tok + " --ids '1 two 3'");
  EXPECT_EQ(word.code, 2);
  EXPECT_NE(word.err.find("'two'"), std::string::npos) << word.err;
  Outcome range = flywheel("tokenizer decode --tokenizer " + tok + " --ids 100000");
  EXPECT_EQ(range.code, 2);
  EXPECT_NE(range.err.find("100000"), std::string::npos) << range.err;
}

TEST_F(CliTest, Info) {
  const std::string& tok = tokenizer();
  Outcome run = flywheel("tokenizer info --json --tokenizer " + tok);
  ASSERT_EQ(run.code, 0) << run.err;
  auto info = nlohmann::json::parse(run.out);
  EXPECT_EQ(info["kind"], "byte_level");
  EXPECT_EQ(info["vocab_size"], 300);
  EXPECT_GT(info["merges"].get<int>(), 0);
  EXPECT_EQ(info["special_tokens"][0], "<|endoftext|>");
  EXPECT_EQ(info["special_tokens"].size(), 7u);
  EXPECT_EQ(info["content_hash"].get<std::string>().size(), 64u);
  Outcome text = flywheel("tokenizer info --tokenizer " + tok);
  EXPECT_NE(text.out.find("byte_level"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("<|fim_middle|>"), std::string::npos) << text.out;

  write(*dir_ / "broken.json", "{\"model\": ");
  Outcome broken = flywheel("tokenizer info --tokenizer broken.json");
  EXPECT_NE(broken.code, 0);
  EXPECT_EQ(count_lines(broken.err), 1u) << broken.err;
  EXPECT_NE(broken.err.find("broken.json"), std::string::npos) << broken.err;
}

TEST_F(CliTest, ConfigFileFillsOptionsTheCommandLineDidNotGive) {
  const std::string& tok = tokenizer();
  write(*dir_ / "flywheel.toml", "log_level = \"warn\"\n[tokenizer.encode]\ntokenizer = \"" + tok +
                                     "\"\ntext = \"return a\"\n[tokenizer.train]\nvocab_size = 270\ninput = "
                                     "[\"corpus\"]\nout = \"models/from_config.json\"\nthreads = 1\n");
  Outcome encoded = flywheel("--config flywheel.toml tokenizer encode --json");
  ASSERT_EQ(encoded.code, 0) << encoded.err;
  Outcome direct = flywheel("tokenizer encode --json --tokenizer " + tok + " --text 'return a'");
  EXPECT_EQ(encoded.out, direct.out);

  // The command line wins over the file; --config also works after the subcommand.
  Outcome overridden = flywheel("tokenizer encode --config flywheel.toml --json --text 'b'");
  Outcome expected = flywheel("tokenizer encode --json --tokenizer " + tok + " --text 'b'");
  EXPECT_EQ(overridden.out, expected.out);

  Outcome trained = flywheel("--config flywheel.toml tokenizer train --json --vocab-size 265");
  ASSERT_EQ(trained.code, 0) << trained.err;
  EXPECT_EQ(nlohmann::json::parse(trained.out)["vocab_size"], 265);
  EXPECT_TRUE(fs::exists(*dir_ / "models" / "from_config.json"));
  EXPECT_EQ(trained.err, "");  // log_level = "warn" silenced the info lines
}

TEST_F(CliTest, ConfigFileErrorsNameTheKeyAndLine) {
  write(*dir_ / "typo.toml", "[tokenizer.train]\nvocab_sise = 100\n");
  Outcome typo = flywheel("--config typo.toml tokenizer train");
  EXPECT_EQ(typo.code, 2);
  EXPECT_NE(typo.err.find("typo.toml:2"), std::string::npos) << typo.err;
  EXPECT_NE(typo.err.find("'tokenizer.train.vocab_sise'"), std::string::npos) << typo.err;
  EXPECT_NE(typo.err.find("vocab_size"), std::string::npos) << typo.err;  // lists the accepted keys

  write(*dir_ / "section.toml", "[tokenizer.trian]\nvocab_size = 100\n");
  Outcome section = flywheel("--config section.toml tokenizer info");
  EXPECT_EQ(section.code, 2);
  EXPECT_NE(section.err.find("'trian'"), std::string::npos) << section.err;

  write(*dir_ / "syntax.toml", "[tokenizer.train\n");
  Outcome syntax = flywheel("--config syntax.toml tokenizer info");
  EXPECT_EQ(syntax.code, 2);
  EXPECT_NE(syntax.err.find("syntax.toml:1"), std::string::npos) << syntax.err;

  write(*dir_ / "type.toml", "[tokenizer.train]\nvocab_size = \"big\"\n");
  Outcome type = flywheel("--config type.toml tokenizer train");
  EXPECT_EQ(type.code, 2);
  EXPECT_NE(type.err.find("--vocab-size"), std::string::npos) << type.err;
}

TEST_F(CliTest, KeysCreateListRevoke) {
  Outcome created = flywheel("keys create --tenant acme --rpm 60 --tpm 5000 --admin --db keys.db --json");
  ASSERT_EQ(created.code, 0) << created.err;
  const auto key = nlohmann::json::parse(created.out);
  const std::string secret = key["secret"], id = key["id"];
  EXPECT_EQ(secret.size(), 46u);
  EXPECT_EQ(secret.rfind("fw-", 0), 0u);
  EXPECT_EQ(key["tenant"], "acme");
  EXPECT_EQ(key["rpm"], 60);
  EXPECT_EQ(key["admin"], true);
  ASSERT_EQ(flywheel("keys create --tenant beta --db keys.db").code, 0);

  Outcome listed = flywheel("keys list --tenant acme --db keys.db");
  ASSERT_EQ(listed.code, 0) << listed.err;
  EXPECT_NE(listed.out.find(id), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("active"), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find("beta"), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find(secret), std::string::npos) << "list must never show a secret";
  EXPECT_EQ(nlohmann::json::parse(flywheel("keys list --db keys.db --json").out)["keys"].size(), 2u);

  ASSERT_EQ(flywheel("keys revoke " + id + " --db keys.db").code, 0);
  auto keys = nlohmann::json::parse(flywheel("keys list --tenant acme --db keys.db --json").out)["keys"];
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_TRUE(keys[0]["revoked_ms"].is_number());
  Outcome unknown = flywheel("keys revoke key_000000000000 --db keys.db");
  EXPECT_EQ(unknown.code, 3) << unknown.err;
  EXPECT_NE(unknown.err.find("key_000000000000"), std::string::npos) << unknown.err;
  EXPECT_EQ(flywheel("keys create --db keys.db").code, 2);  // --tenant is required
}

TEST_F(CliTest, UsageReportsATenantsRange) {
  {
    auto store = flywheel::feedback::open_store((*dir_ / "usage.db").string());
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    const int64_t may_2 = 1714608000000;  // 2024-05-02T00:00Z
    std::vector<flywheel::feedback::UsageRecord> records = {{"acme", "m1", "/v1/completions", 2, 100, 10},
                                                            {"acme", "m1", "/infill", 1, 50, 5},
                                                            {"beta", "m1", "/infill", 7, 7, 7}};
    ASSERT_TRUE((*store)->add_usage(records, may_2).ok());
    ASSERT_TRUE((*store)->add_usage(std::span(records).first(1), may_2 + 31LL * 86'400'000).ok());  // June 2
  }
  Outcome usage = flywheel("usage --tenant acme --since 2024-05-01 --until 2024-06-01T00:00Z --db usage.db --json");
  ASSERT_EQ(usage.code, 0) << usage.err;
  const auto report = nlohmann::json::parse(usage.out);
  EXPECT_EQ(report["since_ms"], 1714521600000);
  EXPECT_EQ(report["until_ms"], 1717200000000);
  EXPECT_EQ(report["rows"].size(), 2u);
  EXPECT_EQ(report["total"]["requests"], 3);
  EXPECT_EQ(report["total"]["total_tokens"], 165);

  Outcome table = flywheel("usage --tenant acme --db usage.db");
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("/v1/completions"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("total"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(" 5 "), std::string::npos) << table.out;  // 2 + 1 in May, 2 in June

  Outcome bad = flywheel("usage --tenant acme --since yesterday --db usage.db");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--since"), std::string::npos) << bad.err;
}

}  // namespace
