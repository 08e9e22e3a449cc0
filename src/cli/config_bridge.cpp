#include "cli/config_bridge.h"

#include <cctype>
#include <charconv>
#include <iterator>
#include <memory>
#include <sstream>

namespace flywheel::cli {
namespace {

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t dot = key.find('.', start);
    parts.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

const CLI::App* find_subcommand(const CLI::App& app, const std::string& name) {
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name() == name) return sub;
  }
  return nullptr;
}

bool is_settable(const CLI::Option* option) {
  return option != nullptr && option->get_configurable() && !option->get_lnames().empty();
}

// TOML spelling of an option's long name: --vocab-size → vocab_size.
std::string toml_name(std::string name) {
  for (char& c : name) c = c == '-' ? '_' : c;
  return name;
}

std::string command_path(const std::vector<std::string>& parents) {
  std::string out = "flywheel";
  for (const auto& p : parents) out += " " + p;
  return out;
}

std::string settable_keys(const CLI::App& app) {
  std::string out;
  for (const CLI::Option* option : app.get_options()) {
    if (!is_settable(option)) continue;
    out += (out.empty() ? "" : ", ") + toml_name(option->get_lnames().front());
  }
  return out.empty() ? "none" : out;
}

bool looks_like_toml_literal(const std::string& text) {
  if (text == "true" || text == "false") return true;
  if (text.empty()) return false;
  double value;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

std::string toml_value(const std::string& text) {
  if (looks_like_toml_literal(text)) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

void write_section(const CLI::App& app, bool default_also, bool write_description, const std::string& section,
                   std::ostringstream& out) {
  std::ostringstream body;
  for (const CLI::Option* option : app.get_options()) {
    if (!is_settable(option)) continue;
    std::vector<std::string> values = option->results();
    if (values.empty() && default_also && !option->get_default_str().empty()) {
      values.push_back(option->get_default_str());
    }
    if (values.empty()) continue;
    if (write_description && !option->get_description().empty()) body << "# " << option->get_description() << "\n";
    body << toml_name(option->get_lnames().front()) << " = ";
    if (values.size() == 1 && option->get_expected_max() <= 1) {
      body << toml_value(values.front());
    } else {
      body << "[";
      for (size_t i = 0; i < values.size(); ++i) body << (i ? ", " : "") << toml_value(values[i]);
      body << "]";
    }
    body << "\n";
  }
  if (!body.str().empty()) {
    if (!section.empty()) out << "\n[" << section << "]\n";
    out << body.str();
  }
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    write_section(*sub, default_also, write_description,
                  section.empty() ? sub->get_name() : section + "." + sub->get_name(), out);
  }
}

// CLI11 hands the formatter an open stream, not the file name; the name comes
// from the root's --config option so messages can point at file:line.
class TomlConfigFormatter : public CLI::Config {
 public:
  explicit TomlConfigFormatter(const CLI::App* root) : root_(root) {}

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::string text((std::istreambuf_iterator<char>(input)), std::istreambuf_iterator<char>());
    std::string name = "config";
    if (const CLI::Option* option = root_->get_config_ptr(); option != nullptr && !option->results().empty()) {
      name = option->results().front();
    }
    auto config = flywheel::Config::from_toml(text, name);
    if (!config.ok()) throw CLI::ConfigError(config.status().message());
    auto items = config_items_for(*config, *root_);
    if (!items.ok()) throw CLI::ConfigError(items.status().message());
    return std::move(items).value();
  }

  std::string to_config(const CLI::App* app, bool default_also, bool write_description,
                        std::string prefix) const override {
    std::ostringstream out;
    if (!prefix.empty() && prefix.back() == '.') prefix.pop_back();
    write_section(*app, default_also, write_description, prefix, out);
    return out.str();
  }

 private:
  const CLI::App* root_;
};

}  // namespace

Result<std::vector<CLI::ConfigItem>> config_items_for(const Config& config, const CLI::App& root) {
  std::vector<CLI::ConfigItem> items;
  for (const auto& [key, entry] : config.entries()) {
    std::vector<std::string> parts = split_key(key);
    const CLI::App* app = &root;
    CLI::ConfigItem item;
    size_t i = 0;
    for (; i + 1 < parts.size(); ++i) {
      const CLI::App* sub = find_subcommand(*app, parts[i]);
      if (sub == nullptr) break;
      app = sub;
      item.parents.push_back(parts[i]);
    }
    if (i + 1 != parts.size()) {
      return Status::invalid_argument(entry.origin + ": unknown config key '" + key + "': '" +
                                      command_path(item.parents) + "' has no subcommand '" + parts[i] + "'");
    }
    std::string name = parts.back();
    for (char& c : name) c = c == '_' ? '-' : c;
    const CLI::Option* option = app->get_option_no_throw("--" + name);
    if (option != nullptr && !is_settable(option)) {
      return Status::invalid_argument(entry.origin + ": config key '" + key + "': --" + name +
                                      " can only be given on the command line");
    }
    if (option == nullptr) {
      std::string section = item.parents.empty() ? "top level" : "[" + key.substr(0, key.rfind('.')) + "]";
      return Status::invalid_argument(entry.origin + ": unknown config key '" + key + "': '" +
                                      command_path(item.parents) + "' has no option --" + name + " (keys accepted in " +
                                      section + ": " + settable_keys(*app) + ")");
    }
    item.name = option->get_lnames().front();
    item.inputs = config_value_to_strings(entry.value);
    items.push_back(std::move(item));
  }
  return items;
}

void enable_config_file(CLI::App& root) {
  root.set_config("--config", "",
                  "TOML file with default option values: [section] per subcommand path, e.g. "
                  "[tokenizer.train] vocab_size = 8192; command-line flags win")
      ->type_name("FILE")
      ->check(CLI::Validator(CLI::ExistingFile).description(""));
  root.config_formatter(std::make_shared<TomlConfigFormatter>(&root));
}

}  // namespace flywheel::cli
