// Config: settings from a TOML file, flattened to dotted keys
// (`[tokenizer.train] vocab_size = 8192` is "tokenizer.train.vocab_size"),
// with later set() calls (command-line overrides) replacing file values.
//
// Each value remembers where it came from ("flywheel.toml:12" or "command
// line") so that a type error or an unknown key points at the line to fix.
//
// How the CLI uses it (src/cli/config_bridge.h): `--config FILE` is loaded
// with from_file(); every key under the section named by a subcommand's path
// fills that subcommand's option of the same name (`vocab_size` or
// `vocab-size` → --vocab-size) when the option was not given on the command
// line; a key that names no option is an error naming the key.
// Library code that reads settings directly uses the typed getters and
// check_known_keys().
//
// Thread-safety: a Config is a value; concurrent reads are safe, writes need
// external locking.
// Errors: parse errors carry file:line:column; getters return
// invalid_argument on a type mismatch and not_found for an absent key.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"

namespace flywheel {

using ConfigScalar = std::variant<bool, int64_t, double, std::string>;
// TOML dates and times are kept as their TOML text (strings); arrays hold
// scalars only (arrays of tables do not fit dotted keys and are rejected).
using ConfigValue = std::variant<bool, int64_t, double, std::string, std::vector<ConfigScalar>>;

struct ConfigEntry {
  ConfigValue value;
  std::string origin;  // "path:line" or "command line"
};

// "boolean", "integer", "float", "string", "array".
std::string_view config_value_type_name(const ConfigValue& value);
// TOML-like text for messages: 8192, 0.5, true, "text", ["a", "b"].
std::string config_value_to_toml(const ConfigValue& value);
// Plain text forms as a command line would spell them, one per array
// element: 8192, 0.5, true, text (no quotes).
std::vector<std::string> config_value_to_strings(const ConfigValue& value);

class Config {
 public:
  Config() = default;

  // not_found if the file is missing; invalid_argument with file:line:column
  // for TOML syntax errors; unsupported for arrays of tables.
  static Result<Config> from_file(const std::filesystem::path& path);
  // `source_name` is used in origins and messages in place of a path.
  static Result<Config> from_toml(std::string_view text, std::string_view source_name = "<config>");

  // Sets or replaces `key`; later calls win, so apply overrides after loading.
  void set(std::string key, ConfigValue value, std::string origin = "command line");
  // "key=value" with the value in TOML syntax (lr=3e-4, name="x", tags=["a", "b"]);
  // a value that is not TOML is taken as a plain string (name=x).
  Status set_from_assignment(std::string_view assignment, std::string_view origin = "command line");
  // Every key of `other` replaces the same key here.
  void merge(const Config& other);

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  bool contains(std::string_view key) const;
  const ConfigEntry* find(std::string_view key) const;
  // All keys, sorted.
  std::vector<std::string> keys() const;
  const std::map<std::string, ConfigEntry, std::less<>>& entries() const { return entries_; }

  Result<bool> get_bool(std::string_view key) const;
  Result<int64_t> get_int(std::string_view key) const;
  // An integer value converts to double; a float never converts to an integer.
  Result<double> get_double(std::string_view key) const;
  Result<std::string> get_string(std::string_view key) const;
  Result<std::vector<std::string>> get_string_list(std::string_view key) const;
  Result<std::vector<int64_t>> get_int_list(std::string_view key) const;

  // The same, returning `fallback` when the key is absent. A present key of
  // the wrong type is still an error: a typo'd value must not pass silently.
  Result<bool> get_bool_or(std::string_view key, bool fallback) const;
  Result<int64_t> get_int_or(std::string_view key, int64_t fallback) const;
  Result<double> get_double_or(std::string_view key, double fallback) const;
  Result<std::string> get_string_or(std::string_view key, std::string fallback) const;

  // The keys under "prefix." with the prefix removed (origins kept).
  Config section(std::string_view prefix) const;
  // invalid_argument naming the first key under "prefix." (all keys when the
  // prefix is empty) whose remaining name is not in `known`, with its origin
  // and the known names.
  Status check_known_keys(const std::vector<std::string>& known, std::string_view prefix = "") const;

 private:
  Result<const ConfigEntry*> require(std::string_view key) const;
  std::map<std::string, ConfigEntry, std::less<>> entries_;
};

}  // namespace flywheel
