#include "model/sampler.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

namespace flywheel {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

std::string format_number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

Status out_of_range(std::string_view field, double value, std::string_view allowed) {
  return Status::invalid_argument(std::string(field) + " = " + format_number(value) + " is out of range: it must be " +
                                  std::string(allowed));
}

bool in_range(float v, float lo, float hi) { return std::isfinite(v) && v >= lo && v <= hi; }

// Candidate order: higher logit first, ties to the lower id. A strict weak
// order, so every sort below gives one canonical sequence.
struct ByLogitDesc {
  const float* logits;
  bool operator()(TokenId a, TokenId b) const {
    if (logits[a] != logits[b]) return logits[a] > logits[b];
    return a < b;
  }
};

}  // namespace

Status SamplingParams::validate() const {
  if (!in_range(temperature, 0.0f, 2.0f)) return out_of_range("temperature", temperature, "between 0 and 2 (0 = greedy)");
  if (top_k < 0) return out_of_range("top_k", top_k, ">= 0 (0 disables top-k)");
  if (!in_range(top_p, 0.0f, 1.0f)) return out_of_range("top_p", top_p, "between 0 and 1 (1 disables top-p)");
  if (!in_range(min_p, 0.0f, 1.0f)) return out_of_range("min_p", min_p, "between 0 and 1 (0 disables min-p)");
  if (!std::isfinite(repetition_penalty) || repetition_penalty <= 0.0f)
    return out_of_range("repetition_penalty", repetition_penalty, "a finite number > 0 (1 disables it)");
  if (!in_range(presence_penalty, -2.0f, 2.0f))
    return out_of_range("presence_penalty", presence_penalty, "between -2 and 2 (0 disables it)");
  if (!in_range(frequency_penalty, -2.0f, 2.0f))
    return out_of_range("frequency_penalty", frequency_penalty, "between -2 and 2 (0 disables it)");
  if (logprobs < 0 || logprobs > kMaxLogprobs)
    return out_of_range("logprobs", logprobs, "between 0 and " + std::to_string(kMaxLogprobs));
  if (max_tokens < 1) return out_of_range("max_tokens", max_tokens, ">= 1");
  if (stop.size() > kMaxStopStrings)
    return Status::invalid_argument("stop has " + std::to_string(stop.size()) + " strings; at most " +
                                    std::to_string(kMaxStopStrings) + " are allowed");
  for (size_t i = 0; i < stop.size(); ++i)
    if (stop[i].empty()) return Status::invalid_argument("stop[" + std::to_string(i) + "] is an empty string");
  return Status::ok();
}

Sampler::Sampler(SamplingParams params) : params_(std::move(params)) {
  // Clamp what validate() would reject, so a caller that skipped it still
  // gets defined behaviour.
  auto clamp = [](float v, float lo, float hi, float fallback) { return std::isfinite(v) ? std::clamp(v, lo, hi) : fallback; };
  params_.temperature = clamp(params_.temperature, 0.0f, 2.0f, 1.0f);
  params_.top_k = std::max(params_.top_k, 0);
  params_.top_p = clamp(params_.top_p, 0.0f, 1.0f, 1.0f);
  params_.min_p = clamp(params_.min_p, 0.0f, 1.0f, 0.0f);
  if (!std::isfinite(params_.repetition_penalty) || params_.repetition_penalty <= 0.0f) params_.repetition_penalty = 1.0f;
  params_.presence_penalty = clamp(params_.presence_penalty, -2.0f, 2.0f, 0.0f);
  params_.frequency_penalty = clamp(params_.frequency_penalty, -2.0f, 2.0f, 0.0f);
  params_.logprobs = std::clamp(params_.logprobs, 0, SamplingParams::kMaxLogprobs);
  if (params_.seed) {
    seed_ = *params_.seed;
  } else {
    std::random_device device;
    seed_ = (static_cast<uint64_t>(device()) << 32) ^ static_cast<uint64_t>(device());
  }
  rng_.seed(seed_);
}

double Sampler::next_uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

void Sampler::apply_penalties(std::span<float> logits, std::span<const TokenId> context_tokens,
                              size_t prompt_length) const {
  const float rep = params_.repetition_penalty;
  const float presence = params_.presence_penalty;
  const float frequency = params_.frequency_penalty;
  const bool use_rep = rep != 1.0f;
  const bool use_counts = presence != 0.0f || frequency != 0.0f;
  if ((!use_rep && !use_counts) || context_tokens.empty()) return;
  prompt_length = std::min(prompt_length, context_tokens.size());
  const auto in_vocab = [&](TokenId id) { return id >= 0 && static_cast<size_t>(id) < logits.size(); };

  // Sorted copies give each distinct id once (HF applies the repetition
  // penalty once per distinct token) and the counts as run lengths. The
  // context is far smaller than the vocabulary, so this beats a
  // vocabulary-sized table that would have to be cleared every call.
  std::vector<TokenId> ids;
  if (use_rep) {
    ids.assign(context_tokens.begin(), context_tokens.end());
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (TokenId id : ids) {
      if (!in_vocab(id)) continue;
      float& l = logits[id];
      l = l > 0.0f ? l / rep : l * rep;
    }
  }
  if (use_counts && prompt_length < context_tokens.size()) {
    ids.assign(context_tokens.begin() + static_cast<std::ptrdiff_t>(prompt_length), context_tokens.end());
    std::sort(ids.begin(), ids.end());
    for (size_t i = 0; i < ids.size();) {
      size_t j = i;
      while (j < ids.size() && ids[j] == ids[i]) ++j;
      if (in_vocab(ids[i])) logits[ids[i]] -= presence + frequency * static_cast<float>(j - i);
      i = j;
    }
  }
}

SampledToken Sampler::sample(std::span<const float> logits, std::span<const TokenId> context_tokens,
                             size_t prompt_length) {
  assert(!logits.empty() && "Sampler::sample needs at least one logit");
  SampledToken result;
  if (logits.empty()) return result;
  const size_t vocab = logits.size();

  work_.assign(logits.begin(), logits.end());
  for (float& l : work_)
    if (std::isnan(l)) l = kNegInf;  // a NaN logit can never be chosen
  apply_penalties(work_, context_tokens, prompt_length);
  const float* w = work_.data();
  const ByLogitDesc by_logit{w};

  candidates_.resize(vocab);
  std::iota(candidates_.begin(), candidates_.end(), TokenId{0});
  bool candidates_sorted = false;

  if (!params_.greedy()) {
    const float inv_t = 1.0f / params_.temperature;
    for (float& l : work_) l *= inv_t;

    // top-k: the k best by nth_element, then sorted (k is usually small).
    const size_t k = static_cast<size_t>(params_.top_k);
    if (k > 0 && k < vocab) {
      std::nth_element(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(k), candidates_.end(),
                       by_logit);
      candidates_.resize(k);
      std::sort(candidates_.begin(), candidates_.end(), by_logit);
      candidates_sorted = true;
    }
  }

  // The maximum: the first candidate when sorted, else a scan.
  float max_logit = kNegInf;
  for (TokenId id : candidates_) max_logit = std::max(max_logit, w[id]);
  if (max_logit == kNegInf) {
    // Everything is masked: a caller bug; answer the lowest id rather than
    // dividing by zero.
    result.id = candidates_.empty() ? 0 : *std::min_element(candidates_.begin(), candidates_.end());
    result.logprob = kNegInf;
    return result;
  }

  if (!params_.greedy()) {
    // top-p on the (top-k renormalized) distribution: the smallest set of
    // most likely tokens whose probability reaches top_p. Sorted
    // incrementally: peaked distributions need only the first few dozen.
    if (params_.top_p < 1.0f) {
      double total = 0.0;
      for (TokenId id : candidates_) total += std::exp(static_cast<double>(w[id] - max_logit));
      const double target = static_cast<double>(params_.top_p) * total;
      const size_t n = candidates_.size();
      size_t sorted = candidates_sorted ? n : 0;
      size_t keep = n;
      double cumulative = 0.0;
      size_t scanned = 0;
      size_t chunk = std::min<size_t>(n, 64);
      while (scanned < n) {
        if (sorted < chunk) {
          std::partial_sort(candidates_.begin() + static_cast<std::ptrdiff_t>(sorted),
                            candidates_.begin() + static_cast<std::ptrdiff_t>(chunk), candidates_.end(), by_logit);
          sorted = chunk;
        }
        for (; scanned < chunk; ++scanned) {
          cumulative += std::exp(static_cast<double>(w[candidates_[scanned]] - max_logit));
          if (cumulative >= target) break;
        }
        if (scanned < chunk) {
          keep = scanned + 1;
          break;
        }
        chunk = std::min(n, chunk * 4);
      }
      if (keep < n) {
        candidates_.resize(keep);
        candidates_sorted = true;
      } else if (sorted >= n) {
        candidates_sorted = true;
      }
    }

    // min-p: keep p >= min_p * p_max, i.e. logit >= max + log(min_p).
    // remove_if keeps the order (sorted or by id), so draws stay canonical.
    if (params_.min_p > 0.0f) {
      const float threshold = max_logit + std::log(params_.min_p);
      candidates_.erase(std::remove_if(candidates_.begin(), candidates_.end(),
                                       [&](TokenId id) { return w[id] < threshold; }),
                        candidates_.end());
    }
  }

  double total = 0.0;
  for (TokenId id : candidates_) total += std::exp(static_cast<double>(w[id] - max_logit));
  const double log_total = std::log(total);

  TokenId chosen = candidates_.front();
  if (params_.greedy()) {
    for (TokenId id : candidates_)
      if (by_logit(id, chosen)) chosen = id;
  } else {
    const double u = next_uniform() * total;
    double acc = 0.0;
    chosen = candidates_.back();  // if rounding leaves u beyond the last sum
    for (TokenId id : candidates_) {
      acc += std::exp(static_cast<double>(w[id] - max_logit));
      if (u < acc) {
        chosen = id;
        break;
      }
    }
  }
  result.id = chosen;
  result.logprob = static_cast<float>(static_cast<double>(w[chosen] - max_logit) - log_total);

  const size_t n_top = std::min(static_cast<size_t>(params_.logprobs), candidates_.size());
  if (n_top > 0) {
    if (!candidates_sorted)
      std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(n_top), candidates_.end(),
                        by_logit);
    result.top.reserve(n_top);
    for (size_t i = 0; i < n_top; ++i) {
      const TokenId id = candidates_[i];
      const float lp = static_cast<float>(static_cast<double>(w[id] - max_logit) - log_total);
      if (lp == kNegInf) break;
      result.top.push_back({id, lp});
    }
  }
  return result;
}

// ---- StopMatcher ----

StopMatcher::StopMatcher(std::vector<std::string> stop_strings) {
  for (auto& s : stop_strings)
    if (!s.empty()) stops_.push_back(std::move(s));
}

StopMatcher::Output StopMatcher::push(std::string_view piece) {
  Output out;
  if (stopped_) {
    out.stopped = true;
    return out;
  }
  held_.append(piece);

  // The earliest stop string that is now complete. held_ never contains a
  // complete stop from before, so searching it alone is enough.
  size_t best = std::string::npos;
  const std::string* best_stop = nullptr;
  for (const auto& s : stops_) {
    const size_t at = held_.find(s);
    if (at == std::string::npos) continue;
    if (at < best || (at == best && s.size() > best_stop->size())) {
      best = at;
      best_stop = &s;
    }
  }
  if (best_stop != nullptr) {
    out.text = held_.substr(0, best);
    out.stopped = true;
    matched_ = *best_stop;
    stopped_ = true;
    held_.clear();
    return out;
  }

  // Hold back the longest tail that is a proper prefix of some stop string:
  // only there can a stop still begin.
  size_t hold = 0;
  for (const auto& s : stops_) {
    for (size_t k = std::min(s.size() - 1, held_.size()); k > hold; --k) {
      if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  out.text = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return out;
}

std::string StopMatcher::finish() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace flywheel
