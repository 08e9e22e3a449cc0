#include <string>

#include "tokenizer/components.h"

namespace flywheel::tokenizer {

Result<std::string> json_string(const Json& obj, std::string_view field, std::string_view component) {
  auto it = obj.find(std::string(field));
  if (it == obj.end() || !it->is_string())
    return Status::corruption(std::string(component) + ": field '" + std::string(field) + "' must be a string");
  return it->get<std::string>();
}

Result<bool> json_bool(const Json& obj, std::string_view field, std::string_view component, bool fallback) {
  auto it = obj.find(std::string(field));
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean())
    return Status::corruption(std::string(component) + ": field '" + std::string(field) + "' must be a boolean");
  return it->get<bool>();
}

Result<Pattern> pattern_from_json(const Json& json) {
  Pattern pattern;
  if (json.is_object() && json.contains("String") && json["String"].is_string()) {
    pattern.source = json["String"].get<std::string>();
    if (pattern.source.empty()) return Status::corruption("pattern: empty String pattern");
    return pattern;
  }
  if (json.is_object() && json.contains("Regex") && json["Regex"].is_string()) {
    pattern.is_regex = true;
    pattern.source = json["Regex"].get<std::string>();
    FW_ASSIGN_OR_RETURN(Regex regex, Regex::compile(pattern.source));
    pattern.regex = std::make_unique<Regex>(std::move(regex));
    return pattern;
  }
  return Status::corruption("pattern must be {\"String\": ...} or {\"Regex\": ...}, got " + json.dump());
}

Json Pattern::to_json() const { return Json{{is_regex ? "Regex" : "String", source}}; }

void Pattern::find_all(std::string_view text, std::vector<Span>& out) const {
  if (is_regex) {
    regex->find_all(text, out);
    return;
  }
  size_t pos = 0;
  while ((pos = text.find(source, pos)) != std::string_view::npos) {
    out.push_back({pos, pos + source.size()});
    pos += source.size();
  }
}

}  // namespace flywheel::tokenizer
