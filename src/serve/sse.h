// Server-sent events over httplib's chunked content provider: a run's text
// pieces go out as `data: <payload>\n\n` events as the engine makes them.
//
// The provider runs on the HTTP worker thread after the handler returned; it
// waits on the run (never on the engine), and when the client is gone
// (sink.is_writable() false or a write fails: disconnect, or the write
// timeout for a client that stopped reading) it cancels the run and ends.
//
// Thread-safety: one stream per response; the formatters run on the HTTP thread.
#pragma once

#include <httplib.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "serve/generation_run.h"

namespace flywheel::serve {

struct SseFormat {
  // Payloads (JSON text, or "[DONE]") for one event of the run.
  std::function<void(const GenerationRun::Event& event, std::vector<std::string>* payloads)> on_event;
  // Payloads after every choice is done (usage chunk, "[DONE]").
  std::function<void(std::vector<std::string>* payloads)> on_end;
};

void stream_sse(httplib::Response& res, std::shared_ptr<GenerationRun> run, SseFormat format);

}  // namespace flywheel::serve
