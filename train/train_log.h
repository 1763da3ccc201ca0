// The trainer's console output (train/trainer.h), kept apart from the loop:
//  - one stdout line per logging interval: mean loss and top-1 over the interval's samples (read
//    from the device once per interval), lr, img/s and the ETAs of the epoch and of the run;
//  - progress on stderr from host-side counts only (it never waits for the device): on a TTY one
//    line redrawn in place, otherwise a new line every few seconds (done/total steps, img/s, ETA).
// ETAs are the remaining optimizer steps times the mean duration of the steps run so far by this
// process (validation and checkpoint writes are not counted).
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace ish::train {

// "45s", "3m05s", "2h07m", "3d04h"; "?" for a negative or non-finite time.
std::string format_duration(double seconds);

// What a logging interval reports (Trainer::last_log()).
struct LogRecord {
  int64_t step = 0;     // optimizer steps done (1-based count)
  int64_t epoch = 0;    // 1-based epoch of that step
  int64_t samples = 0;  // samples in the interval
  double loss = 0;      // mean loss over the interval's samples
  double acc = 0;       // top-1 over them, percent
  double lr = 0, img_per_s = 0;
  double eta_epoch_s = -1, eta_run_s = -1;  // -1: unknown
};
std::string log_line(const LogRecord& r, int64_t epochs, int64_t total_steps);

// Where the run is, for the progress line; all host-side.
struct ProgressState {
  int64_t step = 0, run_steps = 0;              // done / to do in this run (with --steps: its bound)
  int64_t epoch = 0, epochs = 0;                // 1-based current epoch / epochs
  int64_t step_in_epoch = 0, epoch_steps = 0;   // done / steps per epoch
  double img_per_s = 0, eta_epoch_s = -1, eta_run_s = -1;
};
std::string progress_line(const ProgressState& s);

// Writes progress_line() to `out`: on a TTY redrawn in place at most every 0.25 s, otherwise a new
// line at most every `every_s` seconds. Disabled when out is null.
class ProgressReporter {
 public:
  using Clock = std::chrono::steady_clock;
  ProgressReporter(std::FILE* out, bool tty, double every_s = 5.0);
  ~ProgressReporter();
  // True when a line is due now (the caller then computes the state and calls show()).
  bool due() const;
  void show(const ProgressState& s);
  // Erases the TTY line (before another line goes to the terminal); no-op off a TTY.
  void clear();

 private:
  std::FILE* out_;
  bool tty_, drawn_ = false;
  double every_s_;
  Clock::time_point last_;
};

// True when stderr is a terminal.
bool stderr_is_tty();

}  // namespace ish::train
