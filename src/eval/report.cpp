// ReplayReport as JSON (written by `flywheel replay --out`, read back by the
// cycle) and as the table the command prints; a comparison as JSON.
#include <fmt/format.h>

#include "core/atomic_file.h"
#include "eval/replay.h"

namespace flywheel::eval {
namespace {
using nlohmann::json;

json counts_json(const ReplayCounts& c) {
  return {{"hunks", c.hunks},
          {"requests", c.requests},
          {"shown", c.shown},
          {"accepted", c.accepted},
          {"partially_accepted", c.partially_accepted},
          {"rejected", c.rejected},
          {"suggested_chars", c.suggested_chars},
          {"accepted_chars", c.accepted_chars},
          {"typed_chars", c.typed_chars},
          {"chars_saved", c.chars_saved},
          {"exact_lines", c.exact_lines}};
}

ReplayCounts counts_from(const json& j) {
  ReplayCounts c;
  j.at("hunks").get_to(c.hunks);
  j.at("requests").get_to(c.requests);
  j.at("shown").get_to(c.shown);
  j.at("accepted").get_to(c.accepted);
  j.at("partially_accepted").get_to(c.partially_accepted);
  j.at("rejected").get_to(c.rejected);
  j.at("suggested_chars").get_to(c.suggested_chars);
  j.at("accepted_chars").get_to(c.accepted_chars);
  j.at("typed_chars").get_to(c.typed_chars);
  j.at("chars_saved").get_to(c.chars_saved);
  j.at("exact_lines").get_to(c.exact_lines);
  return c;
}

constexpr ReplayMetric kMetrics[] = {ReplayMetric::kAcceptance, ReplayMetric::kCharAcceptance,
                                     ReplayMetric::kCharsSaved, ReplayMetric::kExactLine};

json estimate_json(const RateEstimate& e) { return {{"value", e.value}, {"low", e.low}, {"high", e.high}}; }

RateEstimate estimate_from(const json& j) {
  return {j.at("value").get<double>(), j.at("low").get<double>(), j.at("high").get<double>()};
}

json rates_json(const ReplayRates& rates) {
  json out = json::object();
  for (ReplayMetric m : kMetrics) out[std::string(replay_metric_name(m))] = estimate_json(rates.get(m));
  return out;
}

ReplayRates rates_from(const json& j) {
  ReplayRates rates;
  rates.acceptance = estimate_from(j.at(std::string(replay_metric_name(ReplayMetric::kAcceptance))));
  rates.char_acceptance = estimate_from(j.at(std::string(replay_metric_name(ReplayMetric::kCharAcceptance))));
  rates.chars_saved = estimate_from(j.at(std::string(replay_metric_name(ReplayMetric::kCharsSaved))));
  rates.exact_line = estimate_from(j.at(std::string(replay_metric_name(ReplayMetric::kExactLine))));
  return rates;
}

std::string percent(double rate) { return fmt::format("{:.1f}%", rate * 100); }

std::string with_interval(const RateEstimate& e) {
  return fmt::format("{:>6}  [{}, {}]", percent(e.value), percent(e.low), percent(e.high));
}

}  // namespace

json report_to_json(const ReplayReport& r) {
  json languages = json::array();
  for (const LanguageReport& l : r.languages)
    languages.push_back({{"language", l.language}, {"counts", counts_json(l.counts)}, {"rates", rates_json(l.rates)}});
  json hunks = json::array();
  for (const HunkRecord& h : r.hunks)
    hunks.push_back({{"id", h.id},
                     {"commit", h.commit},
                     {"path", h.path},
                     {"language", h.language},
                     {"counts", counts_json(h.counts)}});
  return {{"repo", r.repo},
          {"range", r.range},
          {"backend", r.backend},
          {"run_id", r.run_id},
          {"seed", r.seed},
          {"bootstrap", {{"resamples", r.bootstrap_resamples}, {"cluster", "commit"}, {"level", 0.95}}},
          {"commits", r.commits},
          {"files", r.files},
          {"renamed_files", r.renamed_files},
          {"hunks_available", r.hunks_available},
          {"skipped", r.skipped},
          {"totals", counts_json(r.totals)},
          {"rates", rates_json(r.rates)},
          {"latency_ms", {{"p50", r.latency_p50_ms}, {"p99", r.latency_p99_ms}, {"mean", r.latency_mean_ms}}},
          {"languages", languages},
          {"hunks", hunks},
          {"wall_seconds", r.wall_seconds}};
}

Result<ReplayReport> report_from_json(const json& j) {
  try {
    ReplayReport r;
    j.at("repo").get_to(r.repo);
    j.at("range").get_to(r.range);
    j.at("backend").get_to(r.backend);
    j.at("run_id").get_to(r.run_id);
    j.at("seed").get_to(r.seed);
    j.at("bootstrap").at("resamples").get_to(r.bootstrap_resamples);
    j.at("commits").get_to(r.commits);
    j.at("files").get_to(r.files);
    j.at("renamed_files").get_to(r.renamed_files);
    j.at("hunks_available").get_to(r.hunks_available);
    j.at("skipped").get_to(r.skipped);
    r.totals = counts_from(j.at("totals"));
    r.rates = rates_from(j.at("rates"));
    const json& latency = j.at("latency_ms");
    latency.at("p50").get_to(r.latency_p50_ms);
    latency.at("p99").get_to(r.latency_p99_ms);
    latency.at("mean").get_to(r.latency_mean_ms);
    for (const json& l : j.at("languages"))
      r.languages.push_back(
          {l.at("language").get<std::string>(), counts_from(l.at("counts")), rates_from(l.at("rates"))});
    for (const json& h : j.at("hunks"))
      r.hunks.push_back({h.at("id").get<std::string>(), h.at("commit").get<std::string>(),
                         h.at("path").get<std::string>(), h.at("language").get<std::string>(),
                         counts_from(h.at("counts"))});
    j.at("wall_seconds").get_to(r.wall_seconds);
    return r;
  } catch (const json::exception& e) {
    return Status::corruption(std::string("not a replay report: ") + e.what());
  }
}

Status write_report(const std::filesystem::path& path, const ReplayReport& report) {
  return write_file_atomically(path, report_to_json(report).dump(2) + "\n");
}

Result<ReplayReport> read_report(const std::filesystem::path& path) {
  FW_ASSIGN_OR_RETURN(std::string text, read_file(path));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::corruption("'" + path.string() + "' is not JSON");
  auto report = report_from_json(j);
  if (!report.ok()) return report.status().with_context(path.string());
  return report;
}

std::string format_report_table(const ReplayReport& r) {
  std::string out;
  auto line = [&out](const std::string& text) { out += text + "\n"; };
  line(fmt::format("replay of {} {} with {} (seed {})", r.repo, r.range, r.backend, r.seed));
  std::string skipped;
  for (const auto& [why, n] : r.skipped) skipped += fmt::format("{}{} {}", skipped.empty() ? "" : ", ", why, n);
  line(fmt::format("{} commits, {} files ({} renamed), {} of {} hunks replayed{}", r.commits, r.files, r.renamed_files,
                   r.totals.hunks, r.hunks_available, skipped.empty() ? "" : "; skipped: " + skipped));
  const ReplayCounts& c = r.totals;
  line(fmt::format("{} requests, {} suggestions shown: {} accepted, {} partially accepted, {} rejected", c.requests,
                   c.shown, c.accepted, c.partially_accepted, c.rejected));
  line("");
  line(fmt::format("{:<34}{:>6}  {}", "rate (95% bootstrap over commits)", "value", "interval"));
  line(fmt::format("{:<34}{}", "acceptance (accepted / shown)", with_interval(r.rates.acceptance)));
  line(fmt::format("{:<34}{}", "char-weighted acceptance", with_interval(r.rates.char_acceptance)));
  line(fmt::format("{:<34}{}", "chars saved per typed char", with_interval(r.rates.chars_saved)));
  line(fmt::format("{:<34}{}", "exact-line match (of shown)", with_interval(r.rates.exact_line)));
  line(fmt::format("chars: {} typed, {} saved, {} suggested, {} kept", c.typed_chars, c.chars_saved, c.suggested_chars,
                   c.accepted_chars));
  line(fmt::format("latency: p50 {:.1f} ms, p99 {:.1f} ms, mean {:.1f} ms; wall {:.1f} s", r.latency_p50_ms,
                   r.latency_p99_ms, r.latency_mean_ms, r.wall_seconds));
  if (!r.languages.empty()) {
    line("");
    line(fmt::format("{:<14}{:>7}{:>9}{:>7}{:>9}{:>8}{:>8}{:>9}", "language", "hunks", "requests", "shown", "accepted",
                     "accept", "saved", "exact"));
    for (const LanguageReport& l : r.languages) {
      line(fmt::format("{:<14}{:>7}{:>9}{:>7}{:>9}{:>8}{:>8}{:>9}", l.language.empty() ? "unknown" : l.language,
                       l.counts.hunks, l.counts.requests, l.counts.shown, l.counts.accepted,
                       percent(l.rates.acceptance.value), percent(l.rates.chars_saved.value),
                       percent(l.rates.exact_line.value)));
    }
  }
  return out;
}

json comparison_to_json(const ReportComparison& c) {
  return {{"metric", replay_metric_name(c.metric)},
          {"paired_hunks", c.paired_hunks},
          {"paired_commits", c.paired_commits},
          {"baseline", c.baseline},
          {"candidate", c.candidate},
          {"difference", estimate_json(c.difference)},
          {"relative_gain", c.relative_gain ? estimate_json(*c.relative_gain) : json(nullptr)},
          {"resamples", c.resamples}};
}

}  // namespace flywheel::eval
