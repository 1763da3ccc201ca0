// Chart axes for the SVG reports: "nice" tick positions (steps of 1, 2 or 5 x 10^k) and tick labels in
// engineering notation (one exponent per axis, a multiple of 3), so a ViM score axis reads
// "-150e12 -100e12 -50e12 0" instead of fifteen-digit numbers.
#pragma once
#include <string>
#include <vector>

namespace ish::util {

// The multiples of a step in {1, 2, 5} x 10^k that lie in [lo, hi], about `target` of them. lo == hi
// gives {lo}; non-finite bounds or lo > hi give {}.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

// Labels for ticks from nice_ticks(): one shared exponent E (a multiple of 3; 0 when the largest |tick|
// is in [0.01, 10000)), mantissas with just the decimals the step needs, "e<E>" appended when E != 0.
// E.g. {-1.5e14, -1e14, -5e13, 0} -> {"-150e12", "-100e12", "-50e12", "0"}; {0, 0.2, 0.4} -> {"0", "0.2", "0.4"}.
std::vector<std::string> tick_labels(const std::vector<double>& ticks);

}  // namespace ish::util
