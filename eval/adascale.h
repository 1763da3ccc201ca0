// AdaSCALE-A / AdaSCALE-L (METHOD-DETECTORS-2.md): per image, the gradient g of the max logit w.r.t. the
// normalised input, a perturbation x' = x + eps sign(g) on the 5% (o) entries with the smallest |g|, a
// second forward giving f', the shift score Q', its ECDF percentile on ID val, and a SCALE-like factor
// at that per-sample percentile. The pieces after f' are plain functions here, so that tests (and users
// holding the saved intermediates) can recompute them exactly.
#pragma once
#include <cstdint>
#include <vector>

#include "eval/detectors.h"

namespace ish::eval::adascale {

// The perturbed input of one sample: x' = x + eps sign(g) on the n_mask entries with the smallest |g|
// (torch.sign: a zero gradient does not move). `n` entries; writes xp.
void perturb(const float* x, const float* g, int64_t n, int64_t n_mask, float eps, float* xp);
// n_pix = int(n * o), truncated.
int64_t mask_count(int64_t n, double o);

// Q' = sum_{i in top-k1'(f)} relu(f'_i) + lmbda sum_{i in top-k2'(f)} |f_i - f'_i|, k' = int(D k / 100).
float qprime(const float* f, const float* fp, int64_t D, double k1, double k2, double lmbda);

// statsmodels ECDF (side='right') of `fit`, evaluated at t; the steps are np.linspace(1/n, 1, n).
class Ecdf {
 public:
  explicit Ecdf(std::vector<float> fit);
  double operator()(double t) const;

 private:
  std::vector<double> x_, y_;
};
// p = pmin + (1 - F(q)) (pmax - pmin), in double.
double percentile(const Ecdf& F, float q, double pmin, double pmax);

// r = sum relu(f) / sum top-k(relu(f)), k = D - round_half_even(D p / 100); NaN when the top-k sum is 0.
// AdaSCALE-A scores logsumexp(W (f e^r) + b), AdaSCALE-L logsumexp(z r^2).
double scale_ratio(const float* f, int64_t D, double p);

// The 36 (min, max) percentile pairs of OpenOOD's percentile_list, in its order.
std::vector<std::pair<double, double>> percentile_pairs();

}  // namespace ish::eval::adascale
