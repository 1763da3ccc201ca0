#include "util/axis.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ish::util {

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi) return {};
  if (lo == hi) return {lo};
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  const double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  std::vector<double> t;
  // Integer multiples of the step, so 0.1 + 0.2 style drift never reaches a label.
  for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + 1e-9 * step; k++) t.push_back(k == 0 ? 0.0 : k * step);
  return t;
}

std::vector<std::string> tick_labels(const std::vector<double>& ticks) {
  double top = 0;
  for (double v : ticks) top = std::max(top, std::fabs(v));
  int e = 0;
  if (top > 0 && (top >= 1e4 || top < 1e-2)) e = 3 * (int)std::floor(std::log10(top) / 3);
  const double scale = std::pow(10.0, -e);
  // Decimals: enough to tell neighbouring ticks apart (the step's first significant digit).
  // A lone tick keeps three significant digits.
  int dec = 0;
  const double step = ticks.size() >= 2 ? std::fabs(ticks[1] - ticks[0]) * scale : top * scale / 100;
  if (step > 0) dec = std::clamp(-(int)std::floor(std::log10(step) + 1e-9), 0, 12);
  std::vector<std::string> out;
  for (double v : ticks) {
    const double m = v * scale;
    char b[64];
    if (std::fabs(m) < 0.5 * std::pow(10.0, -dec)) {
      out.push_back("0");
      continue;
    }
    std::snprintf(b, sizeof b, "%.*f", dec, m);
    out.push_back(e ? std::string(b) + "e" + std::to_string(e) : std::string(b));
  }
  return out;
}

}  // namespace ish::util
