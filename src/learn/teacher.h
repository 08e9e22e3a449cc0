// Teachers for distillation (learn.h, distill): completions for prompts from
// a local checkpoint (generate(), model/generate.h) or from any
// OpenAI-compatible server (POST <url>/v1/completions with prompt,
// max_tokens, temperature and optionally model; the answer's
// choices[0].text is the completion).
//
// URL forms: http(s)://host[:port] and .../v1 post to /v1/completions; a URL
// ending in /completions is used as is.
//
// Fallback (documented in learn.h): a row whose request fails (cannot connect,
// times out, HTTP error, an answer that is not a completion) is skipped and
// counted, with a warning naming the URL and the reason; if more than half of
// the requests fail, collecting fails with the first reason.
//
// Thread-safety: a Teacher belongs to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "learn/feedback_rows.h"
#include "learn/objective.h"
#include "model/model.h"

namespace flywheel::learn {

struct TeacherOptions {
  std::string model;  // URL teachers: the request's "model" (omitted when empty)
  int64_t max_tokens = 64;
  double temperature = 0.0;     // 0: greedy
  double timeout_seconds = 60;  // URL teachers: connect, read and write timeouts
  uint64_t seed = 0;            // local sampling seed
};

class Teacher {
 public:
  virtual ~Teacher() = default;
  // The completion of `prompt` (special-token strings in it are special tokens).
  virtual Result<std::string> complete(const std::string& prompt) = 0;
  // The checkpoint directory or URL, for messages.
  virtual const std::string& name() const = 0;
};

bool is_teacher_url(std::string_view teacher);

// A teacher answering through `model` (which must outlive it).
std::unique_ptr<Teacher> make_local_teacher(Model& model, std::string name, const TeacherOptions& options);
// An OpenAI-compatible endpoint; errors: a URL that is not http(s)://host[:port][/path].
Result<std::unique_ptr<Teacher>> make_url_teacher(const std::string& url, const TeacherOptions& options);

struct TeacherCompletions {
  std::vector<DistillRow> rows;  // a row per prompt that got a completion
  int64_t requests = 0;          // prompts the teacher was asked about
  int64_t failures = 0;          // of those, skipped
};

// Each prompt's own completion when it has one, else the teacher's.
Result<TeacherCompletions> collect_teacher_completions(Teacher& teacher, const std::vector<PromptRow>& prompts);

}  // namespace flywheel::learn
