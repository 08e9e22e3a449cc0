// Decoders of tokenizer.json: ByteLevel, Replace, ByteFallback, Fuse, Strip,
// Metaspace and Sequence, each a step of Hugging Face's decode_chain.
#include "tokenizer/byte_level.h"
#include "tokenizer/components.h"
#include "tokenizer/utf8.h"

namespace flywheel::tokenizer {
namespace {

class ByteLevelDecoder : public Decoder {
 public:
  explicit ByteLevelDecoder(Json json) : json_(std::move(json)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& token : tokens) {
      size_t mark = bytes.size();
      // A token with any character outside the byte map keeps its raw UTF-8 (as Hugging Face does).
      if (!unicode_to_bytes(token, bytes)) {
        bytes.resize(mark);
        bytes += token;
      }
    }
    tokens.assign(1, std::move(bytes));
  }
  Json to_json() const override { return json_; }

 private:
  Json json_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<Span> matches;
    for (std::string& token : tokens) {
      matches.clear();
      pattern_.find_all(token, matches);
      if (matches.empty()) continue;
      std::string out;
      size_t last = 0;
      for (const Span& m : matches) {
        out.append(token, last, m.begin - last);
        out += content_;
        last = m.end;
      }
      out.append(token, last, std::string::npos);
      token = std::move(out);
    }
  }
  Json to_json() const override {
    return Json{{"type", "Replace"}, {"pattern", pattern_.to_json()}, {"content", content_}};
  }

 private:
  Pattern pattern_;
  std::string content_;
};

int parse_byte_token(const std::string& token) {
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return -1;
  int value = 0;
  for (int i = 3; i < 5; ++i) {
    char c = token[i];
    int digit = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (is_valid_utf8(pending)) {
        out.push_back(pending);
      } else {
        for (size_t i = 0; i < pending.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (std::string& token : tokens) {
      int byte = parse_byte_token(token);
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    tokens = std::move(out);
  }
  Json to_json() const override { return Json{{"type", "ByteFallback"}}; }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
  Json to_json() const override { return Json{{"type", "Fuse"}}; }
};

class StripDecoder : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& token : tokens) {
      size_t begin = 0, end = token.size();
      for (size_t i = 0; i < start_ && token.compare(begin, content_.size(), content_) == 0; ++i)
        begin += content_.size();
      for (size_t i = 0; i < stop_ && end >= begin + content_.size() &&
                         token.compare(end - content_.size(), content_.size(), content_) == 0;
           ++i)
        end -= content_.size();
      token = token.substr(begin, end - begin);
    }
  }
  Json to_json() const override {
    return Json{{"type", "Strip"}, {"content", content_}, {"start", start_}, {"stop", stop_}};
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(Json json, std::string replacement, bool strip_first_space)
      : json_(std::move(json)), replacement_(std::move(replacement)), strip_first_space_(strip_first_space) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      for (size_t k = 0; k < t.size();) {
        if (t.compare(k, replacement_.size(), replacement_) == 0) {
          out.push_back(' ');
          k += replacement_.size();
        } else {
          out.push_back(t[k++]);
        }
      }
      if (i == 0 && strip_first_space_ && !out.empty() && out[0] == ' ') out.erase(0, 1);
      tokens[i] = std::move(out);
    }
  }
  Json to_json() const override { return json_; }

 private:
  Json json_;
  std::string replacement_;
  bool strip_first_space_;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> items) : items_(std::move(items)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : items_) d->decode_chain(tokens);
  }
  Json to_json() const override {
    Json list = Json::array();
    for (const auto& d : items_) list.push_back(d->to_json());
    return Json{{"type", "Sequence"}, {"decoders", list}};
  }

 private:
  std::vector<std::unique_ptr<Decoder>> items_;
};

}  // namespace

Result<std::unique_ptr<Decoder>> decoder_from_json(const Json& json) {
  if (json.is_null()) return std::unique_ptr<Decoder>();
  if (!json.is_object()) return Status::corruption("decoder must be an object or null");
  FW_ASSIGN_OR_RETURN(std::string type, json_string(json, "type", "decoder"));
  if (type == "ByteLevel") return std::unique_ptr<Decoder>(new ByteLevelDecoder(json));
  if (type == "ByteFallback") return std::unique_ptr<Decoder>(new ByteFallbackDecoder());
  if (type == "Fuse") return std::unique_ptr<Decoder>(new FuseDecoder());
  if (type == "Replace") {
    FW_ASSIGN_OR_RETURN(Pattern pattern, pattern_from_json(json.value("pattern", Json())));
    FW_ASSIGN_OR_RETURN(std::string content, json_string(json, "content", "Replace decoder"));
    return std::unique_ptr<Decoder>(new ReplaceDecoder(std::move(pattern), std::move(content)));
  }
  if (type == "Strip") {
    FW_ASSIGN_OR_RETURN(std::string content, json_string(json, "content", "Strip decoder"));
    auto count = [&](const char* field) -> size_t {
      return json.contains(field) && json[field].is_number_unsigned() ? json[field].get<size_t>() : 0;
    };
    return std::unique_ptr<Decoder>(new StripDecoder(std::move(content), count("start"), count("stop")));
  }
  if (type == "Metaspace") {
    std::string replacement = json.contains("replacement") && json["replacement"].is_string()
                                  ? json["replacement"].get<std::string>()
                                  : "\xE2\x96\x81";
    bool strip = true;
    if (json.contains("prepend_scheme") && json["prepend_scheme"].is_string())
      strip = json["prepend_scheme"].get<std::string>() != "never";
    else if (json.contains("add_prefix_space") && json["add_prefix_space"].is_boolean())
      strip = json["add_prefix_space"].get<bool>();
    return std::unique_ptr<Decoder>(new MetaspaceDecoder(json, std::move(replacement), strip));
  }
  if (type == "Sequence") {
    auto it = json.find("decoders");
    if (it == json.end() || !it->is_array()) return Status::corruption("Sequence decoder: 'decoders' must be a list");
    std::vector<std::unique_ptr<Decoder>> items;
    for (const Json& item : *it) {
      FW_ASSIGN_OR_RETURN(auto d, decoder_from_json(item));
      if (d) items.push_back(std::move(d));
    }
    return std::unique_ptr<Decoder>(new SequenceDecoder(std::move(items)));
  }
  return Status::unsupported("decoder type '" + type +
                             "' is not supported (supported: ByteLevel, Replace, ByteFallback, Fuse, Strip, "
                             "Metaspace, Sequence)");
}

}  // namespace flywheel::tokenizer
