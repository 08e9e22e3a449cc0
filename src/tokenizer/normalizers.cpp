// Normalizers of tokenizer.json: NFC/NFD/NFKC/NFKD, Lowercase, Prepend,
// Replace, Strip and Sequence.
#include <utf8proc.h>

#include "tokenizer/components.h"
#include "tokenizer/utf8.h"

namespace flywheel::tokenizer {
namespace {

bool is_ascii(std::string_view text) {
  for (char c : text)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

// Applies `fn` to each maximal run of valid UTF-8, leaving invalid bytes as
// they are: the byte-level model still encodes them faithfully.
template <typename Fn>
void map_valid_runs(std::string& text, Fn&& fn) {
  if (is_valid_utf8(text)) {
    text = fn(std::string_view(text));
    return;
  }
  std::string out;
  size_t run_start = 0, i = 0;
  while (i < text.size()) {
    size_t start = i;
    if (next_code_point(text, i) == kInvalidCodePoint) {
      out += fn(std::string_view(text).substr(run_start, start - run_start));
      out.append(text, start, i - start);
      run_start = i;
    }
  }
  out += fn(std::string_view(text).substr(run_start));
  text = std::move(out);
}

class UnicodeNormalizer : public Normalizer {
 public:
  UnicodeNormalizer(std::string type, utf8proc_option_t options) : type_(std::move(type)), options_(options) {}
  void normalize(std::string& text) const override {
    if (is_ascii(text)) return;  // every form leaves ASCII unchanged
    map_valid_runs(text, [this](std::string_view run) {
      if (run.empty() || is_ascii(run)) return std::string(run);
      utf8proc_uint8_t* result = nullptr;
      utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(run.data()),
                                        static_cast<utf8proc_ssize_t>(run.size()), &result,
                                        static_cast<utf8proc_option_t>(options_ | UTF8PROC_STABLE));
      if (n < 0) return std::string(run);
      std::string out(reinterpret_cast<char*>(result), static_cast<size_t>(n));
      free(result);
      return out;
    });
  }
  Json to_json() const override { return Json{{"type", type_}}; }

 private:
  std::string type_;
  utf8proc_option_t options_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    map_valid_runs(text, [](std::string_view run) {
      std::string out;
      out.reserve(run.size());
      size_t i = 0;
      while (i < run.size()) append_utf8(static_cast<uint32_t>(utf8proc_tolower(next_code_point(run, i))), out);
      return out;
    });
  }
  Json to_json() const override { return Json{{"type", "Lowercase"}}; }
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prepend) : prepend_(std::move(prepend)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prepend_);
  }
  Json to_json() const override { return Json{{"type", "Prepend"}, {"prepend", prepend_}}; }

 private:
  std::string prepend_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& text) const override {
    std::vector<Span> matches;
    pattern_.find_all(text, matches);
    if (matches.empty()) return;
    std::string out;
    out.reserve(text.size() + matches.size() * content_.size());
    size_t last = 0;
    for (const Span& m : matches) {
      out.append(text, last, m.begin - last);
      out += content_;
      last = m.end;
    }
    out.append(text, last, std::string::npos);
    text = std::move(out);
  }
  Json to_json() const override {
    return Json{{"type", "Replace"}, {"pattern", pattern_.to_json()}, {"content", content_}};
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
    size_t b = 0, e = text.size();
    if (left_)
      while (b < e && is_space(text[b])) ++b;
    if (right_)
      while (e > b && is_space(text[e - 1])) --e;
    text = text.substr(b, e - b);
  }
  Json to_json() const override { return Json{{"type", "Strip"}, {"strip_left", left_}, {"strip_right", right_}}; }

 private:
  bool left_, right_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> items) : items_(std::move(items)) {}
  void normalize(std::string& text) const override {
    for (const auto& n : items_) n->normalize(text);
  }
  Json to_json() const override {
    Json list = Json::array();
    for (const auto& n : items_) list.push_back(n->to_json());
    return Json{{"type", "Sequence"}, {"normalizers", list}};
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> items_;
};

}  // namespace

Result<std::unique_ptr<Normalizer>> normalizer_from_json(const Json& json) {
  if (json.is_null()) return std::unique_ptr<Normalizer>();
  if (!json.is_object()) return Status::corruption("normalizer must be an object or null");
  FW_ASSIGN_OR_RETURN(std::string type, json_string(json, "type", "normalizer"));
  if (type == "NFC") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(type, UTF8PROC_COMPOSE));
  if (type == "NFD") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(type, UTF8PROC_DECOMPOSE));
  if (type == "NFKC")
    return std::unique_ptr<Normalizer>(
        new UnicodeNormalizer(type, static_cast<utf8proc_option_t>(UTF8PROC_COMPOSE | UTF8PROC_COMPAT)));
  if (type == "NFKD")
    return std::unique_ptr<Normalizer>(
        new UnicodeNormalizer(type, static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT)));
  if (type == "Lowercase") return std::unique_ptr<Normalizer>(new LowercaseNormalizer());
  if (type == "Prepend") {
    FW_ASSIGN_OR_RETURN(std::string prepend, json_string(json, "prepend", "Prepend normalizer"));
    return std::unique_ptr<Normalizer>(new PrependNormalizer(std::move(prepend)));
  }
  if (type == "Replace") {
    FW_ASSIGN_OR_RETURN(Pattern pattern, pattern_from_json(json.value("pattern", Json())));
    FW_ASSIGN_OR_RETURN(std::string content, json_string(json, "content", "Replace normalizer"));
    return std::unique_ptr<Normalizer>(new ReplaceNormalizer(std::move(pattern), std::move(content)));
  }
  if (type == "Strip") {
    FW_ASSIGN_OR_RETURN(bool left, json_bool(json, "strip_left", "Strip normalizer", true));
    FW_ASSIGN_OR_RETURN(bool right, json_bool(json, "strip_right", "Strip normalizer", true));
    return std::unique_ptr<Normalizer>(new StripNormalizer(left, right));
  }
  if (type == "Sequence") {
    auto it = json.find("normalizers");
    if (it == json.end() || !it->is_array()) return Status::corruption("Sequence normalizer: 'normalizers' must be a list");
    std::vector<std::unique_ptr<Normalizer>> items;
    for (const Json& item : *it) {
      FW_ASSIGN_OR_RETURN(auto n, normalizer_from_json(item));
      if (n) items.push_back(std::move(n));
    }
    return std::unique_ptr<Normalizer>(new SequenceNormalizer(std::move(items)));
  }
  return Status::unsupported("normalizer type '" + type +
                             "' is not supported (supported: NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip, "
                             "Sequence)");
}

}  // namespace flywheel::tokenizer
