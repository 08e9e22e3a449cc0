#include "cli/feedback_cli.h"

#include <cctype>
#include <charconv>
#include <chrono>
#include <ctime>

namespace flywheel::cli {
namespace {

// Reads exactly `digits` digits at `pos`.
bool read_int(std::string_view s, size_t& pos, size_t digits, int& out) {
  if (pos + digits > s.size()) return false;
  auto [end, ec] = std::from_chars(s.data() + pos, s.data() + pos + digits, out);
  if (ec != std::errc() || end != s.data() + pos + digits) return false;
  pos += digits;
  return true;
}

bool expect(std::string_view s, size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

void add_feedback_db_option(CLI::App& command, std::string& db) {
  command.add_option("--db", db, "Feedback database: a SQLite file, or postgresql://user:password@host:port/db")
      ->type_name("URL")
      ->capture_default_str();
}

std::string format_utc(int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%d %H:%M:%S", &tm);
  return buffer;
}

Result<int64_t> parse_time(std::string_view s, std::string_view flag) {
  auto bad = [&] {
    return Status::invalid_argument(std::string(flag) + " must be a date (YYYY-MM-DD) or an ISO 8601 time " +
                                    "(YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]), got '" + std::string(s) + "'");
  };
  size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, millis = 0;
  if (!read_int(s, pos, 4, year) || !expect(s, pos, '-') || !read_int(s, pos, 2, month) || !expect(s, pos, '-') ||
      !read_int(s, pos, 2, day))
    return bad();
  int offset_minutes = 0;
  if (pos < s.size()) {
    if (s[pos] != 'T' && s[pos] != ' ') return bad();
    ++pos;
    if (!read_int(s, pos, 2, hour) || !expect(s, pos, ':') || !read_int(s, pos, 2, minute)) return bad();
    if (pos < s.size() && s[pos] == ':' && (++pos, !read_int(s, pos, 2, second))) return bad();
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      size_t start = pos;
      int value = 0;
      while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])) && pos - start < 3)
        value = value * 10 + (s[pos++] - '0');
      for (size_t n = pos - start; n < 3; ++n) value *= 10;
      while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;  // finer than ms
      if (pos == start) return bad();
      millis = value;
    }
    if (pos < s.size() && s[pos] == 'Z') {
      ++pos;
    } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
      const int sign = s[pos++] == '-' ? -1 : 1;
      int oh = 0, om = 0;
      if (!read_int(s, pos, 2, oh)) return bad();
      if (pos < s.size() && s[pos] == ':') ++pos;
      if (!read_int(s, pos, 2, om)) return bad();
      offset_minutes = sign * (oh * 60 + om);
    }
    if (pos != s.size()) return bad();
  }
  using namespace std::chrono;
  const year_month_day date{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                            std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok() || hour > 23 || minute > 59 || second > 60) return bad();
  const sys_days days(date);
  const int64_t ms = duration_cast<milliseconds>(days.time_since_epoch()).count() +
                     ((hour * 60 + minute - offset_minutes) * 60 + second) * int64_t{1000} + millis;
  return ms;
}

}  // namespace flywheel::cli
