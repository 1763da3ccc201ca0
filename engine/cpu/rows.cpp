// CPU kernels over the last dim of x [N,D] (the softmax family), accumulating in double.
#include <algorithm>
#include <cmath>

#include "engine/cpu/cpu_ops.h"

namespace ish::cpu {

template <class T> void row_sum(int64_t N, int64_t D, const T* x, T* y) {
  for (int64_t n = 0; n < N; n++) {
    double acc = 0;
    for (int64_t d = 0; d < D; d++) acc += x[n * D + d];
    y[n] = (T)acc;
  }
}
template <class T> void row_broadcast(int64_t N, int64_t D, const T* g, T* dx) {
  for (int64_t n = 0; n < N; n++)
    for (int64_t d = 0; d < D; d++) dx[n * D + d] = g[n];
}
template <class T> void row_argmax(int64_t N, int64_t D, const T* x, int64_t* idx) {
  for (int64_t n = 0; n < N; n++) {
    const T* r = x + n * D;
    int64_t best = 0;
    for (int64_t d = 1; d < D; d++)
      if (r[d] > r[best] || (std::isnan(r[d]) && !std::isnan(r[best]))) best = d;
    idx[n] = best;
  }
}
template <class T> void row_gather(int64_t N, int64_t D, const T* x, const int64_t* idx, T* y) {
  for (int64_t n = 0; n < N; n++) y[n] = x[n * D + idx[n]];
}
template <class T> void row_scatter(int64_t N, int64_t D, const T* g, const int64_t* idx, T* dx) {
  std::fill(dx, dx + N * D, T(0));
  for (int64_t n = 0; n < N; n++) dx[n * D + idx[n]] = g[n];
}
template <class T> void row_logsumexp(int64_t N, int64_t D, const T* x, T* y) {
  for (int64_t n = 0; n < N; n++) {
    const T* r = x + n * D;
    double mx = -INFINITY, se = 0;
    for (int64_t d = 0; d < D; d++) mx = std::max(mx, (double)r[d]);
    if (std::isinf(mx)) { y[n] = (T)mx; continue; }  // all -inf (or +inf) rows
    for (int64_t d = 0; d < D; d++) se += std::exp(r[d] - mx);
    y[n] = (T)(mx + std::log(se));
  }
}
template <class T> void row_logsumexp_bwd(int64_t N, int64_t D, const T* g, const T* x, const T* y, T* dx) {
  for (int64_t n = 0; n < N; n++)
    for (int64_t d = 0; d < D; d++) dx[n * D + d] = (T)(g[n] * std::exp((double)x[n * D + d] - y[n]));
}
template <class T> void log_softmax(int64_t N, int64_t D, const T* x, T* y) {
  for (int64_t n = 0; n < N; n++) {
    const T* r = x + n * D;
    double mx = -INFINITY, se = 0;
    for (int64_t d = 0; d < D; d++) mx = std::max(mx, (double)r[d]);
    for (int64_t d = 0; d < D; d++) se += std::exp(r[d] - mx);
    const double lse = mx + std::log(se);
    for (int64_t d = 0; d < D; d++) y[n * D + d] = (T)(r[d] - lse);
  }
}
template <class T> void log_softmax_bwd(int64_t N, int64_t D, const T* g, const T* y, T* dx) {
  for (int64_t n = 0; n < N; n++) {
    double gs = 0;
    for (int64_t d = 0; d < D; d++) gs += g[n * D + d];
    for (int64_t d = 0; d < D; d++) dx[n * D + d] = (T)(g[n * D + d] - std::exp((double)y[n * D + d]) * gs);
  }
}
template <class T> void softmax_bwd(int64_t N, int64_t D, const T* g, const T* y, T* dx) {
  for (int64_t n = 0; n < N; n++) {
    double dot = 0;
    for (int64_t d = 0; d < D; d++) dot += (double)g[n * D + d] * y[n * D + d];
    for (int64_t d = 0; d < D; d++) dx[n * D + d] = (T)(y[n * D + d] * (g[n * D + d] - dot));
  }
}

#define ISH_ROWS_INSTANTIATE(T)                                                                   \
  template void row_sum<T>(int64_t, int64_t, const T*, T*);                                        \
  template void row_broadcast<T>(int64_t, int64_t, const T*, T*);                                  \
  template void row_argmax<T>(int64_t, int64_t, const T*, int64_t*);                               \
  template void row_gather<T>(int64_t, int64_t, const T*, const int64_t*, T*);                     \
  template void row_scatter<T>(int64_t, int64_t, const T*, const int64_t*, T*);                    \
  template void row_logsumexp<T>(int64_t, int64_t, const T*, T*);                                  \
  template void row_logsumexp_bwd<T>(int64_t, int64_t, const T*, const T*, const T*, T*);          \
  template void log_softmax<T>(int64_t, int64_t, const T*, T*);                                    \
  template void log_softmax_bwd<T>(int64_t, int64_t, const T*, const T*, T*);                      \
  template void softmax_bwd<T>(int64_t, int64_t, const T*, const T*, T*);
ISH_ROWS_INSTANTIATE(float)
ISH_ROWS_INSTANTIATE(double)

}  // namespace ish::cpu
