#include "eval/typing.h"

#include <algorithm>

#include "core/hash.h"
#include "data/rng.h"

namespace flywheel::eval {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Units a partial accept keeps whole (as an editor's accept-word does): a
// run of word bytes, a run of spaces and tabs, or any other single byte.
enum class Unit { kWord, kSpace, kOther };
Unit unit_of(char c) {
  if (is_word_byte(static_cast<unsigned char>(c))) return Unit::kWord;
  if (c == ' ' || c == '\t') return Unit::kSpace;
  return Unit::kOther;
}

bool unit_boundary(std::string_view text, size_t q) {
  const Unit before = unit_of(text[q - 1]), after = unit_of(text[q]);
  return before != after || before == Unit::kOther;
}

std::string_view first_line(std::string_view text) { return text.substr(0, text.find('\n')); }

}  // namespace

bool is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

std::vector<size_t> trigger_points(std::string_view text) {
  std::vector<size_t> points;
  size_t line = 0;
  while (line < text.size()) {
    size_t end = text.find('\n', line);
    if (end == std::string_view::npos) end = text.size();
    size_t first = line;
    while (first < end && (text[first] == ' ' || text[first] == '\t')) ++first;
    if (first < end && text[first] != '\r') {
      points.push_back(first);  // the line start, after its indentation
      for (size_t q = first + 1; q <= end && q < text.size(); ++q) {
        if (is_word_byte(static_cast<unsigned char>(text[q - 1])) != is_word_byte(static_cast<unsigned char>(text[q])))
          points.push_back(q);
      }
    }
    line = end + 1;
  }
  return points;
}

std::string_view trim_trailing_whitespace(std::string_view text) {
  size_t n = text.size();
  while (n > 0 && is_blank(text[n - 1])) --n;
  return text.substr(0, n);
}

Judgement judge_suggestion(std::string_view suggestion, std::string_view expected) {
  Judgement j;
  const std::string_view shown = trim_trailing_whitespace(suggestion);
  if (shown.empty()) return j;
  j.shown_length = shown.size();
  const std::string_view shown_line = trim_trailing_whitespace(first_line(shown));
  j.exact_line = !shown_line.empty() && shown_line == trim_trailing_whitespace(first_line(expected));

  const size_t common = static_cast<size_t>(
      std::mismatch(shown.begin(), shown.end(), expected.begin(), expected.end()).first - shown.begin());
  if (common == shown.size()) {
    j.outcome = SuggestionOutcome::kAccepted;
    j.accepted_length = common;
    return j;
  }
  size_t kept = common;  // back to the last whole unit of the suggestion
  while (kept > 0 && !unit_boundary(shown, kept)) --kept;
  if (!trim_trailing_whitespace(shown.substr(0, kept)).empty()) {
    j.outcome = SuggestionOutcome::kPartiallyAccepted;
    j.accepted_length = kept;
  } else {
    j.outcome = SuggestionOutcome::kRejected;
  }
  return j;
}

std::string final_text_for(std::string_view suggestion, std::string_view expected) {
  const std::string_view shown = trim_trailing_whitespace(suggestion);
  size_t lines = static_cast<size_t>(std::count(shown.begin(), shown.end(), '\n'));
  size_t end = 0;
  while (true) {
    const size_t newline = expected.find('\n', end);
    if (newline == std::string_view::npos) return std::string(expected);
    if (lines-- == 0) return std::string(expected.substr(0, newline));
    end = newline + 1;
  }
}

Result<HunkSession> type_hunk(const ReplayHunk& hunk, CompletionBackend& backend, const SessionContext& context,
                              const std::function<bool()>& abandon) {
  HunkSession session;
  session.counts.hunks = 1;
  session.counts.typed_chars = static_cast<int64_t>(hunk.text.size());
  const std::vector<size_t> triggers = trigger_points(hunk.text);
  const std::string before = hunk.prefix_at(0);
  const std::string suffix = hunk.suffix();
  // Seeds depend on the hunk's identity, not on its place in the run.
  const uint64_t hunk_key = xxh3_64(hunk.id);
  // What the developer types from the piece's start to the end of its block.
  const std::string block_rest = hunk.text + hunk.typed_after;

  size_t cursor = 0;
  while (true) {
    const auto next = std::lower_bound(triggers.begin(), triggers.end(), cursor);
    if (next == triggers.end()) break;
    if (abandon && abandon()) return Status(StatusCode::kCancelled, "hunk " + hunk.id + " abandoned");
    const size_t at = *next;
    CompletionQuery query;
    query.prefix = before;
    query.prefix.append(hunk.text, 0, at);
    query.suffix = suffix;
    query.path = hunk.path;
    query.language = hunk.language;
    query.repo = context.repo;
    query.cursor = static_cast<int64_t>(query.prefix.size());
    const size_t line_start = query.prefix.rfind('\n') + 1;  // npos + 1 == 0
    query.single_line = !trim_trailing_whitespace(std::string_view(query.prefix).substr(line_start)).empty();
    query.seed = data::stream_seed({context.seed, hunk_key, at});
    query.session = context.session;
    query.request_key = hunk.id + "@" + std::to_string(at);

    FW_ASSIGN_OR_RETURN(Completion completion, backend.complete(query));
    ++session.counts.requests;
    session.latencies_ms.push_back(completion.latency_ms);
    const std::string_view expected = std::string_view(block_rest).substr(at);
    const Judgement j = judge_suggestion(completion.text, expected);
    cursor = at + 1;  // not kept: the developer types on to the next trigger
    if (j.outcome == SuggestionOutcome::kNotShown) continue;
    ReplayCounts& c = session.counts;
    ++c.shown;
    c.suggested_chars += static_cast<int64_t>(j.shown_length);
    c.exact_lines += j.exact_line ? 1 : 0;
    if (j.outcome == SuggestionOutcome::kRejected) {
      ++c.rejected;
    } else {
      ++(j.outcome == SuggestionOutcome::kAccepted ? c.accepted : c.partially_accepted);
      // Kept text past the piece's end belongs to the next piece, which is
      // typed (and credited) from its own start: counted once.
      const size_t in_piece = std::min(j.accepted_length, hunk.text.size() - at);
      c.accepted_chars += static_cast<int64_t>(in_piece);
      c.chars_saved += static_cast<int64_t>(in_piece) - 1;  // the accept key is a keystroke too
      cursor = at + j.accepted_length;                      // the cursor jumps past the kept text
    }
    OutcomeReport outcome{j.outcome, static_cast<int64_t>(j.accepted_length),
                          final_text_for(completion.text, expected)};
    FW_RETURN_IF_ERROR(backend.report_outcome(query, completion, outcome));
  }
  return session;
}

}  // namespace flywheel::eval
