// SIGINT/SIGTERM during a training run: the handlers only record the signal,
// and the loop checks received() after each step, saves a checkpoint and
// returns kCancelled. The previous handlers come back when the run ends.
//
// Thread-safety: one run per process (the recorded signal is global).
#pragma once

namespace flywheel::train {

class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  // The signal received since construction, or 0.
  int received() const;

  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

}  // namespace flywheel::train
