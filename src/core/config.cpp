#include "core/config.h"

#include <toml++/toml.h>

#include <charconv>
#include <sstream>

#include "core/atomic_file.h"

namespace flywheel {
namespace {

std::string double_text(double value) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (ec != std::errc()) return std::to_string(value);
  return std::string(buffer, end);
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
  out += '"';
  return out;
}

std::string scalar_to_toml(const ConfigScalar& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return std::to_string(v);
        } else if constexpr (std::is_same_v<T, double>) {
          std::string text = double_text(v);
          // TOML tells floats from integers by the point; keep 1.0 a float.
          if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
          return text;
        } else {
          return quote(v);
        }
      },
      value);
}

std::string scalar_to_string(const ConfigScalar& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  if (const auto* d = std::get_if<double>(&value)) return double_text(*d);
  return scalar_to_toml(value);
}

std::string origin_of(const toml::node& node, std::string_view source_name) {
  const auto& begin = node.source().begin;
  if (begin.line == 0) return std::string(source_name);
  return std::string(source_name) + ":" + std::to_string(begin.line);
}

template <typename T>
std::string toml_text(const T& value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

Result<ConfigScalar> scalar_from_node(const toml::node& node, const std::string& key, std::string_view source_name) {
  switch (node.type()) {
    case toml::node_type::boolean:
      return ConfigScalar(node.as_boolean()->get());
    case toml::node_type::integer:
      return ConfigScalar(static_cast<int64_t>(node.as_integer()->get()));
    case toml::node_type::floating_point:
      return ConfigScalar(node.as_floating_point()->get());
    case toml::node_type::string:
      return ConfigScalar(node.as_string()->get());
    case toml::node_type::date:
      return ConfigScalar(toml_text(node.as_date()->get()));
    case toml::node_type::time:
      return ConfigScalar(toml_text(node.as_time()->get()));
    case toml::node_type::date_time:
      return ConfigScalar(toml_text(node.as_date_time()->get()));
    default:
      return Status::unsupported(origin_of(node, source_name) + ": '" + key +
                                 "': arrays may hold only strings, numbers, booleans or dates "
                                 "(nested arrays and tables do not map to dotted keys)");
  }
}

Status flatten(const toml::table& table, const std::string& prefix, std::string_view source_name,
               std::map<std::string, ConfigEntry, std::less<>>& out) {
  for (auto&& [name, node] : table) {
    std::string key = prefix.empty() ? std::string(name.str()) : prefix + "." + std::string(name.str());
    if (const toml::table* child = node.as_table()) {
      FW_RETURN_IF_ERROR(flatten(*child, key, source_name, out));
      continue;
    }
    ConfigValue value;
    if (const toml::array* array = node.as_array()) {
      std::vector<ConfigScalar> items;
      items.reserve(array->size());
      for (const toml::node& item : *array) {
        FW_ASSIGN_OR_RETURN(auto scalar, scalar_from_node(item, key, source_name));
        items.push_back(std::move(scalar));
      }
      value = std::move(items);
    } else {
      FW_ASSIGN_OR_RETURN(auto scalar, scalar_from_node(node, key, source_name));
      value = std::visit([](auto&& v) -> ConfigValue { return std::move(v); }, std::move(scalar));
    }
    out[key] = ConfigEntry{std::move(value), origin_of(node, source_name)};
  }
  return Status::OK();
}

// "an integer", "a string": for "expected ..., got ..." messages.
std::string with_article(std::string_view type_name) {
  bool vowel = !type_name.empty() && std::string_view("aeiou").find(type_name[0]) != std::string_view::npos;
  return (vowel ? "an " : "a ") + std::string(type_name);
}

Status type_error(std::string_view key, const ConfigEntry& entry, std::string_view expected) {
  return Status::invalid_argument(entry.origin + ": '" + std::string(key) + "': expected " + with_article(expected) +
                                  ", got " + with_article(config_value_type_name(entry.value)) + " (" +
                                  config_value_to_toml(entry.value) + ")");
}

}  // namespace

std::string_view config_value_type_name(const ConfigValue& value) {
  switch (value.index()) {
    case 0:
      return "boolean";
    case 1:
      return "integer";
    case 2:
      return "float";
    case 3:
      return "string";
    default:
      return "array";
  }
}

std::string config_value_to_toml(const ConfigValue& value) {
  if (const auto* array = std::get_if<std::vector<ConfigScalar>>(&value)) {
    std::string out = "[";
    for (size_t i = 0; i < array->size(); ++i) {
      if (i > 0) out += ", ";
      out += scalar_to_toml((*array)[i]);
    }
    return out + "]";
  }
  return std::visit(
      [](const auto& v) -> std::string {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::vector<ConfigScalar>>) {
          return {};
        } else {
          return scalar_to_toml(ConfigScalar(v));
        }
      },
      value);
}

std::vector<std::string> config_value_to_strings(const ConfigValue& value) {
  std::vector<std::string> out;
  if (const auto* array = std::get_if<std::vector<ConfigScalar>>(&value)) {
    for (const auto& item : *array) out.push_back(scalar_to_string(item));
    return out;
  }
  std::visit(
      [&out](const auto& v) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(v)>, std::vector<ConfigScalar>>) {
          out.push_back(scalar_to_string(ConfigScalar(v)));
        }
      },
      value);
  return out;
}

Result<Config> Config::from_file(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text.ok()) return text.status().with_context("cannot load config");
  return from_toml(*text, path.string());
}

Result<Config> Config::from_toml(std::string_view text, std::string_view source_name) {
  toml::table table;
  try {
    table = toml::parse(text, source_name);
  } catch (const toml::parse_error& error) {
    const auto& where = error.source().begin;
    return Status::invalid_argument(std::string(source_name) + ":" + std::to_string(where.line) + ":" +
                                    std::to_string(where.column) +
                                    ": invalid TOML: " + std::string(error.description()));
  }
  Config config;
  FW_RETURN_IF_ERROR(flatten(table, "", source_name, config.entries_));
  return config;
}

void Config::set(std::string key, ConfigValue value, std::string origin) {
  entries_[std::move(key)] = ConfigEntry{std::move(value), std::move(origin)};
}

Status Config::set_from_assignment(std::string_view assignment, std::string_view origin) {
  size_t eq = assignment.find('=');
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  if (eq == std::string_view::npos) {
    return Status::invalid_argument("expected key=value, got '" + std::string(assignment) + "'");
  }
  std::string_view key = trim(assignment.substr(0, eq));
  std::string_view text = trim(assignment.substr(eq + 1));
  if (key.empty() || key.find_first_of(" \t\n\"'") != std::string_view::npos || key.front() == '.' ||
      key.back() == '.' || key.find("..") != std::string_view::npos) {
    return Status::invalid_argument("invalid config key '" + std::string(key) + "' in '" + std::string(assignment) +
                                    "' (expected dotted names such as train.lr)");
  }
  // Parse the value as TOML when it is one; anything else is meant as a plain
  // string, so `name=my-run` works without shell-escaped quotes.
  try {
    toml::table parsed = toml::parse("value = " + std::string(text));
    if (parsed.size() == 1) {
      std::map<std::string, ConfigEntry, std::less<>> flat;
      if (flatten(parsed, "", origin, flat).is_ok() && flat.size() == 1 && flat.begin()->first == "value") {
        set(std::string(key), std::move(flat.begin()->second.value), std::string(origin));
        return Status::OK();
      }
    }
  } catch (const toml::parse_error&) {
  }
  set(std::string(key), std::string(text), std::string(origin));
  return Status::OK();
}

void Config::merge(const Config& other) {
  for (const auto& [key, entry] : other.entries_) entries_[key] = entry;
}

bool Config::contains(std::string_view key) const { return entries_.find(key) != entries_.end(); }

const ConfigEntry* Config::find(std::string_view key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<std::string> Config::keys() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [key, entry] : entries_) out.push_back(key);
  return out;
}

Result<const ConfigEntry*> Config::require(std::string_view key) const {
  const ConfigEntry* entry = find(key);
  if (entry == nullptr) return Status::not_found("config key '" + std::string(key) + "' is not set");
  return entry;
}

Result<bool> Config::get_bool(std::string_view key) const {
  FW_ASSIGN_OR_RETURN(const ConfigEntry* entry, require(key));
  if (const auto* v = std::get_if<bool>(&entry->value)) return *v;
  return type_error(key, *entry, "boolean");
}

Result<int64_t> Config::get_int(std::string_view key) const {
  FW_ASSIGN_OR_RETURN(const ConfigEntry* entry, require(key));
  if (const auto* v = std::get_if<int64_t>(&entry->value)) return *v;
  return type_error(key, *entry, "integer");
}

Result<double> Config::get_double(std::string_view key) const {
  FW_ASSIGN_OR_RETURN(const ConfigEntry* entry, require(key));
  if (const auto* v = std::get_if<double>(&entry->value)) return *v;
  if (const auto* v = std::get_if<int64_t>(&entry->value)) return static_cast<double>(*v);
  return type_error(key, *entry, "float");
}

Result<std::string> Config::get_string(std::string_view key) const {
  FW_ASSIGN_OR_RETURN(const ConfigEntry* entry, require(key));
  if (const auto* v = std::get_if<std::string>(&entry->value)) return *v;
  return type_error(key, *entry, "string");
}

Result<std::vector<std::string>> Config::get_string_list(std::string_view key) const {
  FW_ASSIGN_OR_RETURN(const ConfigEntry* entry, require(key));
  const auto* array = std::get_if<std::vector<ConfigScalar>>(&entry->value);
  if (array == nullptr) return type_error(key, *entry, "array of strings");
  std::vector<std::string> out;
  for (const auto& item : *array) {
    const auto* s = std::get_if<std::string>(&item);
    if (s == nullptr) return type_error(key, *entry, "array of strings");
    out.push_back(*s);
  }
  return out;
}

Result<std::vector<int64_t>> Config::get_int_list(std::string_view key) const {
  FW_ASSIGN_OR_RETURN(const ConfigEntry* entry, require(key));
  const auto* array = std::get_if<std::vector<ConfigScalar>>(&entry->value);
  if (array == nullptr) return type_error(key, *entry, "array of integers");
  std::vector<int64_t> out;
  for (const auto& item : *array) {
    const auto* i = std::get_if<int64_t>(&item);
    if (i == nullptr) return type_error(key, *entry, "array of integers");
    out.push_back(*i);
  }
  return out;
}

Result<bool> Config::get_bool_or(std::string_view key, bool fallback) const {
  return contains(key) ? get_bool(key) : Result<bool>(fallback);
}

Result<int64_t> Config::get_int_or(std::string_view key, int64_t fallback) const {
  return contains(key) ? get_int(key) : Result<int64_t>(fallback);
}

Result<double> Config::get_double_or(std::string_view key, double fallback) const {
  return contains(key) ? get_double(key) : Result<double>(fallback);
}

Result<std::string> Config::get_string_or(std::string_view key, std::string fallback) const {
  return contains(key) ? get_string(key) : Result<std::string>(std::move(fallback));
}

Config Config::section(std::string_view prefix) const {
  Config out;
  std::string start = std::string(prefix) + ".";
  for (auto it = entries_.lower_bound(start); it != entries_.end() && it->first.starts_with(start); ++it) {
    out.entries_.emplace(it->first.substr(start.size()), it->second);
  }
  return out;
}

Status Config::check_known_keys(const std::vector<std::string>& known, std::string_view prefix) const {
  std::string start = prefix.empty() ? std::string() : std::string(prefix) + ".";
  for (auto it = entries_.lower_bound(start); it != entries_.end() && it->first.starts_with(start); ++it) {
    std::string_view name = std::string_view(it->first).substr(start.size());
    bool found = false;
    for (const auto& k : known) found = found || k == name;
    if (found) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    std::string where = prefix.empty() ? std::string() : " in [" + std::string(prefix) + "]";
    return Status::invalid_argument(
        it->second.origin + ": unknown config key '" + it->first + "'" +
        (known.empty() ? " (no keys are accepted" + where + ")" : " (known keys" + where + ": " + list + ")"));
  }
  return Status::OK();
}

}  // namespace flywheel
