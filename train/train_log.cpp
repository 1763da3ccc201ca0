// The trainer's console output (see train_log.h).
#include "train/train_log.h"

#include <unistd.h>

#include <cmath>

namespace ish::train {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long long t = std::llround(s);
  char buf[32];
  if (t < 60) std::snprintf(buf, sizeof buf, "%llds", t);
  else if (t < 3600) std::snprintf(buf, sizeof buf, "%lldm%02llds", t / 60, t % 60);
  else if (t < 86400) std::snprintf(buf, sizeof buf, "%lldh%02lldm", t / 3600, (t % 3600) / 60);
  else std::snprintf(buf, sizeof buf, "%lldd%02lldh", t / 86400, (t % 86400) / 3600);
  return buf;
}

std::string log_line(const LogRecord& r, int64_t epochs, int64_t total_steps) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "epoch %lld/%lld step %lld/%lld loss %.4f acc %.2f%% lr %.6g %.1f img/s ETA epoch %s run %s",
                (long long)r.epoch, (long long)epochs, (long long)r.step, (long long)total_steps, r.loss, r.acc, r.lr,
                r.img_per_s, format_duration(r.eta_epoch_s).c_str(), format_duration(r.eta_run_s).c_str());
  return buf;
}

std::string progress_line(const ProgressState& s) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "train: step %lld/%lld (epoch %lld/%lld: %lld/%lld) %.1f img/s ETA epoch %s, run %s",
                (long long)s.step, (long long)s.run_steps, (long long)s.epoch, (long long)s.epochs,
                (long long)s.step_in_epoch, (long long)s.epoch_steps, s.img_per_s,
                format_duration(s.eta_epoch_s).c_str(), format_duration(s.eta_run_s).c_str());
  return buf;
}

ProgressReporter::ProgressReporter(std::FILE* out, bool tty, double every_s)
    : out_(out), tty_(tty), every_s_(tty ? 0.25 : every_s), last_(Clock::now()) {}

ProgressReporter::~ProgressReporter() {
  if (tty_ && drawn_) {  // leave the last state on screen, on its own line
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

bool ProgressReporter::due() const {
  return out_ && std::chrono::duration<double>(Clock::now() - last_).count() >= every_s_;
}

void ProgressReporter::show(const ProgressState& s) {
  if (!out_) return;
  const std::string line = progress_line(s);
  if (tty_) std::fprintf(out_, "\r\033[K%s", line.c_str());  // \033[K: erase the rest of the old line
  else std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
  drawn_ = tty_;
  last_ = Clock::now();
}

void ProgressReporter::clear() {
  if (!out_ || !tty_ || !drawn_) return;
  std::fputs("\r\033[K", out_);
  std::fflush(out_);
  drawn_ = false;
}

bool stderr_is_tty() { return isatty(fileno(stderr)) == 1; }

}  // namespace ish::train
