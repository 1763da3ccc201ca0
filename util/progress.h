// Progress of a long job on stderr, the one reporter every command uses (feature extraction, the
// per-image network passes of ODIN/AdaSCALE, APS searches; training and the demo can use it as well).
//  - On a TTY: one line redrawn in place at most every 0.2 s: label, a bar, done/total, rate, ETA.
//  - Off a TTY (a log file, a pipe): one plain line every few seconds, "label: done/total unit (p%),
//    rate unit/s, ETA m:ss", and a closing line "label: done/total unit in m:ss, rate" once any line
//    was printed, so short jobs stay quiet.
// ISHSCALE_PROGRESS=off silences it; ISHSCALE_PROGRESS=S (seconds, a number >= 0) sets the interval of the
// off-TTY lines (default 5; 0: a line per update).
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace ish::util {

struct ProgressOptions {
  std::string unit = "img";  // what is counted ("img", "points", "steps")
  bool on = true;            // false: print nothing (status() still works)
  int tty = -1;              // -1: isatty(out); 0/1 force the line or the bar mode
  double every = -1;         // seconds between off-TTY lines; < 0: ISHSCALE_PROGRESS, else 5
  FILE* out = nullptr;       // nullptr: stderr
};

class Progress {
 public:
  // total <= 0: unknown (no bar, no percentage, no ETA).
  Progress(std::string label, int64_t total, ProgressOptions opt = {});
  ~Progress();  // ends a bar line left open
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` items so far (absolute); `extra` is appended to the line (e.g. "loss 2.31").
  void update(int64_t done, const std::string& extra = "");
  // The last line: the bar at its final count, or the closing line off a TTY. Called once.
  void finish(const std::string& extra = "");
  // "done/total unit, rate unit/s, ETA m:ss" at this moment, for callers that print their own lines.
  std::string status(int64_t done) const;
  double elapsed() const;

 private:
  using clock = std::chrono::steady_clock;
  void draw_bar(int64_t done, const std::string& extra, bool final);
  std::string label_;
  int64_t total_, done_ = 0;
  ProgressOptions o_;
  bool tty_ = false, printed_ = false, open_ = false, finished_ = false;
  clock::time_point t0_, last_;
};

// "m:ss" below an hour, "h:mm:ss" above; negative or non-finite as "?".
std::string format_duration(double seconds);

}  // namespace ish::util
