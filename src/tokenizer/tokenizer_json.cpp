// Loading and saving Hugging Face tokenizer.json.
#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer_impl.h"

namespace flywheel {

using tokenizer::Json;
using PlainJson = nlohmann::json;

namespace {

Result<std::vector<AddedToken>> parse_added_tokens(const PlainJson& list) {
  std::vector<AddedToken> tokens;
  if (list.is_null()) return tokens;
  if (!list.is_array()) return Status::corruption("'added_tokens' must be a list");
  for (const PlainJson& item : list) {
    if (!item.is_object() || !item.contains("id") || !item["id"].is_number_integer() || !item.contains("content") ||
        !item["content"].is_string())
      return Status::corruption("added token " + item.dump() + " needs an integer 'id' and a string 'content'");
    AddedToken t;
    t.id = item["id"].get<TokenId>();
    if (t.id < 0) return Status::corruption("added token '" + item["content"].get<std::string>() + "' has a negative id");
    t.content = item["content"].get<std::string>();
    auto flag = [&](const char* name, bool fallback) {
      return item.contains(name) && item[name].is_boolean() ? item[name].get<bool>() : fallback;
    };
    t.special = flag("special", false);
    t.single_word = flag("single_word", false);
    t.lstrip = flag("lstrip", false);
    t.rstrip = flag("rstrip", false);
    t.normalized = flag("normalized", !t.special);
    tokens.push_back(std::move(t));
  }
  return tokens;
}

Result<std::shared_ptr<const TokenizerImpl>> build(const PlainJson& root) {
  if (!root.is_object()) return Status::corruption("tokenizer.json must hold a JSON object");
  if (!root.contains("model")) return Status::corruption("tokenizer.json has no 'model'");
  auto impl = std::make_shared<TokenizerImpl>();
  auto component = [&](const char* name) { return root.contains(name) ? Json(root[name]) : Json(); };

  impl->extra_top_level = Json::object();
  impl->extra_top_level["version"] = root.contains("version") ? Json(root["version"]) : Json("1.0");
  impl->extra_top_level["truncation"] = component("truncation");
  impl->extra_top_level["padding"] = component("padding");

  FW_ASSIGN_OR_RETURN(impl->normalizer, tokenizer::normalizer_from_json(component("normalizer")));
  FW_ASSIGN_OR_RETURN(impl->pre_tokenizer, tokenizer::pre_tokenizer_from_json(component("pre_tokenizer")));
  FW_ASSIGN_OR_RETURN(impl->post_processor, tokenizer::post_processor_from_json(component("post_processor")));
  FW_ASSIGN_OR_RETURN(impl->decoder, tokenizer::decoder_from_json(component("decoder")));
  FW_ASSIGN_OR_RETURN(impl->model, tokenizer::BpeModel::from_json(root["model"]));
  impl->byte_level = impl->pre_tokenizer && impl->pre_tokenizer->is_byte_level();
  if (!impl->byte_level && !impl->model->byte_fallback() && impl->decoder == nullptr && impl->normalizer == nullptr &&
      impl->pre_tokenizer == nullptr)
    return Status::unsupported("tokenizer.json has neither a ByteLevel pre-tokenizer nor a byte-fallback BPE model");
  FW_ASSIGN_OR_RETURN(auto added, parse_added_tokens(root.contains("added_tokens") ? root["added_tokens"] : PlainJson()));
  impl->added = std::make_unique<tokenizer::AddedVocabulary>(std::move(added), impl->normalizer.get());
  return std::shared_ptr<const TokenizerImpl>(std::move(impl));
}

void append_json_string(std::string& out, const std::string& s) { out += Json(s).dump(); }

}  // namespace

Result<std::shared_ptr<const TokenizerImpl>> load_tokenizer_json(std::string_view json_text) {
  PlainJson root = PlainJson::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    // Parse again with exceptions only to get the position of the error.
    try {
      PlainJson unused = PlainJson::parse(json_text.begin(), json_text.end());
    } catch (const nlohmann::json::exception& e) {
      return Status::corruption(std::string("tokenizer.json is not valid JSON: ") + e.what());
    }
    return Status::corruption("tokenizer.json is not valid JSON");
  }
  try {
    return build(root);
  } catch (const nlohmann::json::exception& e) {
    return Status::corruption(std::string("tokenizer.json: ") + e.what());
  }
}

// Written by hand rather than through one big JSON value: vocabularies have
// 100k+ entries and one line per entry keeps the file diffable.
std::string TokenizerImpl::to_json() const {
  std::string out = "{\n";
  for (auto it = extra_top_level.begin(); it != extra_top_level.end(); ++it)
    out += "  \"" + it.key() + "\": " + it.value().dump() + ",\n";
  out += "  \"added_tokens\": [";
  const auto& tokens = added->tokens();
  for (size_t i = 0; i < tokens.size(); ++i) {
    const AddedToken& t = tokens[i];
    Json item = {{"id", t.id},           {"content", t.content}, {"single_word", t.single_word}, {"lstrip", t.lstrip},
                 {"rstrip", t.rstrip}, {"normalized", t.normalized}, {"special", t.special}};
    out += (i ? ",\n    " : "\n    ") + item.dump();
  }
  out += tokens.empty() ? "],\n" : "\n  ],\n";
  auto component = [&](const char* name, const auto& ptr) {
    out += std::string("  \"") + name + "\": " + (ptr ? ptr->to_json().dump() : std::string("null")) + ",\n";
  };
  component("normalizer", normalizer);
  component("pre_tokenizer", pre_tokenizer);
  component("post_processor", post_processor);
  component("decoder", decoder);

  Json model_json = model->to_json_header();
  out += "  \"model\": {\n";
  for (auto it = model_json.begin(); it != model_json.end(); ++it)
    out += "    \"" + it.key() + "\": " + it.value().dump() + ",\n";
  out += "    \"vocab\": {";
  bool first = true;
  model->for_each_token([&](TokenId id, const std::string& token) {
    out += first ? "\n      " : ",\n      ";
    first = false;
    append_json_string(out, token);
    out += ": " + std::to_string(id);
  });
  out += "\n    },\n    \"merges\": [";
  first = true;
  model->for_each_merge([&](const std::string& a, const std::string& b) {
    out += first ? "\n      [" : ",\n      [";
    first = false;
    append_json_string(out, a);
    out += ", ";
    append_json_string(out, b);
    out += "]";
  });
  out += "\n    ]\n  }\n}\n";
  return out;
}

}  // namespace flywheel
