// Test helper: the finite-difference check every backward rule gets (f64 inputs, central differences).
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace ish::test {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// An f64 tensor of uniform values in [lo, hi), deterministic in `seed`.
inline Tensor rand_d(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  Rng r(seed);
  std::vector<double> v((size_t)shape_numel(s));
  for (auto& e : v) e = r.uniform(lo, hi);
  return Tensor::from_f64(v, s);
}

// Checks d(sum(f(inputs) * R))/d(input) (R random) against central differences (h = 1e-6) for up to
// `samples` coordinates of every input.
inline void gradcheck(const std::string& name, const Fn& f, std::vector<Tensor> inputs, int samples) {
  CAPTURE(name);
  for (auto& t : inputs) t.set_requires_grad(true);
  Tensor y = f(inputs);
  Tensor R = rand_d(y.shape(), 99);
  autograd::backward(y, R);
  auto loss = [&] {
    NoGradGuard ng;
    auto a = f(inputs).to_f64_vector(), b = R.to_f64_vector();
    double s = 0;
    for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
    return s;
  };
  const double h = 1e-6;
  Rng pick(7);
  for (size_t i = 0; i < inputs.size(); i++) {
    REQUIRE_MESSAGE(inputs[i].grad().defined(), name << ": input " << i << " got no gradient");
    auto ana = inputs[i].grad().to_f64_vector();
    const int64_t n = inputs[i].numel();
    for (int s = 0; s < std::min<int64_t>(samples, n); s++) {
      const int64_t j = n <= samples ? s : (int64_t)pick.below((uint64_t)n);
      double* p = inputs[i].data<double>() + j;
      const double orig = *p;
      *p = orig + h;
      const double lp = loss();
      *p = orig - h;
      const double lm = loss();
      *p = orig;
      const double num = (lp - lm) / (2 * h);
      CHECK_MESSAGE(std::fabs(num - ana[j]) <= 1e-7 + 1e-6 * std::fabs(ana[j]),
                    name << " input " << i << " [" << j << "]: numeric " << num << " analytic " << ana[j]);
    }
  }
}

}  // namespace ish::test
