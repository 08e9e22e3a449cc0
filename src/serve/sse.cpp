#include "serve/sse.h"

namespace flywheel::serve {
namespace {

bool write_events(httplib::DataSink& sink, std::vector<std::string>& payloads) {
  std::string frame;
  for (const std::string& p : payloads) {
    frame += "data: ";
    frame += p;
    frame += "\n\n";
  }
  payloads.clear();
  return frame.empty() || sink.write(frame.data(), frame.size());
}

}  // namespace

void stream_sse(httplib::Response& res, std::shared_ptr<GenerationRun> run, SseFormat format) {
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");  // nginx: pass events through at once
  res.set_chunked_content_provider(
      "text/event-stream",
      [run, format = std::move(format)](size_t /*offset*/, httplib::DataSink& sink) {
        std::vector<std::string> payloads;
        while (!run->finished()) {
          if (!sink.is_writable()) {
            run->cancel();
            return false;
          }
          // A short wait, so a client that left is noticed while the model is slow.
          auto event = run->next(std::chrono::milliseconds(100));
          if (!event) continue;
          format.on_event(*event, &payloads);
          if (!write_events(sink, payloads)) {
            run->cancel();
            return false;
          }
        }
        format.on_end(&payloads);
        if (!write_events(sink, payloads)) return false;
        sink.done();
        return true;
      },
      // Called when the response ends, however it ends: a run whose client
      // left before the end stops generating.
      [run](bool success) {
        if (!success) run->cancel();
      });
}

}  // namespace flywheel::serve
