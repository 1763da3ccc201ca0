// Max pool, global average pool and softmax cross-entropy.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/parallel.h"

namespace ish::cpu {

// Vectorised over channels: each output pixel keeps a running max and argmax per channel. The first
// maximum wins, and the first NaN wins and sticks (torch's rule), so "take" is: nothing taken yet,
// or (best is not NaN and (v > best or v is NaN)).
template <class T>
void maxpool_fwd(const PoolDims& d, const T* x, T* y, int64_t* idx) {
#pragma omp parallel for collapse(2) schedule(static) num_threads(team_size(d.N * d.P, 1))
  for (int64_t n = 0; n < d.N; n++)
    for (int64_t p = 0; p < d.P; p++)
      for (int64_t q = 0; q < d.Q; q++) {
        const int64_t o = ((n * d.P + p) * d.Q + q) * d.C;
        T* best = y + o;
        int64_t* bi = idx + o;
        for (int64_t c = 0; c < d.C; c++) best[c] = -std::numeric_limits<T>::infinity(), bi[c] = -1;
        for (int64_t r = 0; r < d.kh; r++) {
          const int64_t h = p * d.sh - d.ph + r * d.dh;
          if (h < 0 || h >= d.H) continue;
          for (int64_t s = 0; s < d.kw; s++) {
            const int64_t w = q * d.sw - d.pw + s * d.dw;
            if (w < 0 || w >= d.W) continue;
            const T* v = x + ((n * d.H + h) * d.W + w) * d.C;
            const int64_t at = h * d.W + w;
            for (int64_t c = 0; c < d.C; c++) {
              const bool take = bi[c] < 0 || (best[c] == best[c] && (v[c] > best[c] || v[c] != v[c]));
              best[c] = take ? v[c] : best[c];
              bi[c] = take ? at : bi[c];
            }
          }
        }
      }
}

template <class T>
void maxpool_bwd(const PoolDims& d, const T* dy, const int64_t* idx, T* dx) {
  std::fill(dx, dx + d.N * d.H * d.W * d.C, T(0));
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < d.N; n++)  // each image scatters into its own slice: no race
    for (int64_t pq = 0; pq < d.P * d.Q; pq++)
      for (int64_t c = 0; c < d.C; c++) {
        const int64_t o = (n * d.P * d.Q + pq) * d.C + c;
        if (idx[o] >= 0) dx[(n * d.H * d.W + idx[o]) * d.C + c] += dy[o];
      }
}

template <class T>
void gap_fwd(int64_t N, int64_t HW, int64_t C, const T* x, T* y) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; n++) {
    std::vector<double> acc((size_t)C, 0.0);
    for (int64_t i = 0; i < HW; i++)
      for (int64_t c = 0; c < C; c++) acc[c] += x[(n * HW + i) * C + c];
    for (int64_t c = 0; c < C; c++) y[n * C + c] = (T)(acc[c] / (double)HW);
  }
}

template <class T>
void gap_bwd(int64_t N, int64_t HW, int64_t C, const T* dy, T* dx) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; n++)
    for (int64_t i = 0; i < HW; i++)
      for (int64_t c = 0; c < C; c++) dx[(n * HW + i) * C + c] = dy[n * C + c] / (T)HW;
}

template <class T>
T cross_entropy_fwd(int64_t N, int64_t C, const T* logits, const int64_t* labels, double smoothing, T* probs) {
  double total = 0;
  for (int64_t n = 0; n < N; n++) {
    const T* z = logits + n * C;
    double mx = -INFINITY;
    for (int64_t c = 0; c < C; c++) mx = std::max(mx, (double)z[c]);
    double se = 0;
    for (int64_t c = 0; c < C; c++) se += std::exp((double)z[c] - mx);
    const double lse = mx + std::log(se);
    double sum_nll = 0;  // sum over classes of -log p_c, for smoothing
    for (int64_t c = 0; c < C; c++) {
      probs[n * C + c] = (T)std::exp((double)z[c] - lse);
      sum_nll += lse - z[c];
    }
    const double nll = lse - z[labels[n]];
    total += (1 - smoothing) * nll + smoothing * sum_nll / (double)C;
  }
  return (T)(total / (double)N);
}

template <class T>
void cross_entropy_bwd(int64_t N, int64_t C, const T* probs, const int64_t* labels, double smoothing, T gout,
                       T* dlogits) {
  const double s = (double)gout / (double)N;
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++) {
      const double target = (c == labels[n] ? 1 - smoothing : 0) + smoothing / (double)C;
      dlogits[n * C + c] = (T)(s * (probs[n * C + c] - target));
    }
}

#define INST(T)                                                                                      \
  template void maxpool_fwd<T>(const PoolDims&, const T*, T*, int64_t*);                             \
  template void maxpool_bwd<T>(const PoolDims&, const T*, const int64_t*, T*);                       \
  template void gap_fwd<T>(int64_t, int64_t, int64_t, const T*, T*);                                 \
  template void gap_bwd<T>(int64_t, int64_t, int64_t, const T*, T*);                                 \
  template T cross_entropy_fwd<T>(int64_t, int64_t, const T*, const int64_t*, double, T*);           \
  template void cross_entropy_bwd<T>(int64_t, int64_t, const T*, const int64_t*, double, T, T*);
INST(float)
INST(double)
#undef INST

}  // namespace ish::cpu
