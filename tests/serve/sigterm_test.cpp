// `flywheel serve` as a process: SIGTERM while a stream is in flight lets it
// finish, flushes the events, and exits 0.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>

#include "feedback/store.h"
#include "tests/serve/serve_test_util.h"

namespace flywheel::serve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Starts `flywheel serve` with stderr on a pipe; returns the pid.
pid_t spawn_server(const std::vector<std::string>& args, int* stderr_fd) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  *stderr_fd = fds[0];
  return pid;
}

// Reads stderr until the "listening on http://host:port" line (or 60 s).
int wait_for_port(int fd, std::string* log) {
  const std::regex listening(R"(listening on http://127\.0\.0\.1:(\d+))");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  char buffer[1024];
  while (std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n > 0)
      log->append(buffer, static_cast<size_t>(n));
    else if (n == 0)
      return -1;  // exited
    std::smatch m;
    if (std::regex_search(*log, m, listening)) return std::stoi(m[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

TEST(Sigterm, DrainsInFlightStreamAndExitsZero) {
  const fs::path db = fs::temp_directory_path() / ("flywheel_sigterm_" + std::to_string(getpid()) + ".db");
  fs::remove(db);
  int err = -1;
  const pid_t pid = spawn_server({std::string(FLYWHEEL_BINARY_DIR) + "/flywheel", "serve", "--model",
                                  testing::tiny_model_dir().string(), "--port", "0", "--db", db.string()},
                                 &err);
  ASSERT_GT(pid, 0);
  std::string log;
  const int port = wait_for_port(err, &log);
  ASSERT_GT(port, 0) << log;

  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60);
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = json{{"prompt", "def f(x):\n"}, {"max_tokens", 300}, {"stream", true}, {"single_line", false}}.dump();
  req.set_header("Content-Type", "application/json");
  std::string body;
  bool signalled = false;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    body.append(data, n);
    if (!signalled) {
      signalled = true;
      kill(pid, SIGTERM);  // mid-stream
    }
    return true;
  };
  auto r = client.send(req);
  ASSERT_TRUE(r) << "the in-flight stream was cut";
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(signalled);
  auto payloads = testing::sse_payloads(body);
  ASSERT_FALSE(payloads.empty());
  EXPECT_EQ(payloads.back(), "[DONE]");

  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  char buffer[4096];
  ssize_t n = 0;
  fcntl(err, F_SETFL, 0);
  while ((n = read(err, buffer, sizeof buffer)) > 0) log.append(buffer, static_cast<size_t>(n));
  close(err);
  ASSERT_TRUE(WIFEXITED(status)) << log;
  EXPECT_EQ(WEXITSTATUS(status), 0) << log;
  EXPECT_NE(log.find("draining"), std::string::npos) << log;

  // The served completion's event was flushed before exit.
  auto store = feedback::open_store(db.string());
  ASSERT_TRUE(store.ok());
  auto count = (*store)->count_suggestions("");
  ASSERT_TRUE(count.ok());
  std::string text;
  for (size_t i = 0; i + 1 < payloads.size(); ++i) {
    auto chunk = json::parse(payloads[i]);
    if (!chunk["choices"].empty()) text += chunk["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(*count, text.empty() ? 0 : 1);
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db.string() + suffix);
}

}  // namespace
}  // namespace flywheel::serve
