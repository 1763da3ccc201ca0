// CPU kernels for training and input: ISH shaping, the SGD update, uint8 normalisation.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "engine/cpu/cpu_ops.h"
#include "engine/error.h"

namespace ish::cpu {

template <class T>
void ish_shape(int64_t N, int64_t D, int64_t k, ops::IshStrategy s, const T* x, T* out) {
  ISH_ASSERT(k >= 1 && k <= D, "k=", k, " D=", D);
  std::vector<int64_t> idx(D);
  for (int64_t r = 0; r < N; r++) {
    const T* xr = x + r * D;
    T* o = out + r * D;
    bool finite = true;
    double s1 = 0;
    for (int64_t j = 0; j < D; j++) {
      s1 += (double)xr[j];
      finite = finite && std::isfinite((double)xr[j]);
    }
    if (!finite) {  // the loss is non-finite too; keep the poison visible
      std::fill(o, o + D, (T)NAN);
      continue;
    }
    std::iota(idx.begin(), idx.end(), 0);
    // Strict total order: larger |x| first, then lower index; the kept set is unique.
    auto before = [&](int64_t a, int64_t b) {
      T fa = std::abs(xr[a]), fb = std::abs(xr[b]);
      return fa > fb || (fa == fb && a < b);
    };
    std::nth_element(idx.begin(), idx.begin() + (k - 1), idx.end(), before);
    double s2 = 0;
    for (int64_t i = 0; i < k; i++) s2 += (double)std::abs(xr[idx[i]]);
    std::fill(o, o + D, (T)0);
    if (s2 == 0) continue;  // all-zero row: defined as x~ = 0 (the reference gives NaN)
    double scale = s1 / s2;
    if (s == ops::IshStrategy::ExpScale) {
      T f = (T)std::exp(scale);
      for (int64_t j = 0; j < D; j++) o[j] = xr[j] * f;
      continue;
    }
    T f = s == ops::IshStrategy::MinkSampleExpScale ? (T)std::exp(scale) : (T)scale;
    for (int64_t i = 0; i < k; i++) o[idx[i]] = std::abs(xr[idx[i]]) * f;
  }
}
template void ish_shape<float>(int64_t, int64_t, int64_t, ops::IshStrategy, const float*, float*);
template void ish_shape<double>(int64_t, int64_t, int64_t, ops::IshStrategy, const double*, double*);

template <class T>
void sgd_update(int64_t n, T* p, const T* g, T* buf, double weight_decay, const ops::SgdHyper& h, bool first) {
  const T wd = (T)weight_decay, m = (T)h.momentum, damp1 = (T)(1.0 - h.dampening), alr = (T)h.lr;
  for (int64_t i = 0; i < n; i++) {
    T d = g[i];
    if (weight_decay != 0) d = d + wd * p[i];
    if (h.momentum != 0) {
      T b = first ? d : buf[i] * m + damp1 * d;
      buf[i] = b;
      d = h.nesterov ? d + m * b : b;
    }
    p[i] = p[i] - alr * d;
  }
}
template void sgd_update<float>(int64_t, float*, const float*, float*, double, const ops::SgdHyper&, bool);
template void sgd_update<double>(int64_t, double*, const double*, double*, double, const ops::SgdHyper&, bool);

template <class T>
void train_stats(int64_t n, const T* loss, const int64_t* pred, const int64_t* labels, int64_t step, double* stats) {
  int64_t correct = 0;
  for (int64_t i = 0; i < n; i++) correct += pred[i] == labels[i];
  stats[ops::kCorrect] += (double)correct;
  if (!loss) return;
  const double l = (double)*loss;
  stats[ops::kLossSum] += (double)n * l;
  if (!std::isfinite(l) && stats[ops::kBadStep] == 0) {
    stats[ops::kBadStep] = (double)step;
    stats[ops::kBadLoss] = l;
  }
}
template void train_stats<float>(int64_t, const float*, const int64_t*, const int64_t*, int64_t, double*);
template void train_stats<double>(int64_t, const double*, const int64_t*, const int64_t*, int64_t, double*);

void normalize_u8(int64_t n_pixels, const uint8_t* in, const float mean[3], const float std[3], float* out) {
  float lut[3][256];
  for (int c = 0; c < 3; c++) {
    ISH_CHECK(std[c] != 0.f, "normalize_u8: std[", c, "] is zero");
    for (int i = 0; i < 256; i++) {
      volatile float x = (float)i / 255.f;  // each float32 rounding step kept (no fused/contracted ops)
      volatile float y = x - mean[c];
      lut[c][i] = y / std[c];
    }
  }
#pragma omp parallel for schedule(static) if (n_pixels > 65536)
  for (int64_t p = 0; p < n_pixels; p++)
    for (int c = 0; c < 3; c++) out[p * 3 + c] = lut[c][in[p * 3 + c]];
}

}  // namespace ish::cpu
