// recording_backend_factory: replay events for the in-process backend, in
// the shape the server writes for editors (feedback/events.h).
#include "core/hash.h"
#include "eval/prompt_window.h"
#include "eval/replay.h"
#include "feedback/event_writer.h"

namespace flywheel::eval {
namespace {

// The text kept near the cursor in an event (SuggestionEvent's windows).
constexpr size_t kEventWindowBytes = 2048;

feedback::OutcomeKind outcome_kind(SuggestionOutcome outcome) {
  switch (outcome) {
    case SuggestionOutcome::kAccepted:
      return feedback::OutcomeKind::kAccepted;
    case SuggestionOutcome::kPartiallyAccepted:
      return feedback::OutcomeKind::kPartiallyAccepted;
    case SuggestionOutcome::kRejected:
      return feedback::OutcomeKind::kRejected;
    case SuggestionOutcome::kNotShown:
      break;
  }
  return feedback::OutcomeKind::kShown;
}

class RecordingBackend final : public CompletionBackend {
 public:
  RecordingBackend(std::unique_ptr<CompletionBackend> inner, std::shared_ptr<feedback::EventWriter> writer,
                   std::string model_id)
      : inner_(std::move(inner)), writer_(std::move(writer)), model_id_(std::move(model_id)) {}

  Result<Completion> complete(const CompletionQuery& query) override {
    FW_ASSIGN_OR_RETURN(Completion completion, inner_->complete(query));
    feedback::SuggestionEvent event;
    event.id = completion.id;
    event.model_id = model_id_;
    event.source = "replay";
    event.session = query.session;
    event.repo = query.repo;
    event.path = query.path;
    event.language = query.language;
    event.cursor = query.cursor;
    event.prefix_hash = sha256_hex(query.prefix);
    event.suffix_hash = sha256_hex(query.suffix);
    event.prefix_window = prefix_window(query.prefix, kEventWindowBytes);
    event.suffix_window = suffix_window(query.suffix, kEventWindowBytes);
    event.text = completion.text;
    event.latency_ms = completion.latency_ms;
    event.shown_at_ms = feedback::unix_millis_now();
    writer_->record({std::move(event)});
    return completion;
  }

  Status report_outcome(const CompletionQuery& query, const Completion& completion,
                        const OutcomeReport& outcome) override {
    FW_RETURN_IF_ERROR(inner_->report_outcome(query, completion, outcome));
    feedback::OutcomeEvent event;
    event.suggestion_id = completion.id;
    event.kind = outcome_kind(outcome.outcome);
    event.accepted_length = outcome.accepted_length;
    event.final_text = outcome.final_text;
    event.at_ms = feedback::unix_millis_now();
    writer_->record({}, {std::move(event)});
    return Status::OK();
  }

 private:
  std::unique_ptr<CompletionBackend> inner_;
  std::shared_ptr<feedback::EventWriter> writer_;
  std::string model_id_;
};

}  // namespace

BackendFactory recording_backend_factory(BackendFactory inner, std::shared_ptr<feedback::EventWriter> writer,
                                         std::string model_id) {
  return [inner = std::move(inner), writer = std::move(writer),
          model_id = std::move(model_id)]() -> Result<std::unique_ptr<CompletionBackend>> {
    FW_ASSIGN_OR_RETURN(std::unique_ptr<CompletionBackend> backend, inner());
    return std::unique_ptr<CompletionBackend>(std::make_unique<RecordingBackend>(std::move(backend), writer, model_id));
  };
}

}  // namespace flywheel::eval
