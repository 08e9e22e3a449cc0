// A progress bar with rate and ETA on stderr, drawn only when stderr is a
// terminal (quiet otherwise, so logs and CI output stay clean).
//
// Thread-safety: advance() and set() may be called from many threads; drawing
// is throttled (at most ~10 redraws a second).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace flywheel {

class ProgressBar {
 public:
  // `total` 0 means unknown (shows count and rate, no ETA). `unit` names what
  // is counted ("B" is shown as KB/MB/GB, anything else as a plain count).
  ProgressBar(std::string label, uint64_t total, std::string unit = "");
  ~ProgressBar();  // calls finish()

  void advance(uint64_t delta = 1);
  void set(uint64_t done);
  void set_total(uint64_t total);
  // Draws the final state and ends the line (once).
  void finish();

  // False when stderr is not a terminal or FLYWHEEL_NO_PROGRESS is set.
  bool enabled() const;

  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace flywheel
