// run_local_ranks: fork/exec N ranks with torchrun's variables and supervise them.
#include "train/local_launcher.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <string_view>
#include <thread>

extern char** environ;

#include "spdlog/spdlog.h"

namespace flywheel::train {

namespace {

std::atomic<int> g_forward_signal{0};

extern "C" void on_launcher_signal(int signal) { g_forward_signal.store(signal); }

class ForwardSignals {
 public:
  ForwardSignals() {
    g_forward_signal.store(0);
    struct sigaction action {};
    action.sa_handler = on_launcher_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~ForwardSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {
  }, old_term_{};
};

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "stopped (status " + std::to_string(status) + ")";
}

bool failed(int status) { return !WIFEXITED(status) || WEXITSTATUS(status) != 0; }

}  // namespace

Result<std::string> current_executable() {
  char buffer[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  if (n < 0) return Status::from_errno("readlink /proc/self/exe", errno);
  return std::string(buffer, static_cast<size_t>(n));
}

Result<int> free_local_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Status::from_errno("socket", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Status s = Status::from_errno("finding a free port on 127.0.0.1", errno);
    close(fd);
    return s;
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

Status run_local_ranks(const std::vector<std::string>& argv, const LocalLaunchOptions& options) {
  if (options.nproc < 1) return Status::invalid_argument("--nproc must be at least 1");
  if (argv.empty()) return Status::invalid_argument("no command to launch");
  int port = options.master_port;
  if (port == 0) {
    FW_ASSIGN_OR_RETURN(port, free_local_port());
  }
  ForwardSignals forward;
  const int n = options.nproc;
  std::vector<pid_t> pids(n, -1);
  std::vector<int> statuses(n, 0);
  std::vector<bool> done(n, false);
  auto kill_all = [&](int signal) {
    for (int r = 0; r < n; ++r)
      if (pids[r] > 0 && !done[r]) kill(pids[r], signal);
  };

  // Everything the children need is built before fork: the launcher may
  // have threads (libtorch's pools), so the child only calls execvpe.
  std::vector<std::string> args_storage = argv;
  std::vector<char*> args;
  for (auto& a : args_storage) args.push_back(a.data());
  args.push_back(nullptr);
  const std::string exec_error = "cannot run " + argv[0] + "\n";
  for (int r = 0; r < n; ++r) {
    const std::vector<std::string> set = {"RANK=" + std::to_string(r),       "WORLD_SIZE=" + std::to_string(n),
                                          "LOCAL_RANK=" + std::to_string(r), "LOCAL_WORLD_SIZE=" + std::to_string(n),
                                          "MASTER_ADDR=127.0.0.1",           "MASTER_PORT=" + std::to_string(port)};
    // The launcher may itself run under torchrun, MPI or Slurm: their
    // variables must not decide the ranks' places.
    const std::vector<std::string> drop = {"RANK=",        "WORLD_SIZE=",   "LOCAL_RANK=",      "LOCAL_WORLD_SIZE=",
                                           "MASTER_ADDR=", "MASTER_PORT=",  "OMPI_COMM_WORLD_", "PMI_RANK=",
                                           "PMI_SIZE=",    "SLURM_PROCID=", "TORCHELASTIC_"};
    std::vector<std::string> env_storage = set;
    for (char** e = environ; *e; ++e) {
      std::string_view entry(*e);
      bool skip = false;
      for (const auto& prefix : drop) skip = skip || entry.rfind(prefix, 0) == 0;
      if (!skip) env_storage.emplace_back(entry);
    }
    std::vector<char*> envp;
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);

    pid_t pid = fork();
    if (pid < 0) {
      Status s = Status::from_errno("starting rank " + std::to_string(r), errno);
      kill_all(SIGKILL);
      for (int k = 0; k < r; ++k) waitpid(pids[k], nullptr, 0);
      return s;
    }
    if (pid == 0) {
      execvpe(args[0], args.data(), envp.data());
      ssize_t ignored = write(2, exec_error.data(), exec_error.size());
      (void)ignored;
      _exit(127);
    }
    pids[r] = pid;
  }
  spdlog::info("launched {} ranks on 127.0.0.1:{}", n, port);

  int first_failure = -1, remaining = n;
  std::chrono::steady_clock::time_point failure_time;
  bool terminated = false, killed = false, announced = false;
  int forwarded = 0;
  while (remaining > 0) {
    for (int r = 0; r < n; ++r) {
      if (done[r]) continue;
      int status = 0;
      pid_t pid = waitpid(pids[r], &status, WNOHANG);
      if (pid == 0 || (pid < 0 && errno == EINTR)) continue;
      done[r] = true;
      statuses[r] = pid < 0 ? (127 << 8) : status;  // lost child: count it as failed
      --remaining;
      if (failed(statuses[r]) && first_failure < 0) {
        first_failure = r;
        failure_time = std::chrono::steady_clock::now();
      }
    }
    if (remaining == 0) break;
    if (first_failure >= 0 && !announced) {
      spdlog::error("rank {} {}; waiting up to {} s for the others", first_failure,
                    describe_exit(statuses[first_failure]), options.grace.count() / 1000.0);
      announced = true;
    }
    if (int signal = g_forward_signal.exchange(0); signal != 0) {
      kill_all(signal);
      forwarded = signal;
    }
    if (first_failure >= 0) {
      const auto waited = std::chrono::steady_clock::now() - failure_time;
      if (!terminated && waited > options.grace) {
        kill_all(SIGTERM);
        terminated = true;
      } else if (!killed && waited > options.grace + std::chrono::seconds(10)) {
        kill_all(SIGKILL);
        killed = true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (first_failure < 0) return Status::OK();
  std::string message = "rank " + std::to_string(first_failure) + " " + describe_exit(statuses[first_failure]);
  if (forwarded) message += " after the launcher forwarded signal " + std::to_string(forwarded);
  message += " (";
  for (int r = 0; r < n; ++r)
    message += (r ? ", rank " : "rank ") + std::to_string(r) + ": " + describe_exit(statuses[r]);
  message += "); its error is in its log above";
  return Status(StatusCode::kUnavailable, message);
}

}  // namespace flywheel::train
