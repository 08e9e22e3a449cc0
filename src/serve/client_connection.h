// Whether the client of a request is still there, for answers that are not
// streamed: nothing is written to the socket until the end, so nothing else
// notices a client that left, and its generation would run to max_tokens.
//
// cpp-httplib 0.11 gives a handler no socket (later versions have
// Request::is_connection_closed), so the socket is found once by its
// addresses: the open descriptor whose local and peer address:port are the
// request's. Gone: the peer closed or reset (poll says hang-up or error, or
// a read would return end of file). Data waiting (a pipelined request) is not
// a hang-up. When the socket cannot be found, the client counts as present.
//
// Thread-safety: one per request, on its HTTP worker thread.
#pragma once

#include <httplib.h>

#include <chrono>

#include "serve/generation_run.h"

namespace flywheel::serve {

class ClientConnection {
 public:
  explicit ClientConnection(const httplib::Request& req);
  bool found() const { return fd_ >= 0; }
  bool closed() const;

 private:
  int fd_ = -1;
};

// Waits for `run` like GenerationRun::wait(), checking every `poll` that the
// client is still connected; when it has left, cancels the run (the engine
// stops it at its next step) and waits for it to settle.
void wait_unless_client_leaves(GenerationRun& run, const httplib::Request& req,
                               std::chrono::milliseconds poll = std::chrono::milliseconds(50));

}  // namespace flywheel::serve
