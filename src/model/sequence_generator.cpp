#include "model/sequence_generator.h"

#include <algorithm>

#include "model/fast_exp.h"

namespace flywheel {

Status validate_generation_request(const Model& model, const GenerationRequest& request) {
  FW_RETURN_IF_ERROR(request.params.validate());
  if (request.prompt.empty()) return Status::invalid_argument("the prompt has no tokens");
  const int64_t context = model.config().max_position_embeddings;
  if (static_cast<int64_t>(request.prompt.size()) >= context)
    return Status::out_of_range("the prompt has " + std::to_string(request.prompt.size()) +
                                " tokens; the model's context is " + std::to_string(context));
  const auto vocab = static_cast<TokenId>(model.config().vocab_size);
  for (TokenId id : request.prompt)
    if (id >= vocab)
      return Status::invalid_argument("prompt token id " + std::to_string(id) + " is outside the vocabulary (" +
                                      std::to_string(vocab) + " ids)");
  for (const auto& bias : request.params.logit_bias)
    if (bias.first >= vocab)
      return Status::invalid_argument("logit_bias: token id " + std::to_string(bias.first) +
                                      " is outside the vocabulary (" + std::to_string(vocab) + " ids)");
  return Status::OK();
}

SequenceGenerator::SequenceGenerator(const Model& model, const GenerationRequest& request)
    : request_(request),
      stop_ids_(request.stop_token_ids),
      sampler_(request.params),
      decoder_(model.tokenizer(), /*skip_special_tokens=*/true),
      stops_(request.params.stop),
      context_tokens_(request.prompt) {
  for (int64_t id : model.config().eos_token_ids) stop_ids_.push_back(static_cast<TokenId>(id));
  budget_ = std::min<int64_t>(request.params.max_tokens,
                              model.config().max_position_embeddings - static_cast<int64_t>(request.prompt.size()));
  result_.finish_reason = "length";
  wants_show_probability_ = request.params.min_show_prob > 0 && model.show_head() != nullptr;
}

std::string SequenceGenerator::apply_single_line(std::string text) {
  if (!request_.single_line) return text;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n' && seen_visible_text_) {
      text.resize(i);
      done_ = true;
      result_.finish_reason = "stop";
      return text;
    }
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') seen_visible_text_ = true;
  }
  return text;
}

std::string SequenceGenerator::finish_text() {
  if (stops_.stopped()) return {};
  auto out = stops_.push(decoder_.finish());
  std::string text = out.text;
  if (out.stopped)
    result_.finish_reason = "stop";
  else
    text += stops_.finish();
  return text;
}

namespace {

// p(id) under softmax(logits), with the sampler's exp.
double token_probability(std::span<const float> logits, TokenId id) {
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += exp_nonpositive(l - max);
  return exp_nonpositive(logits[id] - max) / sum;
}

}  // namespace

std::string SequenceGenerator::next(std::span<const float> logits, std::optional<float> show_probability) {
  if (done_) return {};
  if (show_probability && result_.tokens.empty()) {
    result_.show_probability = show_probability;
    if (*show_probability < request_.params.min_show_prob) {
      result_.withheld = true;
      result_.finish_reason = "stop";
      done_ = true;
      return {};
    }
  }
  SampledToken token = sampler_.sample(logits, context_tokens_, request_.prompt.size());
  std::string text;
  const bool unsure = request_.params.min_token_prob > 0 && static_cast<size_t>(token.id) < logits.size() &&
                      token_probability(logits, token.id) < request_.params.min_token_prob;
  if (unsure || std::find(stop_ids_.begin(), stop_ids_.end(), token.id) != stop_ids_.end()) {
    result_.finish_reason = "stop";
    done_ = true;
    text = finish_text();
  } else {
    result_.tokens.push_back(token.id);
    context_tokens_.push_back(token.id);
    if (request_.params.logprobs > 0) result_.logprobs.push_back(token);
    last_token_ = token.id;
    auto out = stops_.push(decoder_.push(token.id));
    text = out.text;
    if (out.stopped) {
      result_.finish_reason = "stop";
      done_ = true;
    } else if (static_cast<int64_t>(result_.tokens.size()) >= budget_) {
      done_ = true;
      text += finish_text();
    }
  }
  // A line that ends inside this piece ends the sequence; whatever the stop
  // matcher still holds back lies past the newline and is dropped.
  text = apply_single_line(std::move(text));
  result_.text += text;
  return text;
}

void SequenceGenerator::cancel(const std::string& reason) {
  if (done_) return;
  done_ = true;
  result_.finish_reason = reason;
}

}  // namespace flywheel
