#include "core/config.h"

#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "test_util.h"

namespace flywheel {
namespace {

constexpr std::string_view kToml = R"(# flywheel settings
name = "run-1"
seed = 42

[tokenizer.train]
vocab_size = 8192
input = ["src", "/usr/include"]
show_progress = false

[train]
lr = 3e-4
warmup = 100
schedule.kind = "cosine"
started = 2024-05-01
)";

Config load(std::string_view text = kToml) {
  auto config = Config::from_toml(text, "flywheel.toml");
  EXPECT_TRUE(config.ok()) << config.status().to_string();
  return config.ok() ? std::move(config).value() : Config();
}

TEST(Config, FlattensTablesToDottedKeys) {
  Config config = load();
  EXPECT_EQ(config.keys(),
            (std::vector<std::string>{"name", "seed", "tokenizer.train.input", "tokenizer.train.show_progress",
                                      "tokenizer.train.vocab_size", "train.lr", "train.schedule.kind", "train.started",
                                      "train.warmup"}));
  EXPECT_EQ(*config.get_int("tokenizer.train.vocab_size"), 8192);
  EXPECT_EQ(*config.get_string("train.schedule.kind"), "cosine");
  EXPECT_EQ(*config.get_string("train.started"), "2024-05-01");
  EXPECT_FALSE(*config.get_bool("tokenizer.train.show_progress"));
  EXPECT_DOUBLE_EQ(*config.get_double("train.lr"), 3e-4);
  EXPECT_EQ(*config.get_string_list("tokenizer.train.input"), (std::vector<std::string>{"src", "/usr/include"}));
  EXPECT_EQ(config.find("tokenizer.train.vocab_size")->origin, "flywheel.toml:6");
}

TEST(Config, IntegerConvertsToDoubleButNotBack) {
  Config config = load();
  EXPECT_DOUBLE_EQ(*config.get_double("train.warmup"), 100.0);
  auto lr = config.get_int("train.lr");
  ASSERT_FALSE(lr.ok());
  EXPECT_EQ(lr.status().code(), StatusCode::kInvalidArgument);
}

TEST(Config, TypeMismatchNamesKeyLineAndBothTypes) {
  Config config = load();
  auto value = config.get_int("name");
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(value.status().message(), "flywheel.toml:2: 'name': expected an integer, got a string (\"run-1\")");
  auto list = config.get_string_list("seed");
  ASSERT_FALSE(list.ok());
  EXPECT_NE(list.status().message().find("expected an array of strings, got an integer (42)"), std::string::npos)
      << list.status().message();
  EXPECT_FALSE(config.get_bool("seed").ok());
  EXPECT_FALSE(config.get_int_list("tokenizer.train.input").ok());
}

TEST(Config, MissingKeysAndDefaults) {
  Config config = load();
  auto missing = config.get_int("train.epochs");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("train.epochs"), std::string::npos);
  EXPECT_EQ(*config.get_int_or("train.epochs", 3), 3);
  EXPECT_EQ(*config.get_int_or("seed", 3), 42);
  EXPECT_EQ(*config.get_string_or("nothing", "x"), "x");
  EXPECT_TRUE(*config.get_bool_or("nothing", true));
  EXPECT_DOUBLE_EQ(*config.get_double_or("train.lr", 1.0), 3e-4);
  // Present but of the wrong type: still an error, never the fallback.
  EXPECT_FALSE(config.get_int_or("name", 3).ok());
}

TEST(Config, OverridesWin) {
  Config config = load();
  config.set("tokenizer.train.vocab_size", int64_t{4096});
  EXPECT_EQ(*config.get_int("tokenizer.train.vocab_size"), 4096);
  EXPECT_EQ(config.find("tokenizer.train.vocab_size")->origin, "command line");

  ASSERT_TRUE(config.set_from_assignment("train.lr=1e-3").is_ok());
  EXPECT_DOUBLE_EQ(*config.get_double("train.lr"), 1e-3);
  ASSERT_TRUE(config.set_from_assignment("name = \"quoted\"").is_ok());
  EXPECT_EQ(*config.get_string("name"), "quoted");
  ASSERT_TRUE(config.set_from_assignment("run=my-run # not a comment").is_ok());
  EXPECT_EQ(*config.get_string("run"), "my-run # not a comment");
  ASSERT_TRUE(config.set_from_assignment("tags=[\"a\", \"b\"]").is_ok());
  EXPECT_EQ(*config.get_string_list("tags"), (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE(config.set_from_assignment("flag=true").is_ok());
  EXPECT_TRUE(*config.get_bool("flag"));
  // A second TOML line must not sneak in another key.
  ASSERT_TRUE(config.set_from_assignment("x=1\ny=2").is_ok());
  EXPECT_FALSE(config.contains("y"));
  EXPECT_EQ(*config.get_string("x"), "1\ny=2");

  EXPECT_EQ(config.set_from_assignment("no equals sign").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(config.set_from_assignment("=1").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(config.set_from_assignment("a..b=1").code(), StatusCode::kInvalidArgument);

  Config other;
  other.set("seed", int64_t{7});
  config.merge(other);
  EXPECT_EQ(*config.get_int("seed"), 7);
}

TEST(Config, SyntaxErrorHasLineAndColumn) {
  auto config = Config::from_toml("a = 1\nb = = 2\n", "bad.toml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(config.status().message().rfind("bad.toml:2:", 0), 0u) << config.status().message();
  EXPECT_FALSE(Config::from_toml("a = 1\na = 2\n").ok());  // duplicate key
}

TEST(Config, ArraysOfTablesAreRejectedByName) {
  auto config = Config::from_toml("[[runs]]\nname = \"a\"\n", "c.toml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(config.status().message().find("'runs'"), std::string::npos) << config.status().message();
}

TEST(Config, FromFile) {
  testing_util::TempDir dir;
  ASSERT_TRUE(write_file_atomically(dir / "c.toml", "[a]\nb = 1\n").is_ok());
  auto config = Config::from_file(dir / "c.toml");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_EQ(*config->get_int("a.b"), 1);
  EXPECT_EQ(config->find("a.b")->origin, (dir / "c.toml").string() + ":2");

  auto missing = Config::from_file(dir / "missing.toml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("missing.toml"), std::string::npos);
}

TEST(Config, SectionsAndUnknownKeys) {
  Config config = load();
  Config train = config.section("tokenizer.train");
  EXPECT_EQ(train.keys(), (std::vector<std::string>{"input", "show_progress", "vocab_size"}));
  EXPECT_EQ(train.find("vocab_size")->origin, "flywheel.toml:6");
  EXPECT_TRUE(config.section("tokenizer.tra").empty());

  EXPECT_TRUE(config.check_known_keys({"input", "show_progress", "vocab_size"}, "tokenizer.train").is_ok());
  Status status = config.check_known_keys({"input", "vocab_size"}, "tokenizer.train");
  ASSERT_FALSE(status.is_ok());
  EXPECT_EQ(status.message(),
            "flywheel.toml:8: unknown config key 'tokenizer.train.show_progress' "
            "(known keys in [tokenizer.train]: input, vocab_size)");
  EXPECT_FALSE(config.check_known_keys({"name"}).is_ok());
}

TEST(Config, ValueText) {
  EXPECT_EQ(config_value_to_toml(ConfigValue(1.0)), "1.0");
  EXPECT_EQ(config_value_to_toml(ConfigValue(std::string("a\"b"))), "\"a\\\"b\"");
  EXPECT_EQ(config_value_to_toml(ConfigValue(std::vector<ConfigScalar>{int64_t{1}, std::string("x")})), "[1, \"x\"]");
  EXPECT_EQ(config_value_to_strings(ConfigValue(std::vector<ConfigScalar>{int64_t{1}, std::string("x"), true})),
            (std::vector<std::string>{"1", "x", "true"}));
  EXPECT_EQ(config_value_to_strings(ConfigValue(0.5)), std::vector<std::string>{"0.5"});
  EXPECT_EQ(config_value_type_name(ConfigValue(true)), "boolean");
}

}  // namespace
}  // namespace flywheel
