#include "core/progress.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>
#include <vector>

#include "core/progress_format.h"

namespace flywheel {
namespace {

using progress::format_amount;
using progress::format_duration;
using progress::format_line;
using progress::format_rate;
using progress::Snapshot;

TEST(ProgressFormat, Amounts) {
  EXPECT_EQ(format_amount(0, "B"), "0 B");
  EXPECT_EQ(format_amount(999, "B"), "999 B");
  EXPECT_EQ(format_amount(1500, "B"), "1.50 KB");
  EXPECT_EQ(format_amount(12345678, "B"), "12.3 MB");
  EXPECT_EQ(format_amount(4e9, "B"), "4.00 GB");
  EXPECT_EQ(format_amount(1234, "files"), "1234 files");
  EXPECT_EQ(format_amount(7, ""), "7");
}

TEST(ProgressFormat, RatesAndDurations) {
  EXPECT_EQ(format_rate(5.1e6, "B"), "5.10 MB/s");
  EXPECT_EQ(format_rate(850, "files"), "850 files/s");
  EXPECT_EQ(format_rate(3.25, ""), "3.25/s");
  EXPECT_EQ(format_rate(-1, ""), "0/s");
  EXPECT_EQ(format_duration(7), "0:07");
  EXPECT_EQ(format_duration(754), "12:34");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(-1), "--:--");
  EXPECT_EQ(format_duration(1.0 / 0.0), "--:--");
}

TEST(ProgressFormat, LineWithTotalShowsBarPercentRateAndEta) {
  Snapshot s;
  s.label = "reading";
  s.unit = "B";
  s.done = 25'000'000;
  s.total = 100'000'000;
  s.elapsed_seconds = 5;
  std::string line = format_line(s, 100);
  EXPECT_NE(line.find("reading ["), std::string::npos) << line;
  EXPECT_NE(line.find(" 25%"), std::string::npos) << line;
  EXPECT_NE(line.find("25.0 MB/100 MB"), std::string::npos) << line;
  EXPECT_NE(line.find("5.00 MB/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 0:15"), std::string::npos) << line;
  EXPECT_LE(line.size(), 100u);
}

TEST(ProgressFormat, FinalLineShowsElapsedTime) {
  Snapshot s;
  s.label = "merges";
  s.done = 100;
  s.total = 100;
  s.elapsed_seconds = 65;
  s.final = true;
  std::string line = format_line(s, 120);
  EXPECT_NE(line.find("100%"), std::string::npos) << line;
  EXPECT_NE(line.find("1:05"), std::string::npos) << line;
  EXPECT_EQ(line.find("ETA"), std::string::npos) << line;
}

TEST(ProgressFormat, UnknownTotalAndNarrowTerminal) {
  Snapshot s;
  s.label = "files";
  s.unit = "files";
  s.done = 40;
  s.elapsed_seconds = 2;
  std::string line = format_line(s, 80);
  EXPECT_EQ(line, "files 40 files 20 files/s 0:02");
  s.total = 100;
  line = format_line(s, 30);
  EXPECT_LE(line.size(), 30u);
  EXPECT_EQ(line.find('['), std::string::npos) << line;  // no room for a bar
}

// Restores an environment variable when the test ends.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(ProgressBar, QuietWhenDisabledByEnvironment) {
  ScopedEnv env("FLYWHEEL_NO_PROGRESS", "1");
  testing::internal::CaptureStderr();
  {
    ProgressBar bar("work", 10);
    EXPECT_FALSE(bar.enabled());
    bar.advance(5);
    bar.finish();
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(ProgressBar, QuietWhenStderrIsNotATerminal) {
  ScopedEnv env("FLYWHEEL_NO_PROGRESS", nullptr);
  testing::internal::CaptureStderr();  // stderr becomes a file
  {
    ProgressBar bar("work", 10);
    EXPECT_FALSE(bar.enabled());
    bar.advance(5);
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

// Runs `body` with stderr pointing at a pseudo-terminal; returns what was drawn.
template <typename Body>
std::string with_terminal_stderr(Body body) {
  int master = -1, slave = -1;
  struct winsize ws {};
  ws.ws_col = 100;
  ws.ws_row = 24;
  if (::openpty(&master, &slave, nullptr, nullptr, &ws) != 0) return "<openpty failed>";
  std::fflush(stderr);
  int saved = ::dup(STDERR_FILENO);
  ::dup2(slave, STDERR_FILENO);
  body();
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(slave);
  ::fcntl(master, F_SETFL, O_NONBLOCK);
  std::string out;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(master, buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<size_t>(n));
  ::close(master);
  return out;
}

TEST(ProgressBar, DrawsOnATerminalFromManyThreads) {
  ScopedEnv env("FLYWHEEL_NO_PROGRESS", nullptr);
  bool enabled = false;
  std::string drawn = with_terminal_stderr([&enabled] {
    ProgressBar bar("counting", 0, "B");
    enabled = bar.enabled();
    bar.set_total(4 * 1000 * 1000);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&bar] {
        for (int i = 0; i < 1000; ++i) bar.advance(1000);
      });
    }
    for (auto& thread : threads) thread.join();
    bar.finish();
    bar.finish();    // once only
    bar.advance(1);  // after finish: counted, never drawn
  });
  ASSERT_TRUE(enabled) << drawn;
  // The final state, drawn once and ended with a newline (the pty turns \n into \r\n).
  EXPECT_NE(drawn.find("counting ["), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("100% 4.00 MB/4.00 MB"), std::string::npos) << drawn;
  size_t last = drawn.rfind("100%");
  EXPECT_EQ(drawn.find("100%", drawn.find("\n") + 1), std::string::npos) << "drawn after finish: " << drawn;
  EXPECT_NE(drawn.find('\n', last), std::string::npos) << drawn;
  // Throttled: nowhere near one draw per advance().
  size_t draws = 0;
  for (size_t at = drawn.find('\r'); at != std::string::npos; at = drawn.find('\r', at + 1)) ++draws;
  EXPECT_LT(draws, 50u) << drawn;
}

}  // namespace
}  // namespace flywheel
