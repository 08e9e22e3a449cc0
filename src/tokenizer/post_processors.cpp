// Post-processors of tokenizer.json: TemplateProcessing, RobertaProcessing,
// BertProcessing, ByteLevel (no change to ids) and Sequence. Only the single
// sequence case matters to flywheel: encode() takes one text.
#include "tokenizer/components.h"

namespace flywheel::tokenizer {
namespace {

// A processor that surrounds the ids by fixed lists: covers Template, Roberta and Bert.
class SurroundProcessor : public PostProcessor {
 public:
  SurroundProcessor(Json json, std::vector<TokenId> before, std::vector<TokenId> after)
      : json_(std::move(json)), before_(std::move(before)), after_(std::move(after)) {}
  std::vector<TokenId> process(std::vector<TokenId> ids) const override {
    if (before_.empty() && after_.empty()) return ids;
    std::vector<TokenId> out;
    out.reserve(before_.size() + ids.size() + after_.size());
    out.insert(out.end(), before_.begin(), before_.end());
    out.insert(out.end(), ids.begin(), ids.end());
    out.insert(out.end(), after_.begin(), after_.end());
    return out;
  }
  Json to_json() const override { return json_; }

 private:
  Json json_;
  std::vector<TokenId> before_, after_;
};

class SequenceProcessor : public PostProcessor {
 public:
  SequenceProcessor(Json json, std::vector<std::unique_ptr<PostProcessor>> items)
      : json_(std::move(json)), items_(std::move(items)) {}
  std::vector<TokenId> process(std::vector<TokenId> ids) const override {
    for (const auto& p : items_) ids = p->process(std::move(ids));
    return ids;
  }
  Json to_json() const override { return json_; }

 private:
  Json json_;
  std::vector<std::unique_ptr<PostProcessor>> items_;
};

Result<std::unique_ptr<PostProcessor>> template_processor(const Json& json) {
  auto single = json.find("single");
  auto specials = json.find("special_tokens");
  if (single == json.end() || !single->is_array())
    return Status::corruption("TemplateProcessing: 'single' must be a list");
  std::vector<TokenId> before, after;
  bool seen_sequence = false;
  for (const Json& item : *single) {
    if (item.contains("Sequence")) {
      if (seen_sequence) return Status::unsupported("TemplateProcessing: 'single' repeats the sequence");
      seen_sequence = true;
      continue;
    }
    if (!item.contains("SpecialToken") || !item["SpecialToken"].contains("id"))
      return Status::corruption("TemplateProcessing: template item " + item.dump() + " is not understood");
    const Json& name = item["SpecialToken"]["id"];
    if (specials == json.end() || !specials->contains(name.get<std::string>()))
      return Status::corruption("TemplateProcessing: special token " + name.dump() + " is not in special_tokens");
    const Json& entry = (*specials)[name.get<std::string>()];
    if (!entry.contains("ids") || !entry["ids"].is_array())
      return Status::corruption("TemplateProcessing: special token " + name.dump() + " has no ids");
    for (const Json& id : entry["ids"]) (seen_sequence ? after : before).push_back(id.get<TokenId>());
  }
  if (!seen_sequence) return Status::corruption("TemplateProcessing: 'single' has no $A sequence");
  return std::unique_ptr<PostProcessor>(new SurroundProcessor(json, std::move(before), std::move(after)));
}

Result<TokenId> token_pair_id(const Json& json, const char* field, std::string_view component) {
  auto it = json.find(field);
  if (it == json.end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_integer())
    return Status::corruption(std::string(component) + ": '" + field + "' must be [token, id]");
  return (*it)[1].get<TokenId>();
}

}  // namespace

Result<std::unique_ptr<PostProcessor>> post_processor_from_json(const Json& json) {
  if (json.is_null()) return std::unique_ptr<PostProcessor>();
  if (!json.is_object()) return Status::corruption("post_processor must be an object or null");
  FW_ASSIGN_OR_RETURN(std::string type, json_string(json, "type", "post_processor"));
  try {
    if (type == "TemplateProcessing") return template_processor(json);
    if (type == "ByteLevel") return std::unique_ptr<PostProcessor>(new SurroundProcessor(json, {}, {}));
    if (type == "RobertaProcessing" || type == "BertProcessing") {
      FW_ASSIGN_OR_RETURN(TokenId cls, token_pair_id(json, "cls", type));
      FW_ASSIGN_OR_RETURN(TokenId sep, token_pair_id(json, "sep", type));
      return std::unique_ptr<PostProcessor>(new SurroundProcessor(json, {cls}, {sep}));
    }
    if (type == "Sequence") {
      auto it = json.find("processors");
      if (it == json.end() || !it->is_array())
        return Status::corruption("Sequence post-processor: 'processors' must be a list");
      std::vector<std::unique_ptr<PostProcessor>> items;
      for (const Json& item : *it) {
        FW_ASSIGN_OR_RETURN(auto p, post_processor_from_json(item));
        if (p) items.push_back(std::move(p));
      }
      return std::unique_ptr<PostProcessor>(new SequenceProcessor(json, std::move(items)));
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::corruption("post_processor " + type + ": " + e.what());
  }
  return Status::unsupported("post_processor type '" + type +
                             "' is not supported (supported: TemplateProcessing, RobertaProcessing, BertProcessing, "
                             "ByteLevel, Sequence)");
}

}  // namespace flywheel::tokenizer
