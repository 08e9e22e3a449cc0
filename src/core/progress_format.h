// The text of a progress line, separate from ProgressBar so it can be tested
// without a terminal. Private to core (ProgressBar is the public face).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace flywheel::progress {

// "B" counts are shown with decimal units: 999 B, 1.5 KB, 12.3 MB, 4.00 GB.
// Any other unit is a plain count followed by the unit ("1234 files").
std::string format_amount(double amount, std::string_view unit);
// "12.3 MB/s", "850 files/s", "3.2/s" (no unit).
std::string format_rate(double per_second, std::string_view unit);
// "0:07", "12:34", "1:02:03"; "--:--" for negative or non-finite seconds.
std::string format_duration(double seconds);

struct Snapshot {
  std::string_view label;
  std::string_view unit;
  uint64_t done = 0;
  uint64_t total = 0;  // 0: unknown
  double elapsed_seconds = 0;
  bool final = false;  // the last draw: shows elapsed time instead of an ETA
};

// One line that fits `width` columns (no carriage return, no newline):
// "label [=========>          ]  45% 12.3/27.4 MB 5.1 MB/s ETA 0:03".
// Without a total: "label 12.3 MB 5.1 MB/s 0:02".
std::string format_line(const Snapshot& snapshot, int width);

}  // namespace flywheel::progress
