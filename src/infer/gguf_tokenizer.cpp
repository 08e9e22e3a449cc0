#include "infer/gguf_tokenizer.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

namespace flywheel::infer {

namespace {

using Json = nlohmann::ordered_json;

// Hugging Face's pre-tokenizer regexes, named as llama.cpp's tokenizer.ggml.pre names them.
constexpr std::string_view kQwen2Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kLlama3Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kSentencePieceSpace = "\xE2\x96\x81";  // U+2581

Json byte_level(bool use_regex) {
  return Json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", use_regex}};
}

Json split(std::string_view regex) {
  return Json{
      {"type", "Split"}, {"pattern", {{"Regex", std::string(regex)}}}, {"behavior", "Isolated"}, {"invert", false}};
}

Result<Json> pre_tokenizer_for(const std::string& pre) {
  if (pre == "qwen2" || pre == "deepseek-r1-qwen")
    return Json{{"type", "Sequence"}, {"pretokenizers", Json::array({split(kQwen2Regex), byte_level(false)})}};
  if (pre == "llama-bpe" || pre == "llama3" || pre == "smaug-bpe")
    return Json{{"type", "Sequence"}, {"pretokenizers", Json::array({split(kLlama3Regex), byte_level(false)})}};
  if (pre == "default" || pre == "gpt-2" || pre == "gpt2") return byte_level(true);
  if (pre == "starcoder" || pre == "refact")
    return Json{
        {"type", "Sequence"},
        {"pretokenizers", Json::array({Json{{"type", "Digits"}, {"individual_digits", true}}, byte_level(true)})}};
  return Status::unsupported("GGUF tokenizer.ggml.pre \"" + pre +
                             "\" is not supported (qwen2, llama-bpe, gpt-2, default, starcoder)");
}

Json added_token(int64_t id, const std::string& content, bool special) {
  return Json{{"id", id},        {"content", content},     {"single_word", false}, {"lstrip", false},
              {"rstrip", false}, {"normalized", !special}, {"special", special}};
}

Json bos_template(const std::string& bos, int64_t bos_id) {
  return Json{
      {"type", "TemplateProcessing"},
      {"single", Json::array({Json{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                              Json{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
      {"pair", Json::array()},
      {"special_tokens", {{bos, {{"id", bos}, {"ids", Json::array({bos_id})}, {"tokens", Json::array({bos})}}}}}};
}

size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 6) return 2;
  if ((lead >> 4) == 14) return 3;
  if ((lead >> 3) == 30) return 4;
  return 1;
}

// SentencePiece merges from the vocabulary and scores, as Hugging Face's
// SentencePieceExtractor derives them: every split of a token (at a character
// boundary) into two tokens is a merge; ranks follow the merged token's score
// (highest first, stable), within a token by the ids of left then right.
std::vector<std::string> derive_merges(const std::vector<std::string>& tokens, const std::vector<double>& scores,
                                       const std::vector<int64_t>& types) {
  std::unordered_map<std::string_view, int64_t> ids;
  for (size_t i = 0; i < tokens.size(); ++i) ids.emplace(tokens[i], static_cast<int64_t>(i));
  struct Merge {
    double score;
    int64_t left, right;
  };
  std::vector<Merge> merges;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const std::string& token = tokens[t];
    std::vector<Merge> local;
    for (size_t k = utf8_length(static_cast<unsigned char>(token[0])); k < token.size();
         k += utf8_length(static_cast<unsigned char>(token[k]))) {
      auto l = ids.find(std::string_view(token).substr(0, k));
      auto r = ids.find(std::string_view(token).substr(k));
      if (l != ids.end() && r != ids.end()) local.push_back({scores[t], l->second, r->second});
    }
    std::sort(local.begin(), local.end(),
              [](const Merge& a, const Merge& b) { return a.left != b.left ? a.left < b.left : a.right < b.right; });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  (void)types;
  std::stable_sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) { return a.score > b.score; });
  std::vector<std::string> out;
  out.reserve(merges.size());
  for (const Merge& m : merges) out.push_back(tokens[m.left] + " " + tokens[m.right]);
  return out;
}

// The array at `key` with `n` elements of the given kind, or an error naming it.
Result<const GgufValue*> array_of(const GgufFile& file, const std::string& key, GgufValueType element, size_t n,
                                  bool integers) {
  const GgufValue* v = file.find(key);
  if (v == nullptr) return Status::corruption("GGUF " + file.source() + ": no metadata " + key);
  GgufValue element_kind;
  element_kind.type = v->type == GgufValueType::kArray ? v->element_type : GgufValueType::kArray;
  const bool kind_ok = element == GgufValueType::kString ? element_kind.type == GgufValueType::kString
                       : integers                        ? element_kind.is_integer()
                                                         : element_kind.is_float();
  if (!kind_ok)
    return Status::corruption("GGUF " + file.source() + ": metadata " + key + " is not an array of the expected type");
  if (n != SIZE_MAX && v->array_size() != n)
    return Status::corruption("GGUF " + file.source() + ": metadata " + key + " has " +
                              std::to_string(v->array_size()) + " elements for " + std::to_string(n) + " tokens");
  return v;
}

std::optional<int64_t> token_id(const GgufFile& file, const std::string& key, size_t vocab) {
  std::optional<int64_t> id = file.int_or(key);
  if (id && (*id < 0 || static_cast<size_t>(*id) >= vocab)) return std::nullopt;
  return id;
}

}  // namespace

Result<std::string> tokenizer_json_from_gguf(const GgufFile& file) {
  FW_ASSIGN_OR_RETURN(std::string model, file.get_string("tokenizer.ggml.model"));
  FW_ASSIGN_OR_RETURN(const GgufValue* tokens_value,
                      array_of(file, "tokenizer.ggml.tokens", GgufValueType::kString, SIZE_MAX, false));
  const std::vector<std::string>& tokens = tokens_value->strings;
  if (tokens.empty()) return Status::corruption("GGUF " + file.source() + ": tokenizer.ggml.tokens is empty");
  std::vector<int64_t> types(tokens.size(), static_cast<int64_t>(GgufTokenType::kNormal));
  if (file.find("tokenizer.ggml.token_type") != nullptr) {
    FW_ASSIGN_OR_RETURN(const GgufValue* t,
                        array_of(file, "tokenizer.ggml.token_type", GgufValueType::kInt32, tokens.size(), true));
    types = t->integers;
  }
  const std::optional<int64_t> bos = token_id(file, "tokenizer.ggml.bos_token_id", tokens.size());
  const std::optional<int64_t> unk = token_id(file, "tokenizer.ggml.unknown_token_id", tokens.size());

  Json vocab = Json::object();
  Json added = Json::array();
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].empty())
      return Status::corruption("GGUF " + file.source() + ": token " + std::to_string(i) + " is empty");
    if (vocab.contains(tokens[i]))
      return Status::corruption("GGUF " + file.source() + ": token \"" + tokens[i] +
                                "\" appears twice in tokenizer.ggml.tokens");
    vocab[tokens[i]] = i;
    const auto type = static_cast<GgufTokenType>(types[i]);
    if (type == GgufTokenType::kControl || (model == "llama" && type == GgufTokenType::kUnknown))
      added.push_back(added_token(static_cast<int64_t>(i), tokens[i], true));
    else if (type == GgufTokenType::kUserDefined)
      added.push_back(added_token(static_cast<int64_t>(i), tokens[i], false));
  }

  Json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added;
  if (model == "gpt2") {
    FW_ASSIGN_OR_RETURN(const GgufValue* merges,
                        array_of(file, "tokenizer.ggml.merges", GgufValueType::kString, SIZE_MAX, false));
    const std::string pre =
        file.get_string("tokenizer.ggml.pre").ok() ? *file.get_string("tokenizer.ggml.pre") : "default";
    FW_ASSIGN_OR_RETURN(Json pre_tokenizer, pre_tokenizer_for(pre));
    const bool add_bos = file.int_or("tokenizer.ggml.add_bos_token").value_or(0) != 0;
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = pre_tokenizer;
    j["post_processor"] = add_bos && bos ? bos_template(tokens[*bos], *bos) : byte_level(false);
    j["decoder"] = byte_level(false);
    j["model"] = {
        {"type", "BPE"},          {"dropout", nullptr},     {"unk_token", nullptr},      {"fuse_unk", false},
        {"byte_fallback", false}, {"ignore_merges", false}, {"vocab", std::move(vocab)}, {"merges", merges->strings}};
  } else if (model == "llama") {
    std::vector<double> scores(tokens.size(), 0.0);
    if (file.find("tokenizer.ggml.scores") != nullptr) {
      FW_ASSIGN_OR_RETURN(const GgufValue* s,
                          array_of(file, "tokenizer.ggml.scores", GgufValueType::kFloat32, tokens.size(), false));
      scores = s->reals;
    }
    // Merges only between normal and byte pieces (added tokens are matched whole).
    std::vector<std::string> mergeable = tokens;
    for (size_t i = 0; i < tokens.size(); ++i) {
      const auto type = static_cast<GgufTokenType>(types[i]);
      if (type != GgufTokenType::kNormal && type != GgufTokenType::kByte)
        mergeable[i] = std::string("\x01\x02") + tokens[i];
    }
    const bool add_bos = file.int_or("tokenizer.ggml.add_bos_token").value_or(1) != 0;
    const bool add_space = file.int_or("tokenizer.ggml.add_space_prefix").value_or(1) != 0;
    Json normalizers = Json::array();
    if (add_space) normalizers.push_back({{"type", "Prepend"}, {"prepend", kSentencePieceSpace}});
    normalizers.push_back({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSentencePieceSpace}});
    Json decoders =
        Json::array({Json{{"type", "Replace"}, {"pattern", {{"String", kSentencePieceSpace}}}, {"content", " "}},
                     Json{{"type", "ByteFallback"}}, Json{{"type", "Fuse"}}});
    if (add_space) decoders.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
    j["normalizer"] = {{"type", "Sequence"}, {"normalizers", normalizers}};
    j["pre_tokenizer"] = nullptr;
    j["post_processor"] = add_bos && bos ? bos_template(tokens[*bos], *bos) : Json(nullptr);
    j["decoder"] = {{"type", "Sequence"}, {"decoders", decoders}};
    j["model"] = {{"type", "BPE"},
                  {"dropout", nullptr},
                  {"unk_token", unk ? Json(tokens[*unk]) : Json(nullptr)},
                  {"fuse_unk", true},
                  {"byte_fallback", true},
                  {"ignore_merges", false},
                  {"vocab", std::move(vocab)},
                  {"merges", derive_merges(mergeable, scores, types)}};
  } else {
    return Status::unsupported("GGUF tokenizer.ggml.model \"" + model + "\" is not supported (gpt2, llama)");
  }
  return j.dump();
}

Result<std::vector<std::pair<std::string, GgufValue>>> gguf_tokenizer_metadata(std::string_view tokenizer_json,
                                                                               int64_t rows,
                                                                               const ModelConfig& config) {
  Json j = Json::parse(tokenizer_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::corruption("tokenizer.json is not a JSON object");
  const Json& model = j["model"];
  if (!model.is_object() || model.value("type", "BPE") != "BPE" || !model.contains("vocab") ||
      !model["vocab"].is_object())
    return Status::unsupported("tokenizer.json: only BPE models convert to GGUF");
  const bool sentencepiece = model.value("byte_fallback", false);

  std::map<int64_t, std::string> by_id;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    if (!it.value().is_number_integer()) return Status::corruption("tokenizer.json: vocab id of " + it.key());
    by_id[it.value().get<int64_t>()] = it.key();
  }
  std::map<int64_t, bool> added;  // id -> special
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (const Json& t : j["added_tokens"]) {
      const int64_t id = t.value("id", int64_t{-1});
      if (id < 0 || !t.contains("content"))
        return Status::corruption("tokenizer.json: an added token lacks id or content");
      by_id[id] = t["content"].get<std::string>();
      added[id] = t.value("special", false);
    }
  }
  if (by_id.empty()) return Status::corruption("tokenizer.json: empty vocabulary");
  if (by_id.rbegin()->first >= rows)
    return Status::invalid_argument("tokenizer.json has token id " + std::to_string(by_id.rbegin()->first) +
                                    " but the embedding has " + std::to_string(rows) + " rows");
  const std::string unk =
      model.contains("unk_token") && model["unk_token"].is_string() ? model["unk_token"].get<std::string>() : "";

  std::vector<std::string> tokens(rows);
  std::vector<int64_t> types(rows);
  std::vector<double> scores(rows);
  for (int64_t id = 0; id < rows; ++id) {
    auto it = by_id.find(id);
    GgufTokenType type = GgufTokenType::kNormal;
    if (it == by_id.end()) {
      tokens[id] = "[PAD" + std::to_string(id) + "]";
      type = GgufTokenType::kUnused;
    } else {
      tokens[id] = it->second;
      auto a = added.find(id);
      if (a != added.end()) type = a->second ? GgufTokenType::kControl : GgufTokenType::kUserDefined;
      if (sentencepiece && tokens[id] == unk) type = GgufTokenType::kUnknown;
      if (sentencepiece && tokens[id].size() == 6 && tokens[id].starts_with("<0x") && tokens[id].back() == '>')
        type = GgufTokenType::kByte;
    }
    types[id] = static_cast<int64_t>(type);
    // SentencePiece merges by score: ids of a converted vocabulary are in score order.
    scores[id] = type == GgufTokenType::kNormal ? -static_cast<double>(id) : 0.0;
  }

  std::vector<std::pair<std::string, GgufValue>> out;
  out.emplace_back("tokenizer.ggml.model", GgufValue::str(sentencepiece ? "llama" : "gpt2"));
  if (!sentencepiece) {
    // llama.cpp picks its pre-tokenizer by name: name the regex this file uses.
    std::string pre = "default";
    const std::string dump = j["pre_tokenizer"].dump();
    if (dump.find(Json(std::string(kQwen2Regex)).dump()) != std::string::npos)
      pre = "qwen2";
    else if (dump.find(Json(std::string(kLlama3Regex)).dump()) != std::string::npos)
      pre = "llama-bpe";
    else if (dump.find("\"Digits\"") != std::string::npos)
      pre = "starcoder";
    else if (dump.find("\"use_regex\":true") != std::string::npos)
      pre = "gpt-2";
    out.emplace_back("tokenizer.ggml.pre", GgufValue::str(pre));
  }
  out.emplace_back("tokenizer.ggml.tokens", GgufValue::string_array(tokens));
  if (sentencepiece) out.emplace_back("tokenizer.ggml.scores", GgufValue::float_array(GgufValueType::kFloat32, scores));
  out.emplace_back("tokenizer.ggml.token_type", GgufValue::int_array(GgufValueType::kInt32, types));
  if (!sentencepiece) {
    std::vector<std::string> merges;
    if (model.contains("merges") && model["merges"].is_array()) {
      for (const Json& m : model["merges"]) {
        if (m.is_string())
          merges.push_back(m.get<std::string>());
        else if (m.is_array() && m.size() == 2)
          merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
        else
          return Status::corruption("tokenizer.json: a merge is neither \"a b\" nor [a, b]");
      }
    }
    out.emplace_back("tokenizer.ggml.merges", GgufValue::string_array(std::move(merges)));
  }

  // bos: the config's, else the post-processor's first special token.
  std::optional<int64_t> bos = config.bos_token_id;
  bool add_bos = false;
  const Json& post = j["post_processor"];
  if (post.is_object() && post.value("type", "") == "TemplateProcessing" && post.contains("single") &&
      !post["single"].empty() && post["single"][0].contains("SpecialToken")) {
    add_bos = true;
    const std::string name = post["single"][0]["SpecialToken"].value("id", "");
    for (const auto& [id, token] : by_id)
      if (token == name) bos = id;
  }
  if (bos) out.emplace_back("tokenizer.ggml.bos_token_id", GgufValue::u32(static_cast<uint32_t>(*bos)));
  if (!config.eos_token_ids.empty())
    out.emplace_back("tokenizer.ggml.eos_token_id", GgufValue::u32(static_cast<uint32_t>(config.eos_token_ids[0])));
  if (sentencepiece && !unk.empty())
    for (const auto& [id, token] : by_id)
      if (token == unk) out.emplace_back("tokenizer.ggml.unknown_token_id", GgufValue::u32(static_cast<uint32_t>(id)));
  out.emplace_back("tokenizer.ggml.add_bos_token", GgufValue::boolean(add_bos));
  if (sentencepiece) {
    bool prepend = j["normalizer"].dump().find("\"Prepend\"") != std::string::npos;
    out.emplace_back("tokenizer.ggml.add_space_prefix", GgufValue::boolean(prepend));
  }
  // FIM and repository tokens, by their Qwen2.5-Coder and StarCoder names.
  const std::pair<const char*, std::vector<const char*>> fim[] = {
      {"tokenizer.ggml.fim_pre_token_id", {"<|fim_prefix|>", "<fim_prefix>"}},
      {"tokenizer.ggml.fim_suf_token_id", {"<|fim_suffix|>", "<fim_suffix>"}},
      {"tokenizer.ggml.fim_mid_token_id", {"<|fim_middle|>", "<fim_middle>"}},
      {"tokenizer.ggml.fim_pad_token_id", {"<|fim_pad|>", "<fim_pad>"}},
      {"tokenizer.ggml.fim_rep_token_id", {"<|repo_name|>", "<reponame>"}},
      {"tokenizer.ggml.fim_sep_token_id", {"<|file_sep|>", "<file_sep>"}},
  };
  for (const auto& [key, names] : fim) {
    bool done = false;
    for (const auto& [id, token] : by_id)
      for (const char* name : names)
        if (!done && token == name) {
          out.emplace_back(key, GgufValue::u32(static_cast<uint32_t>(id)));
          done = true;
        }
  }
  out.emplace_back("tokenizer.huggingface.json", GgufValue::str(std::string(tokenizer_json)));
  return out;
}

}  // namespace flywheel::infer
