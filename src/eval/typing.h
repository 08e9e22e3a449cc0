// The simulated developer (docs/replay.md): where a suggestion is asked for
// while a hunk is typed, how a suggestion is judged against what the
// developer typed next, and one whole typing session. Private to the eval
// module.
//
// Thread-safety: pure functions; type_hunk uses only the backend it is given.
// Errors: type_hunk passes on the backend's failures.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "eval/history.h"
#include "eval/replay.h"

namespace flywheel::eval {

// ASCII letters, digits, '_' and every byte of a multi-byte UTF-8 character
// (so no trigger falls inside one).
bool is_word_byte(unsigned char c);

// The trigger offsets in `text` (which starts at a line start), ascending:
// the first non-blank byte of each line, and each change between a word byte
// and a non-word byte after the line's indentation. Never text.size().
std::vector<size_t> trigger_points(std::string_view text);

// The suggestion with trailing spaces, tabs, CR and LF removed.
std::string_view trim_trailing_whitespace(std::string_view text);

struct Judgement {
  SuggestionOutcome outcome = SuggestionOutcome::kNotShown;
  size_t shown_length = 0;     // the trimmed suggestion's bytes
  size_t accepted_length = 0;  // bytes kept (0 when rejected)
  bool exact_line = false;
};

// `expected` is what the developer types from the cursor on (the rest of
// its added block: the hunk's text and the block's later pieces).
Judgement judge_suggestion(std::string_view suggestion, std::string_view expected);

// The text the developer really typed where the suggestion went: as many
// lines of `expected` as the trimmed suggestion has (the last without its newline).
std::string final_text_for(std::string_view suggestion, std::string_view expected);

struct HunkSession {
  ReplayCounts counts;  // hunks = 1
  std::vector<double> latencies_ms;
};

struct SessionContext {
  uint64_t seed = 0;
  std::string session, repo;
};

// `abandon` (optional) is asked before each request; when it says true the
// session stops with a kCancelled status (its hunk is no longer wanted).
Result<HunkSession> type_hunk(const ReplayHunk& hunk, CompletionBackend& backend, const SessionContext& context,
                              const std::function<bool()>& abandon = {});

}  // namespace flywheel::eval
