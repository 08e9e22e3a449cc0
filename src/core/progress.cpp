#include "core/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "core/progress_format.h"

namespace flywheel {
namespace progress {
namespace {

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

// Three significant digits, as people read sizes: 1.23, 12.3, 123.
std::string three_digits(double value) {
  if (value < 10) return fixed(value, 2);
  if (value < 100) return fixed(value, 1);
  return fixed(value, 0);
}

std::string scaled_bytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  int unit = 0;
  while (bytes >= 999.5 && unit < 5) {
    bytes /= 1000;
    ++unit;
  }
  return (unit == 0 ? fixed(bytes, 0) : three_digits(bytes)) + " " + kUnits[unit];
}

std::string plain_count(double count) {
  // Counts are whole in practice; rates are not, and small ones need decimals.
  if (count == std::floor(count) || count >= 100) return fixed(count, 0);
  return three_digits(count);
}

}  // namespace

std::string format_amount(double amount, std::string_view unit) {
  if (unit == "B") return scaled_bytes(amount);
  std::string out = plain_count(amount);
  if (!unit.empty()) {
    out += ' ';
    out += unit;
  }
  return out;
}

std::string format_rate(double per_second, std::string_view unit) {
  if (!std::isfinite(per_second) || per_second < 0) per_second = 0;
  if (unit == "B") return scaled_bytes(per_second) + "/s";
  std::string out = plain_count(per_second);
  if (!unit.empty()) {
    out += ' ';
    out += unit;
  }
  out += "/s";
  return out;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  auto total = static_cast<uint64_t>(seconds + 0.5);
  uint64_t h = total / 3600, m = total / 60 % 60, s = total % 60;
  char buffer[64];
  if (h > 0) {
    std::snprintf(buffer, sizeof buffer, "%llu:%02llu:%02llu", static_cast<unsigned long long>(h),
                  static_cast<unsigned long long>(m), static_cast<unsigned long long>(s));
  } else {
    std::snprintf(buffer, sizeof buffer, "%llu:%02llu", static_cast<unsigned long long>(m),
                  static_cast<unsigned long long>(s));
  }
  return buffer;
}

std::string format_line(const Snapshot& s, int width) {
  const double rate = s.elapsed_seconds > 0 ? static_cast<double>(s.done) / s.elapsed_seconds : 0;
  std::string tail;
  std::string line(s.label);
  if (s.total > 0) {
    const double fraction = std::min(1.0, static_cast<double>(s.done) / static_cast<double>(s.total));
    std::string amounts;
    if (s.unit == "B") {
      amounts =
          format_amount(static_cast<double>(s.done), "B") + "/" + format_amount(static_cast<double>(s.total), "B");
    } else {
      amounts = plain_count(static_cast<double>(s.done)) + "/" + format_amount(static_cast<double>(s.total), s.unit);
    }
    std::string when;
    if (s.final) {
      when = format_duration(s.elapsed_seconds);
    } else {
      const double remaining = s.done >= s.total ? 0 : static_cast<double>(s.total - s.done);
      when = "ETA " + (rate > 0 ? format_duration(remaining / rate) : std::string("--:--"));
    }
    char percent[16];
    std::snprintf(percent, sizeof percent, "%3d%%", static_cast<int>(fraction * 100));
    tail = std::string(percent) + " " + amounts + " " + format_rate(rate, s.unit) + " " + when;
    // The bar's width depends only on the label and the terminal, not on the
    // text after it (whose length changes with every redraw), so it stays put.
    constexpr int kTailRoom = 44;
    const int room = width - static_cast<int>(line.size()) - kTailRoom - 3;
    const int bar_width = std::min(40, room);
    if (bar_width >= 10) {
      const int filled = static_cast<int>(fraction * bar_width);
      std::string bar(static_cast<size_t>(bar_width), ' ');
      std::fill_n(bar.begin(), filled, '=');
      if (filled < bar_width && filled > 0) bar[static_cast<size_t>(filled)] = '>';
      line += " [" + bar + "]";
    }
  } else {
    tail = format_amount(static_cast<double>(s.done), s.unit) + " " + format_rate(rate, s.unit) + " " +
           format_duration(s.elapsed_seconds);
  }
  line += ' ';
  line += tail;
  if (width > 0 && static_cast<int>(line.size()) > width) line.resize(static_cast<size_t>(width));
  return line;
}

}  // namespace progress

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

bool progress_allowed() {
  if (std::getenv("FLYWHEEL_NO_PROGRESS") != nullptr) return false;
  return ::isatty(STDERR_FILENO) == 1;
}

int terminal_width() {
  struct winsize ws {};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

}  // namespace

struct ProgressBar::State {
  std::string label;
  std::string unit;
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> total{0};
  bool enabled = false;
  Clock::time_point start = Clock::now();
  // Nanoseconds since `start` of the last draw; lets advance() skip the mutex
  // on the hot path when a redraw is not due.
  std::atomic<int64_t> last_draw_ns{-1};
  std::mutex draw_mutex;
  bool finished = false;  // guarded by draw_mutex

  int64_t now_ns() const { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count(); }

  // Caller holds draw_mutex.
  void draw(bool final) {
    const int64_t now = now_ns();
    last_draw_ns.store(now, std::memory_order_relaxed);
    progress::Snapshot snapshot;
    snapshot.label = label;
    snapshot.unit = unit;
    snapshot.done = done.load(std::memory_order_relaxed);
    snapshot.total = total.load(std::memory_order_relaxed);
    snapshot.elapsed_seconds = static_cast<double>(now) / 1e9;
    snapshot.final = final;
    // Keep the last column free: writing into it makes some terminals wrap.
    std::string line = progress::format_line(snapshot, terminal_width() - 1);
    // \r returns to the line's start; \x1b[K erases what a longer previous line left behind.
    std::fprintf(stderr, "\r%s\x1b[K%s", line.c_str(), final ? "\n" : "");
    std::fflush(stderr);
  }

  void maybe_draw() {
    if (!enabled) return;
    const int64_t last = last_draw_ns.load(std::memory_order_relaxed);
    if (last >= 0 && now_ns() - last < std::chrono::nanoseconds(kRedrawInterval).count()) return;
    // Another thread drawing right now is as good as drawing ourselves.
    std::unique_lock<std::mutex> lock(draw_mutex, std::try_to_lock);
    if (!lock.owns_lock() || finished) return;
    draw(false);
  }
};

ProgressBar::ProgressBar(std::string label, uint64_t total, std::string unit) : state_(std::make_unique<State>()) {
  state_->label = std::move(label);
  state_->unit = std::move(unit);
  state_->total.store(total);
  state_->enabled = progress_allowed();
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::advance(uint64_t delta) {
  state_->done.fetch_add(delta, std::memory_order_relaxed);
  state_->maybe_draw();
}

void ProgressBar::set(uint64_t done) {
  state_->done.store(done, std::memory_order_relaxed);
  state_->maybe_draw();
}

void ProgressBar::set_total(uint64_t total) {
  state_->total.store(total, std::memory_order_relaxed);
  state_->maybe_draw();
}

void ProgressBar::finish() {
  std::lock_guard<std::mutex> lock(state_->draw_mutex);
  if (state_->finished) return;
  state_->finished = true;
  if (state_->enabled) state_->draw(true);
}

bool ProgressBar::enabled() const { return state_->enabled; }

}  // namespace flywheel
