#include "learn/teacher.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "core/progress.h"
#include "model/generate.h"

namespace flywheel::learn {
namespace {

using nlohmann::json;

class LocalTeacher final : public Teacher {
 public:
  LocalTeacher(Model& model, std::string name, const TeacherOptions& options)
      : model_(model), name_(std::move(name)), options_(options) {}

  Result<std::string> complete(const std::string& prompt) override {
    GenerationRequest request;
    request.prompt = model_.tokenizer().encode(prompt);
    // Keep the end of the prompt (next to the cursor) when it is too long.
    const auto room =
        static_cast<size_t>(std::max<int64_t>(1, model_.config().max_position_embeddings - options_.max_tokens));
    if (request.prompt.size() > room)
      request.prompt.erase(request.prompt.begin(), request.prompt.end() - static_cast<std::ptrdiff_t>(room));
    if (request.prompt.empty()) {
      FW_ASSIGN_OR_RETURN(TokenId eot, end_of_text(model_.tokenizer()));
      request.prompt.push_back(eot);
    }
    request.params.max_tokens = static_cast<int>(options_.max_tokens);
    request.params.temperature = static_cast<float>(options_.temperature);
    request.params.seed = options_.seed;
    FW_ASSIGN_OR_RETURN(GenerationResult result, generate(model_, request));
    return result.text;
  }
  const std::string& name() const override { return name_; }

 private:
  Model& model_;
  std::string name_;
  TeacherOptions options_;
};

class UrlTeacher final : public Teacher {
 public:
  UrlTeacher(std::string url, const std::string& origin, std::string path, const TeacherOptions& options)
      : url_(std::move(url)), path_(std::move(path)), options_(options), client_(origin) {
    const auto seconds = static_cast<time_t>(options.timeout_seconds);
    const auto micros = static_cast<time_t>((options.timeout_seconds - static_cast<double>(seconds)) * 1e6);
    client_.set_connection_timeout(seconds, micros);
    client_.set_read_timeout(seconds, micros);
    client_.set_write_timeout(seconds, micros);
  }

  Result<std::string> complete(const std::string& prompt) override {
    json body = {{"prompt", prompt}, {"max_tokens", options_.max_tokens}, {"temperature", options_.temperature}};
    if (!options_.model.empty()) body["model"] = options_.model;
    const std::string where = "teacher " + url_ + " (POST " + path_ + ")";
    const auto started = std::chrono::steady_clock::now();
    auto response = client_.Post(path_, body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
    if (!response) {
      const httplib::Error error = response.error();
      // httplib reports a read timeout as a read error; the clock tells them apart.
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      if (error == httplib::Error::ConnectionTimeout || waited >= 0.95 * options_.timeout_seconds)
        return Status(StatusCode::kDeadlineExceeded, fmt::format("{}: no answer within {:g} s ({})", where,
                                                                 options_.timeout_seconds, httplib::to_string(error)));
      return Status(StatusCode::kUnavailable, where + ": " + httplib::to_string(error));
    }
    const std::string excerpt = response->body.substr(0, 200);
    if (response->status != 200)
      return Status(StatusCode::kUnavailable,
                    where + " answered HTTP " + std::to_string(response->status) + ": " + excerpt);
    const json answer = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    if (answer.is_discarded() || !answer.is_object() || !answer.contains("choices") || !answer["choices"].is_array() ||
        answer["choices"].empty() || !answer["choices"][0].is_object() || !answer["choices"][0].contains("text") ||
        !answer["choices"][0]["text"].is_string())
      return Status::corruption(
          where + " answered something that is not an OpenAI completion (no choices[0].text): " + excerpt);
    return answer["choices"][0]["text"].get<std::string>();
  }
  const std::string& name() const override { return url_; }

 private:
  std::string url_, path_;
  TeacherOptions options_;
  httplib::Client client_;
};

}  // namespace

bool is_teacher_url(std::string_view teacher) {
  return teacher.rfind("http://", 0) == 0 || teacher.rfind("https://", 0) == 0;
}

std::unique_ptr<Teacher> make_local_teacher(Model& model, std::string name, const TeacherOptions& options) {
  return std::make_unique<LocalTeacher>(model, std::move(name), options);
}

Result<std::unique_ptr<Teacher>> make_url_teacher(const std::string& url, const TeacherOptions& options) {
  if (!is_teacher_url(url)) return Status::invalid_argument("teacher URL '" + url + "' is not http(s)://...");
  const size_t host_start = url.find("://") + 3;
  const size_t path_start = url.find('/', host_start);
  const std::string origin = url.substr(0, path_start);
  if (origin.size() <= host_start) return Status::invalid_argument("teacher URL '" + url + "' has no host");
  std::string path = path_start == std::string::npos ? "" : url.substr(path_start);
  while (!path.empty() && path.back() == '/') path.pop_back();
  const auto ends_with = [&](std::string_view tail) {
    return path.size() >= tail.size() && path.compare(path.size() - tail.size(), tail.size(), tail) == 0;
  };
  if (!ends_with("/completions")) path += ends_with("/v1") ? "/completions" : "/v1/completions";
  return std::unique_ptr<Teacher>(std::make_unique<UrlTeacher>(url, origin, path, options));
}

Result<TeacherCompletions> collect_teacher_completions(Teacher& teacher, const std::vector<PromptRow>& prompts) {
  TeacherCompletions out;
  int64_t asked = 0;
  for (const PromptRow& row : prompts) asked += row.completion ? 0 : 1;
  ProgressBar progress("teacher", static_cast<uint64_t>(asked), "completions");
  Status first_failure;
  for (const PromptRow& row : prompts) {
    if (row.completion) {
      out.rows.push_back({row.prompt, *row.completion});
      continue;
    }
    ++out.requests;
    Result<std::string> completion = teacher.complete(row.prompt);
    progress.advance();
    if (!completion.ok()) {
      ++out.failures;
      if (first_failure.ok()) first_failure = completion.status();
      spdlog::warn("skipping a prompt: {}", completion.status().message());
      continue;
    }
    out.rows.push_back({row.prompt, *std::move(completion)});
  }
  progress.finish();
  if (out.failures * 2 > out.requests)
    return Status(first_failure.code(),
                  std::to_string(out.failures) + " of " + std::to_string(out.requests) +
                      " teacher requests failed (more than half), the first: " + first_failure.message());
  if (out.failures > 0)
    spdlog::warn("teacher {}: skipped {} of {} prompts it failed on", teacher.name(), out.failures, out.requests);
  return out;
}

}  // namespace flywheel::learn
