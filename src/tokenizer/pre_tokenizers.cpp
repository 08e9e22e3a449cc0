// Pre-tokenizers of tokenizer.json: Split, ByteLevel, Metaspace, Digits,
// Whitespace, WhitespaceSplit and Sequence. Each turns every piece of a
// PieceList into sub-pieces; only ByteLevel and Metaspace rewrite the text.
#include "tokenizer/components.h"
#include "tokenizer/utf8.h"

namespace flywheel::tokenizer {
namespace {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct Segment {
  Span span;
  bool is_match;
};

// The pieces of `piece` given the pattern's matches in it, following Hugging
// Face's SplitDelimiterBehavior exactly (including its handling of adjacent
// delimiters). Matches are relative to the piece; output spans are absolute.
void split_piece(Span piece, const std::vector<Span>& matches, bool invert, SplitBehavior behavior,
                 std::vector<Span>& out) {
  std::vector<Segment> segments;
  segments.reserve(matches.size() * 2 + 1);
  size_t last = 0;
  const size_t len = piece.end - piece.begin;
  for (const Span& m : matches) {
    if (m.begin > last) segments.push_back({{last, m.begin}, invert});
    segments.push_back({m, !invert});
    last = m.end;
  }
  if (last < len) segments.push_back({{last, len}, invert});

  std::vector<Span> result;
  result.reserve(segments.size());
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Segment& s : segments)
        if (!s.is_match) result.push_back(s.span);
      break;
    case SplitBehavior::kIsolated:
      for (const Segment& s : segments) result.push_back(s.span);
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Segment& s : segments) {
        if (s.is_match && !previous_match && !result.empty()) result.back().end = s.span.end;
        else result.push_back(s.span);
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (it->is_match && !previous_match && !result.empty()) result.back().begin = it->span.begin;
        else result.push_back(it->span);
        previous_match = it->is_match;
      }
      std::reverse(result.begin(), result.end());
      break;
    case SplitBehavior::kContiguous:
      for (const Segment& s : segments) {
        if (s.is_match == previous_match && !result.empty()) result.back().end = s.span.end;
        else result.push_back(s.span);
        previous_match = s.is_match;
      }
      break;
  }
  for (const Span& s : result)
    if (s.end > s.begin) out.push_back({piece.begin + s.begin, piece.begin + s.end});
}

// Splits every piece of `list` by a matcher(text, matches) function.
// Invalid UTF-8 cannot occur in Hugging Face (its input is a Rust String);
// flywheel keeps each run of invalid bytes as a piece of its own, whatever the
// behavior, so byte-level tokenizers still encode every byte.
template <typename FindAll>
void split_all(PieceList& list, bool invert, SplitBehavior behavior, FindAll&& find_all) {
  std::vector<Span> out;
  out.reserve(list.pieces.size() * 4);
  std::vector<Span> matches;
  auto split_valid = [&](Span piece) {
    matches.clear();
    find_all(std::string_view(list.text).substr(piece.begin, piece.end - piece.begin), matches);
    split_piece(piece, matches, invert, behavior, out);
  };
  for (const Span& piece : list.pieces) {
    std::string_view text = std::string_view(list.text).substr(piece.begin, piece.end - piece.begin);
    if (is_valid_utf8(text)) {
      split_valid(piece);
      continue;
    }
    size_t i = 0, run_start = 0;
    while (i < text.size()) {
      size_t start = i;
      if (next_code_point(text, i) != kInvalidCodePoint) continue;
      while (i < text.size()) {  // extend over the whole run of invalid bytes
        size_t probe = i;
        if (next_code_point(text, probe) != kInvalidCodePoint) break;
        i = probe;
      }
      if (start > run_start) split_valid({piece.begin + run_start, piece.begin + start});
      out.push_back({piece.begin + start, piece.begin + i});
      run_start = i;
    }
    if (run_start < text.size()) split_valid({piece.begin + run_start, piece.end});
  }
  list.pieces = std::move(out);
}

// Rebuilds the text so that each piece for which `want_prefix` holds starts
// with `prefix`; spans are shifted accordingly.
template <typename WantPrefix>
void prepend_to_pieces(PieceList& list, std::string_view prefix, WantPrefix&& want_prefix) {
  std::string text;
  text.reserve(list.text.size() + prefix.size() * list.pieces.size());
  std::vector<Span> pieces;
  pieces.reserve(list.pieces.size());
  size_t last = 0;
  for (size_t i = 0; i < list.pieces.size(); ++i) {
    const Span& p = list.pieces[i];
    text.append(list.text, last, p.begin - last);
    size_t begin = text.size();
    if (want_prefix(i, std::string_view(list.text).substr(p.begin, p.end - p.begin))) text += prefix;
    text.append(list.text, p.begin, p.end - p.begin);
    pieces.push_back({begin, text.size()});
    last = p.end;
  }
  list.text = std::move(text);
  list.pieces = std::move(pieces);
}

Result<SplitBehavior> behavior_from_string(const std::string& s) {
  if (s == "Removed") return SplitBehavior::kRemoved;
  if (s == "Isolated") return SplitBehavior::kIsolated;
  if (s == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (s == "Contiguous") return SplitBehavior::kContiguous;
  return Status::corruption("Split pre-tokenizer: unknown behavior '" + s + "'");
}

const char* behavior_name(SplitBehavior b) {
  switch (b) {
    case SplitBehavior::kRemoved: return "Removed";
    case SplitBehavior::kIsolated: return "Isolated";
    case SplitBehavior::kMergedWithPrevious: return "MergedWithPrevious";
    case SplitBehavior::kMergedWithNext: return "MergedWithNext";
    case SplitBehavior::kContiguous: return "Contiguous";
  }
  return "Isolated";
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(Pattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(PieceList& list) const override {
    split_all(list, invert_, behavior_,
              [this](std::string_view text, std::vector<Span>& m) { pattern_.find_all(text, m); });
  }
  Json to_json() const override {
    return Json{{"type", "Split"}, {"pattern", pattern_.to_json()}, {"behavior", behavior_name(behavior_)},
                {"invert", invert_}};
  }

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

// GPT-2's pre-tokenization pattern, used by ByteLevel when use_regex is set.
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool trim_offsets, bool use_regex, Regex regex)
      : add_prefix_space_(add_prefix_space), trim_offsets_(trim_offsets), use_regex_(use_regex),
        regex_(std::move(regex)) {}
  void pre_tokenize(PieceList& list) const override {
    if (add_prefix_space_)
      prepend_to_pieces(list, " ", [](size_t, std::string_view piece) { return piece.empty() || piece[0] != ' '; });
    if (use_regex_)
      split_all(list, false, SplitBehavior::kIsolated,
                [this](std::string_view text, std::vector<Span>& m) { regex_.find_all(text, m); });
  }
  bool is_byte_level() const override { return true; }
  Json to_json() const override {
    return Json{{"type", "ByteLevel"},
                {"add_prefix_space", add_prefix_space_},
                {"trim_offsets", trim_offsets_},
                {"use_regex", use_regex_}};
  }

 private:
  bool add_prefix_space_, trim_offsets_, use_regex_;
  Regex regex_;
};

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, std::string prepend_scheme, bool split)
      : replacement_(std::move(replacement)), prepend_scheme_(std::move(prepend_scheme)), split_(split) {}
  void pre_tokenize(PieceList& list) const override {
    // Replace spaces inside each piece, keeping the pieces' boundaries.
    std::string text;
    std::vector<Span> pieces;
    size_t last = 0;
    for (const Span& p : list.pieces) {
      text.append(list.text, last, p.begin - last);
      size_t begin = text.size();
      for (size_t i = p.begin; i < p.end; ++i) {
        if (list.text[i] == ' ') text += replacement_;
        else text.push_back(list.text[i]);
      }
      pieces.push_back({begin, text.size()});
      last = p.end;
    }
    list.text = std::move(text);
    list.pieces = std::move(pieces);
    if (prepend_scheme_ != "never") {
      const bool first_only = prepend_scheme_ == "first";
      const bool list_first = list.first;
      prepend_to_pieces(list, replacement_, [&](size_t index, std::string_view piece) {
        if (piece.substr(0, replacement_.size()) == replacement_) return false;
        return !first_only || (list_first && index == 0 && list.pieces[0].begin == 0);
      });
    }
    if (split_) {
      split_all(list, false, SplitBehavior::kMergedWithNext, [this](std::string_view text, std::vector<Span>& m) {
        size_t pos = 0;
        while ((pos = text.find(replacement_, pos)) != std::string_view::npos) {
          m.push_back({pos, pos + replacement_.size()});
          pos += replacement_.size();
        }
      });
    }
  }
  Json to_json() const override {
    return Json{{"type", "Metaspace"}, {"replacement", replacement_}, {"prepend_scheme", prepend_scheme_},
                {"split", split_}};
  }

 private:
  std::string replacement_, prepend_scheme_;
  bool split_;
};

// Splits by a regex with a fixed behavior: Digits, Whitespace, WhitespaceSplit.
class RegexPreTokenizer : public PreTokenizer {
 public:
  RegexPreTokenizer(Json json, Regex regex, bool invert, SplitBehavior behavior)
      : json_(std::move(json)), regex_(std::move(regex)), invert_(invert), behavior_(behavior) {}
  void pre_tokenize(PieceList& list) const override {
    split_all(list, invert_, behavior_,
              [this](std::string_view text, std::vector<Span>& m) { regex_.find_all(text, m); });
  }
  Json to_json() const override { return json_; }

 private:
  Json json_;
  Regex regex_;
  bool invert_;
  SplitBehavior behavior_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> items) : items_(std::move(items)) {}
  void pre_tokenize(PieceList& list) const override {
    for (const auto& p : items_) p->pre_tokenize(list);
  }
  bool is_byte_level() const override { return !items_.empty() && items_.back()->is_byte_level(); }
  Json to_json() const override {
    Json list = Json::array();
    for (const auto& p : items_) list.push_back(p->to_json());
    return Json{{"type", "Sequence"}, {"pretokenizers", list}};
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> items_;
};

Result<std::unique_ptr<PreTokenizer>> regex_pre_tokenizer(const Json& json, const char* pattern, bool invert,
                                                          SplitBehavior behavior) {
  FW_ASSIGN_OR_RETURN(Regex regex, Regex::compile(pattern));
  return std::unique_ptr<PreTokenizer>(new RegexPreTokenizer(json, std::move(regex), invert, behavior));
}

}  // namespace

Result<std::unique_ptr<PreTokenizer>> pre_tokenizer_from_json(const Json& json) {
  if (json.is_null()) return std::unique_ptr<PreTokenizer>();
  if (!json.is_object()) return Status::corruption("pre_tokenizer must be an object or null");
  FW_ASSIGN_OR_RETURN(std::string type, json_string(json, "type", "pre_tokenizer"));
  if (type == "Split") {
    FW_ASSIGN_OR_RETURN(Pattern pattern, pattern_from_json(json.value("pattern", Json())));
    FW_ASSIGN_OR_RETURN(std::string behavior_name, json_string(json, "behavior", "Split pre-tokenizer"));
    FW_ASSIGN_OR_RETURN(SplitBehavior behavior, behavior_from_string(behavior_name));
    FW_ASSIGN_OR_RETURN(bool invert, json_bool(json, "invert", "Split pre-tokenizer", false));
    return std::unique_ptr<PreTokenizer>(new SplitPreTokenizer(std::move(pattern), behavior, invert));
  }
  if (type == "ByteLevel") {
    FW_ASSIGN_OR_RETURN(bool add_prefix_space, json_bool(json, "add_prefix_space", "ByteLevel", true));
    FW_ASSIGN_OR_RETURN(bool trim_offsets, json_bool(json, "trim_offsets", "ByteLevel", true));
    FW_ASSIGN_OR_RETURN(bool use_regex, json_bool(json, "use_regex", "ByteLevel", true));
    FW_ASSIGN_OR_RETURN(Regex regex, Regex::compile(kGpt2Pattern));
    return std::unique_ptr<PreTokenizer>(
        new ByteLevelPreTokenizer(add_prefix_space, trim_offsets, use_regex, std::move(regex)));
  }
  if (type == "Metaspace") {
    std::string replacement = json.contains("replacement") && json["replacement"].is_string()
                                  ? json["replacement"].get<std::string>()
                                  : "\xE2\x96\x81";
    std::string scheme = "always";
    if (json.contains("prepend_scheme") && json["prepend_scheme"].is_string()) {
      scheme = json["prepend_scheme"].get<std::string>();
    } else if (json.contains("add_prefix_space") && json["add_prefix_space"].is_boolean()) {
      scheme = json["add_prefix_space"].get<bool>() ? "always" : "never";
    }
    if (scheme != "always" && scheme != "never" && scheme != "first")
      return Status::corruption("Metaspace: unknown prepend_scheme '" + scheme + "'");
    FW_ASSIGN_OR_RETURN(bool split, json_bool(json, "split", "Metaspace", true));
    return std::unique_ptr<PreTokenizer>(new MetaspacePreTokenizer(std::move(replacement), scheme, split));
  }
  if (type == "Digits") {
    FW_ASSIGN_OR_RETURN(bool individual, json_bool(json, "individual_digits", "Digits", false));
    return regex_pre_tokenizer(Json{{"type", "Digits"}, {"individual_digits", individual}}, R"(\p{N})", false,
                               individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
  }
  if (type == "Whitespace") return regex_pre_tokenizer(json, R"(\w+|[^\w\s]+)", true, SplitBehavior::kRemoved);
  if (type == "WhitespaceSplit") return regex_pre_tokenizer(json, R"(\S+)", true, SplitBehavior::kRemoved);
  if (type == "Sequence") {
    auto it = json.find("pretokenizers");
    if (it == json.end() || !it->is_array())
      return Status::corruption("Sequence pre-tokenizer: 'pretokenizers' must be a list");
    std::vector<std::unique_ptr<PreTokenizer>> items;
    for (size_t i = 0; i < it->size(); ++i) {
      FW_ASSIGN_OR_RETURN(auto p, pre_tokenizer_from_json((*it)[i]));
      if (!p) continue;
      if (!items.empty() && items.back()->is_byte_level())
        return Status::unsupported("a ByteLevel pre-tokenizer must come last in its Sequence");
      items.push_back(std::move(p));
    }
    return std::unique_ptr<PreTokenizer>(new SequencePreTokenizer(std::move(items)));
  }
  return Status::unsupported("pre_tokenizer type '" + type +
                             "' is not supported (supported: Split, ByteLevel, Metaspace, Digits, Whitespace, "
                             "WhitespaceSplit, Sequence)");
}

}  // namespace flywheel::tokenizer
