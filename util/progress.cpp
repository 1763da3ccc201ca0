#include "util/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace ish::util {
namespace {

// ISHSCALE_PROGRESS: "off" -> -1 (silent); a number >= 0 -> that interval; unset or unreadable -> def.
double env_every(double def) {
  const char* e = std::getenv("ISHSCALE_PROGRESS");
  if (!e || !*e) return def;
  if (!std::strcmp(e, "off") || !std::strcmp(e, "none")) return -1;
  char* end = nullptr;
  const double v = std::strtod(e, &end);
  return end && *end == 0 && std::isfinite(v) && v >= 0 ? v : def;
}

}  // namespace

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long long t = (long long)(s + 0.5);
  char b[48];
  if (t >= 3600)
    std::snprintf(b, sizeof b, "%lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(b, sizeof b, "%lld:%02lld", t / 60, t % 60);
  return b;
}

Progress::Progress(std::string label, int64_t total, ProgressOptions opt)
    : label_(std::move(label)), total_(total), o_(std::move(opt)), t0_(clock::now()), last_(t0_) {
  if (!o_.out) o_.out = stderr;
  if (o_.every < 0) o_.every = env_every(5.0);
  if (o_.every < 0) o_.on = false;  // ISHSCALE_PROGRESS=off
  tty_ = o_.tty < 0 ? isatty(fileno(o_.out)) != 0 : o_.tty != 0;
}

Progress::~Progress() {
  if (open_) std::fputc('\n', o_.out);
}

double Progress::elapsed() const { return std::chrono::duration<double>(clock::now() - t0_).count(); }

std::string Progress::status(int64_t done) const {
  const double el = elapsed(), rate = el > 0 ? (double)done / el : 0;
  char b[160];
  if (total_ > 0)
    std::snprintf(b, sizeof b, "%lld/%lld %s, %.1f %s/s, ETA %s", (long long)done, (long long)total_, o_.unit.c_str(),
                  rate, o_.unit.c_str(), rate > 0 ? format_duration((double)(total_ - done) / rate).c_str() : "?");
  else
    std::snprintf(b, sizeof b, "%lld %s, %.1f %s/s", (long long)done, o_.unit.c_str(), rate, o_.unit.c_str());
  return b;
}

void Progress::draw_bar(int64_t done, const std::string& extra, bool final) {
  const double el = elapsed(), rate = el > 0 ? (double)done / el : 0;
  std::string line = "\r" + label_ + " ";
  char b[160];
  if (total_ > 0) {
    const int W = 28;
    const int fill = (int)std::min<int64_t>(W, W * std::max<int64_t>(done, 0) / total_);
    line += "[" + std::string(fill, '#') + std::string(W - fill, '.') + "] ";
    std::snprintf(b, sizeof b, "%lld/%lld %.1f %s/s %s %s", (long long)done, (long long)total_, rate, o_.unit.c_str(),
                  final ? "in" : "ETA",
                  final ? format_duration(el).c_str()
                        : rate > 0 ? format_duration((double)(total_ - done) / rate).c_str() : "?");
  } else {
    std::snprintf(b, sizeof b, "%lld %s %.1f %s/s", (long long)done, o_.unit.c_str(), rate, o_.unit.c_str());
  }
  line += b;
  if (!extra.empty()) line += " " + extra;
  line += "  ";  // covers a longer previous line's tail
  std::fputs(line.c_str(), o_.out);
  if (final) std::fputc('\n', o_.out);
  open_ = !final;
  std::fflush(o_.out);
}

void Progress::update(int64_t done, const std::string& extra) {
  done_ = done;
  if (!o_.on || finished_) return;
  const auto now = clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  if (tty_) {
    if (since < 0.2 && open_) return;
    last_ = now;
    draw_bar(done, extra, false);
    return;
  }
  if (since < o_.every) return;
  last_ = now;
  printed_ = true;
  std::string line = label_ + ": " + status(done);
  if (total_ > 0) {
    char b[32];
    std::snprintf(b, sizeof b, " (%.0f%%)", 100.0 * (double)done / (double)total_);
    line.insert(line.find(',') == std::string::npos ? line.size() : line.find(','), b);
  }
  if (!extra.empty()) line += ", " + extra;
  std::fprintf(o_.out, "%s\n", line.c_str());
  std::fflush(o_.out);
}

void Progress::finish(const std::string& extra) {
  if (!o_.on || finished_) return;
  finished_ = true;
  if (tty_) {
    draw_bar(done_, extra, true);
    return;
  }
  if (!printed_ && elapsed() < o_.every) return;  // a short job: its callers' own lines suffice
  const double el = elapsed();
  char b[160];
  std::snprintf(b, sizeof b, "%lld%s%s %s in %s, %.1f %s/s", (long long)done_, total_ > 0 ? "/" : "",
                total_ > 0 ? std::to_string(total_).c_str() : "", o_.unit.c_str(), format_duration(el).c_str(),
                el > 0 ? (double)done_ / el : 0.0, o_.unit.c_str());
  std::fprintf(o_.out, "%s: %s%s%s\n", label_.c_str(), b, extra.empty() ? "" : ", ", extra.c_str());
  std::fflush(o_.out);
}

}  // namespace ish::util
