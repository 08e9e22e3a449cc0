#include "model/sampler.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

#include "model/fast_exp.h"

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

// Multiplies by inv_t in place, NaN becoming -inf (never chosen) and +inf
// the largest finite float; returns the maximum. Integer selects and an
// integer maximum over order-preserving keys keep the loop vectorizable.
float scale_and_max(float* __restrict logits, size_t n, float inv_t) {
  constexpr uint32_t kNegInfBits = 0xFF800000u, kPosInfBits = 0x7F800000u;
  constexpr uint32_t kMaxFiniteBits = 0x7F7FFFFFu;
  int32_t best = std::numeric_limits<int32_t>::min();
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits = std::bit_cast<uint32_t>(logits[i] * inv_t);
    bits = (bits & 0x7FFFFFFFu) > kPosInfBits ? kNegInfBits : bits;
    bits = bits == kPosInfBits ? kMaxFiniteBits : bits;
    logits[i] = std::bit_cast<float>(bits);
    // Floats order like these signed keys (negative ones have their magnitude bits flipped).
    const int32_t key = static_cast<int32_t>(bits ^ ((static_cast<uint32_t>(static_cast<int32_t>(bits) >> 31)) >> 1));
    best = std::max(best, key);
  }
  const uint32_t bits = static_cast<uint32_t>(best) ^ ((static_cast<uint32_t>(best >> 31)) >> 1);
  return std::bit_cast<float>(bits);
}

// out[i] = exp(logits[i] - max) for all i; returns their sum.
double exp_all(const float* __restrict logits, float* __restrict out, size_t n, float max) {
  for (size_t i = 0; i < n; ++i) out[i] = exp_nonpositive(logits[i] - max);
  double acc[4] = {0, 0, 0, 0};  // independent chains: the sum is not one long dependency
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (size_t j = 0; j < 4; ++j) acc[j] += out[i + j];
  for (; i < n; ++i) acc[0] += out[i];
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
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
  if (!in_range(temperature, 0.0f, 2.0f))
    return out_of_range("temperature", temperature, "between 0 and 2 (0 = greedy)");
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
  if (!in_range(min_token_prob, 0.0f, 1.0f))
    return out_of_range("min_token_prob", min_token_prob, "between 0 and 1 (0 disables it)");
  if (!in_range(min_show_prob, 0.0f, 1.0f))
    return out_of_range("min_show_prob", min_show_prob, "between 0 and 1 (0 disables it)");
  if (logit_bias.size() > kMaxLogitBias)
    return Status::invalid_argument("logit_bias has " + std::to_string(logit_bias.size()) + " entries; at most " +
                                    std::to_string(kMaxLogitBias) + " are allowed");
  for (const auto& [id, bias] : logit_bias) {
    if (id < 0) return Status::invalid_argument("logit_bias: token id " + std::to_string(id) + " is negative");
    if (!in_range(bias, -100.0f, 100.0f)) return out_of_range("logit_bias", bias, "between -100 and 100");
  }
  if (stop.size() > kMaxStopStrings)
    return Status::invalid_argument("stop has " + std::to_string(stop.size()) + " strings; at most " +
                                    std::to_string(kMaxStopStrings) + " are allowed");
  for (size_t i = 0; i < stop.size(); ++i)
    if (stop[i].empty()) return Status::invalid_argument("stop[" + std::to_string(i) + "] is an empty string");
  return Status::OK();
}

Sampler::Sampler(SamplingParams params) : params_(std::move(params)) {
  // Clamp what validate() would reject, so a caller that skipped it still
  // gets defined behaviour.
  auto clamp = [](float v, float lo, float hi, float fallback) {
    return std::isfinite(v) ? std::clamp(v, lo, hi) : fallback;
  };
  params_.temperature = clamp(params_.temperature, 0.0f, 2.0f, 1.0f);
  params_.top_k = std::max(params_.top_k, 0);
  params_.top_p = clamp(params_.top_p, 0.0f, 1.0f, 1.0f);
  params_.min_p = clamp(params_.min_p, 0.0f, 1.0f, 0.0f);
  if (!std::isfinite(params_.repetition_penalty) || params_.repetition_penalty <= 0.0f)
    params_.repetition_penalty = 1.0f;
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
  const bool greedy = params_.greedy();

  // 1-2: penalties, then temperature; the maximum and its lowest id.
  work_.assign(logits.begin(), logits.end());
  apply_penalties(work_, context_tokens, prompt_length);
  for (const auto& [id, bias] : params_.logit_bias)
    if (id >= 0 && static_cast<size_t>(id) < vocab && std::isfinite(bias)) work_[id] += bias;
  const float inv_t = greedy ? 1.0f : 1.0f / params_.temperature;
  const float max_logit = scale_and_max(work_.data(), vocab, inv_t);
  const size_t argmax = static_cast<size_t>(std::find(work_.begin(), work_.end(), max_logit) - work_.begin());
  if (max_logit == kNegInf) {
    // Everything is masked (a caller bug): answer id 0 rather than divide by zero.
    result.logprob = kNegInf;
    return result;
  }
  const float* w = work_.data();
  const ByLogitDesc by_logit{w};

  // The candidates: every id (all_ids), or the list in candidates_, which is
  // kept in a canonical order (by logit when `sorted`, else by id) so that a
  // seed gives the same draw whatever the selection algorithm did.
  bool all_ids = true;
  bool sorted = false;

  // 3: top-k. A threshold pass first keeps nth_element off the full vocabulary.
  const size_t k = static_cast<size_t>(params_.top_k);
  if (!greedy && k > 0 && k < vocab) {
    collect_at_least(max_logit, k);
    if (candidates_.size() < k) {  // fewer than k tokens with non-zero probability
      candidates_.resize(vocab);
      std::iota(candidates_.begin(), candidates_.end(), TokenId{0});
    }
    std::nth_element(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(k), candidates_.end(),
                     by_logit);
    candidates_.resize(k);
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
    all_ids = false;
    sorted = true;
  }

  // Unnormalized probabilities exp(l - max) of the candidates.
  probs_.resize(vocab);
  double total = 0.0;
  if (all_ids) {
    total = exp_all(w, probs_.data(), vocab, max_logit);
  } else {
    for (TokenId id : candidates_) total += probs_[id] = exp_nonpositive(w[id] - max_logit);
  }

  if (!greedy && params_.top_p < 1.0f) {
    // 4: top-p on the (top-k renormalized) distribution: the smallest set of
    // most likely tokens whose probability reaches top_p. The nucleus is a
    // prefix of the sorted order, so any threshold set holding that much
    // mass contains it; only that set gets (partially) sorted.
    const double target = static_cast<double>(params_.top_p) * total;
    if (all_ids) {
      collect_nucleus_superset(max_logit, target);
      all_ids = false;
    }
    const size_t n = candidates_.size();
    size_t done = sorted ? n : 0;  // candidates_[0, done) are in final order
    size_t keep = n;
    double cumulative = 0.0;
    size_t scanned = 0;
    for (size_t chunk = std::min<size_t>(n, 64); scanned < n; chunk = std::min(n, chunk * 4)) {
      if (done < chunk) {
        std::partial_sort(candidates_.begin() + static_cast<std::ptrdiff_t>(done),
                          candidates_.begin() + static_cast<std::ptrdiff_t>(chunk), candidates_.end(), by_logit);
        done = chunk;
      }
      for (; scanned < chunk && keep == n; ++scanned) {
        cumulative += probs_[candidates_[scanned]];
        if (cumulative >= target) keep = scanned + 1;
      }
      if (keep < n) break;
    }
    candidates_.resize(keep);  // done >= keep: what is left is in order
    sorted = true;
  }

  if (!greedy && params_.min_p > 0.0f) {
    // 5: min-p: keep p >= min_p * p_max, i.e. l >= max + log(min_p). Order is kept.
    const float threshold = max_logit + std::log(params_.min_p);
    if (all_ids) {
      candidates_.clear();
      for (size_t i = 0; i < vocab; ++i)
        if (w[i] >= threshold) candidates_.push_back(static_cast<TokenId>(i));
      all_ids = false;
    } else {
      candidates_.erase(
          std::remove_if(candidates_.begin(), candidates_.end(), [&](TokenId id) { return w[id] < threshold; }),
          candidates_.end());
    }
  }

  if (!all_ids) {
    total = 0.0;
    for (TokenId id : candidates_) total += probs_[id];
  }
  const double log_total = std::log(total);

  // 6: the draw (or the argmax), then log-probabilities from the exact logits.
  TokenId chosen = static_cast<TokenId>(argmax);
  if (!greedy) {
    const double u = next_uniform() * total;
    double acc = 0.0;
    if (all_ids) {
      // (chosen stays the argmax if rounding leaves u past the last sum)
      for (size_t i = 0; i < vocab; ++i) {
        acc += probs_[i];
        if (u < acc) {
          chosen = static_cast<TokenId>(i);
          break;
        }
      }
    } else {
      chosen = candidates_.front();
      for (TokenId id : candidates_) {
        acc += probs_[id];
        if (u < acc) {
          chosen = id;
          break;
        }
      }
    }
  }
  result.id = chosen;
  result.logprob = static_cast<float>(static_cast<double>(w[chosen] - max_logit) - log_total);

  const size_t want_top = static_cast<size_t>(params_.logprobs);
  if (want_top > 0) {
    std::vector<TokenId> top;
    if (all_ids) {
      // One pass keeping the best few in order: no index array over the vocabulary.
      top.reserve(want_top + 1);
      float worst = kNegInf;  // logit of top.back() once top is full
      for (size_t i = 0; i < vocab; ++i) {
        // Ids come in increasing order, so a tie with the worst kept one loses.
        if (top.size() == want_top && !(w[i] > worst)) continue;
        const TokenId id = static_cast<TokenId>(i);
        top.insert(std::upper_bound(top.begin(), top.end(), id, by_logit), id);
        if (top.size() > want_top) top.pop_back();
        if (top.size() == want_top) worst = w[top.back()];
      }
    } else {
      const size_t n = std::min(want_top, candidates_.size());
      if (!sorted)
        std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(n), candidates_.end(),
                          by_logit);
      top.assign(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    for (TokenId id : top) {
      if (probs_[id] == 0.0f) break;  // filtered out or beyond float range: not a candidate
      result.top.push_back({id, static_cast<float>(static_cast<double>(w[id] - max_logit) - log_total)});
    }
  }
  return result;
}

void Sampler::collect_at_least(float max_logit, size_t k) {
  // Logits within `delta` of the maximum, widening until there are k; past
  // kExpFloor every probability is 0 in float, so the last round holds every
  // token that can be drawn.
  const float* w = work_.data();
  const size_t vocab = work_.size();
  for (float delta = 8.0f;; delta *= 2.0f) {
    const float threshold = max_logit - std::min(delta, kExpFloor);
    candidates_.clear();
    for (size_t i = 0; i < vocab; ++i)
      if (w[i] >= threshold) candidates_.push_back(static_cast<TokenId>(i));
    if (candidates_.size() >= k || delta >= kExpFloor) return;
  }
}

void Sampler::collect_nucleus_superset(float max_logit, double target) {
  // A histogram of probability mass over the distance below the maximum
  // (buckets of kExpFloor / kBuckets logits), walked from the top until it
  // holds `target`: the tokens of those buckets contain the nucleus and at
  // most one bucket more. Two passes, whatever the shape of the distribution.
  constexpr int kBuckets = 256;
  constexpr float kPerLogit = kBuckets / kExpFloor;
  const float* w = work_.data();
  const float* probs = probs_.data();
  const size_t vocab = work_.size();
  const auto bucket = [&](size_t i) {
    return std::min(static_cast<int>((max_logit - w[i]) * kPerLogit), kBuckets - 1);
  };
  double mass[kBuckets] = {};
  for (size_t i = 0; i < vocab; ++i)
    if (probs[i] > 0.0f) mass[bucket(i)] += probs[i];
  int last = kBuckets - 1;
  double cumulative = 0.0;
  for (int b = 0; b < kBuckets; ++b) {
    cumulative += mass[b];
    if (cumulative >= target) {
      last = b;
      break;
    }
  }
  candidates_.clear();
  for (size_t i = 0; i < vocab; ++i)
    if (probs[i] > 0.0f && bucket(i) <= last) candidates_.push_back(static_cast<TokenId>(i));
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
