// Local launcher: `flywheel train --nproc N` runs N ranks of a command on
// this machine the way torchrun would (RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR=127.0.0.1, MASTER_PORT = a free port), so that
// detect_distributed_env() in each child finds its place.
//
// The children share the launcher's process group, so Ctrl-C in a terminal
// reaches every rank directly; a SIGTERM or SIGINT sent to the launcher alone
// is forwarded to the ranks still running. When a rank fails the others are
// given `grace` to notice (their collectives fail within the distributed
// timeout) and are then sent SIGTERM, and SIGKILL 10 s later.
//
// Thread-safety: call from the main thread; it installs SIGINT/SIGTERM
// handlers while it runs and restores the previous ones.
// Errors: kInvalidArgument for nproc < 1 or an empty command; kIoError when a
// rank cannot be started; kUnavailable when a rank fails (run_local_ranks).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/status.h"

namespace flywheel::train {

struct LocalLaunchOptions {
  int nproc = 2;
  int master_port = 0;  // 0: a free port on 127.0.0.1
  std::chrono::milliseconds grace{std::chrono::seconds(60)};
};

// Runs argv (argv[0] is the program, found through PATH when it has no '/')
// as `nproc` ranks and waits for all of them. OK when every rank exits 0;
// otherwise kUnavailable naming the first rank that failed and how ("rank 1
// exited with code 3", "rank 0 was killed by signal 9"), with the exit of
// each rank.
Status run_local_ranks(const std::vector<std::string>& argv, const LocalLaunchOptions& options);

// The path of the running executable (/proc/self/exe), for re-running
// oneself as the ranks.
Result<std::string> current_executable();

// A TCP port that was free on 127.0.0.1 a moment ago.
Result<int> free_local_port();

}  // namespace flywheel::train
