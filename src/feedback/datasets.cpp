#include "feedback/datasets.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/atomic_file.h"
#include "core/hash.h"

namespace flywheel::feedback {
namespace {

namespace fs = std::filesystem;

constexpr double kAcceptedReward = 0.75;
constexpr double kRejectedReward = -0.25;

// The developer's last word on a suggestion: a later outcome overrides an
// earlier one (shown, then accepted).
struct Verdict {
  std::optional<OutcomeKind> kind;
  int64_t accepted_length = 0;
  std::optional<std::string> final_text;
};

Verdict verdict_of(const SuggestionWithOutcomes& s) {
  Verdict v;
  for (const auto& o : s.outcomes) {
    if (o.choice_index != s.suggestion.choice_index) continue;
    if (o.kind == OutcomeKind::kShown && v.kind) continue;  // "shown" never overrides a decision
    v.kind = o.kind;
    v.accepted_length = o.accepted_length;
    if (o.final_text) v.final_text = o.final_text;
  }
  return v;
}

std::string kept_text(const SuggestionEvent& s, const Verdict& v) {
  if (v.final_text) return *v.final_text;
  if (v.kind == OutcomeKind::kAccepted) return s.text;
  if (v.kind == OutcomeKind::kPartiallyAccepted)
    return s.text.substr(0, static_cast<size_t>(std::clamp<int64_t>(v.accepted_length, 0, s.text.size())));
  return {};
}

double reward_of(const SuggestionEvent& s, const Verdict& v) {
  if (!v.kind) return 0;
  switch (*v.kind) {
    case OutcomeKind::kAccepted:
      return kAcceptedReward;
    case OutcomeKind::kPartiallyAccepted:
      return s.text.empty() ? 0 : kAcceptedReward * std::min(1.0, double(v.accepted_length) / double(s.text.size()));
    case OutcomeKind::kRejected:
      return kRejectedReward;
    case OutcomeKind::kShown:
    case OutcomeKind::kIgnored:
      return 0;
  }
  return 0;
}

// One split's files, written atomically when complete.
struct SplitWriter {
  std::map<std::string, std::string> files;  // name -> JSONL text
  std::set<std::string> seen;                // dedup keys
  int64_t duplicates = 0;

  void add(const std::string& file, const nlohmann::json& row, const std::string& dedup_key) {
    if (!seen.insert(file + '\0' + dedup_key).second) {
      ++duplicates;
      return;
    }
    files[file] += row.dump() + "\n";
  }
};

}  // namespace

Result<DatasetStats> build_datasets(Store& store, const DatasetOptions& options) {
  if (!options.render) return Status::invalid_argument("build_datasets: no prompt renderer");
  if (options.out.empty()) return Status::invalid_argument("build_datasets: no output folder");
  EventQuery query;
  query.tenant = options.tenant;
  query.since_ms = options.since_ms;
  query.until_ms = options.until_ms;
  query.source = options.source;
  query.session = options.session;
  FW_ASSIGN_OR_RETURN(auto events, store.events(query));

  DatasetStats stats;
  SplitWriter train, valid;
  for (const auto& item : events) {
    const SuggestionEvent& s = item.suggestion;
    ++stats.suggestions;
    const Verdict v = verdict_of(item);
    if (!v.kind) continue;
    ++stats.with_outcome;
    switch (*v.kind) {
      case OutcomeKind::kAccepted:
        ++stats.accepted;
        break;
      case OutcomeKind::kPartiallyAccepted:
        ++stats.partially_accepted;
        break;
      case OutcomeKind::kRejected:
        ++stats.rejected;
        break;
      case OutcomeKind::kIgnored:
        ++stats.ignored;
        break;
      case OutcomeKind::kShown:
        break;
    }
    FW_ASSIGN_OR_RETURN(std::string prompt,
                        options.render({s.prefix_window, s.suffix_window, s.path, s.language, s.repo}));
    SplitWriter& out = options.valid_since_ms && s.shown_at_ms >= *options.valid_since_ms ? valid : train;
    const std::string prompt_key = sha256_hex(prompt);
    const std::string kept = kept_text(s, v);
    const bool decided = *v.kind == OutcomeKind::kAccepted || *v.kind == OutcomeKind::kPartiallyAccepted ||
                         *v.kind == OutcomeKind::kRejected;
    if (!kept.empty()) out.add("sft.jsonl", {{"prompt", prompt}, {"completion", kept}}, prompt_key + sha256_hex(kept));
    if (decided && *v.kind != OutcomeKind::kAccepted && !kept.empty() && kept != s.text && !s.text.empty())
      out.add("preferences.jsonl", {{"prompt", prompt}, {"chosen", kept}, {"rejected", s.text}},
              prompt_key + sha256_hex(kept) + sha256_hex(s.text));
    if ((*v.kind == OutcomeKind::kAccepted || *v.kind == OutcomeKind::kRejected) && !s.text.empty())
      out.add("unpaired.jsonl",
              {{"prompt", prompt}, {"completion", s.text}, {"label", *v.kind == OutcomeKind::kAccepted}},
              prompt_key + sha256_hex(s.text));
    if (!s.text.empty())
      out.add("rewards.jsonl",
              {{"prompt", prompt},
               {"completion", s.text},
               {"reward", reward_of(s, v)},
               {"group", s.prefix_hash.substr(0, 16) + s.suffix_hash.substr(0, 16)}},
              prompt_key + sha256_hex(s.text) + s.id);
  }

  std::error_code ec;
  for (auto* split : {&train, &valid}) {
    const fs::path dir = options.out / (split == &train ? "train" : "valid");
    if (split == &valid && !options.valid_since_ms) continue;
    fs::create_directories(dir, ec);
    if (ec) return Status::io_error("cannot create " + dir.string() + ": " + ec.message());
    for (const char* name : {"sft.jsonl", "preferences.jsonl", "unpaired.jsonl", "rewards.jsonl"}) {
      const std::string& text = split->files[name];
      FW_RETURN_IF_ERROR(write_file_atomically(dir / name, text));
      stats.rows[fs::path(dir.filename() / name).string()] = std::count(text.begin(), text.end(), '\n');
    }
    stats.duplicates_dropped += split->duplicates;
  }
  nlohmann::json summary = {{"suggestions", stats.suggestions},
                            {"with_outcome", stats.with_outcome},
                            {"accepted", stats.accepted},
                            {"partially_accepted", stats.partially_accepted},
                            {"rejected", stats.rejected},
                            {"ignored", stats.ignored},
                            {"duplicates_dropped", stats.duplicates_dropped},
                            {"rows", stats.rows},
                            {"since_ms", options.since_ms},
                            {"tenant", options.tenant},
                            {"session", options.session}};
  if (options.valid_since_ms) summary["valid_since_ms"] = *options.valid_since_ms;
  FW_RETURN_IF_ERROR(write_file_atomically(options.out / "summary.json", summary.dump(2) + "\n"));
  return stats;
}

}  // namespace flywheel::feedback
