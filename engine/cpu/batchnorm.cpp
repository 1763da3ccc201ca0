// BatchNorm over x [M,C] with optional fused residual add and ReLU. Statistics accumulate in
// double (as PyTorch's CPU kernel does) so fp32 results match to ~1e-7. Each pass is one OpenMP
// region split by rows; per-thread partial sums are added in thread order (deterministic for a
// given thread count).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/parallel.h"

namespace ish::cpu {
namespace {

template <class T>
inline T finish(T v, const T* residual, int64_t i, bool relu) {
  if (residual) v += residual[i];
  return relu && v < T(0) ? T(0) : v;  // NaN passes through, as torch.relu
}

int threads_for(int64_t M, int64_t C) { return team_size(M * C, int64_t(1) << 15); }

// out[k*C + c] = sum over rows of what fn(m0, m1, acc) accumulates into acc [k*C] for its rows.
template <class F>
std::vector<double> reduce_rows(int64_t M, int64_t C, int k, F&& fn) {
  const int nt = threads_for(M, C);
  const size_t len = (size_t)(k * C);
  std::vector<double> part(len * (size_t)nt, 0.0);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    int64_t b, e;
    split_range(M, nt, t, 1, b, e);
    fn(b, e, part.data() + len * (size_t)t);
  }
  std::vector<double> out(part.begin(), part.begin() + (std::ptrdiff_t)len);
  for (int t = 1; t < nt; t++)
    for (size_t i = 0; i < len; i++) out[i] += part[len * (size_t)t + i];
  return out;
}

}  // namespace

template <class T>
void bn_train_fwd(int64_t M, int64_t C, const T* x, const T* gamma, const T* beta, const T* residual, bool relu,
                  double eps, double momentum, T* y, T* save_mean, T* save_invstd, T* running_mean,
                  T* running_var) {
  const std::vector<double> sum = reduce_rows(M, C, 1, [&](int64_t m0, int64_t m1, double* acc) {
    for (int64_t m = m0; m < m1; m++)
      for (int64_t c = 0; c < C; c++) acc[c] += x[m * C + c];
  });
  std::vector<double> mean((size_t)C);
  for (int64_t c = 0; c < C; c++) mean[c] = sum[c] / (double)M;
  const std::vector<double> sq = reduce_rows(M, C, 1, [&](int64_t m0, int64_t m1, double* acc) {
    for (int64_t m = m0; m < m1; m++)  // two-pass variance: no cancellation
      for (int64_t c = 0; c < C; c++) {
        const double dv = x[m * C + c] - mean[c];
        acc[c] += dv * dv;
      }
  });
  for (int64_t c = 0; c < C; c++) {
    const double var = sq[c] / (double)M;
    const double invstd = 1.0 / std::sqrt(var + eps);
    save_mean[c] = (T)mean[c];
    save_invstd[c] = (T)invstd;
    if (running_mean) running_mean[c] = (T)((1 - momentum) * running_mean[c] + momentum * mean[c]);
    if (running_var) {
      const double unbiased = M > 1 ? var * (double)M / (double)(M - 1) : var;
      running_var[c] = (T)((1 - momentum) * running_var[c] + momentum * unbiased);
    }
  }
#pragma omp parallel for schedule(static) num_threads(threads_for(M, C))
  for (int64_t m = 0; m < M; m++)
    for (int64_t c = 0; c < C; c++) {
      const int64_t i = m * C + c;
      y[i] = finish<T>((T)((x[i] - mean[c]) * (double)save_invstd[c] * gamma[c] + beta[c]), residual, i, relu);
    }
}

template <class T>
void bn_eval_fold(int64_t C, const T* gamma, const T* beta, double eps, const T* running_mean, const T* running_var,
                  T* scale, T* shift) {
  for (int64_t c = 0; c < C; c++) {  // folded, as PyTorch's CPU eval path does
    double invstd = 1.0 / std::sqrt((double)running_var[c] + eps);
    scale[c] = (T)(gamma[c] * invstd);
    shift[c] = (T)(beta[c] - running_mean[c] * gamma[c] * invstd);
  }
}

template <class T>
void bn_eval_fwd(int64_t M, int64_t C, const T* x, const T* gamma, const T* beta, const T* residual, bool relu,
                 double eps, const T* running_mean, const T* running_var, T* y) {
  std::vector<T> scale((size_t)C), shift((size_t)C);
  bn_eval_fold(C, gamma, beta, eps, running_mean, running_var, scale.data(), shift.data());
#pragma omp parallel for schedule(static) num_threads(threads_for(M, C))
  for (int64_t m = 0; m < M; m++)
    for (int64_t c = 0; c < C; c++) {
      const int64_t i = m * C + c;
      y[i] = finish<T>(x[i] * scale[c] + shift[c], residual, i, relu);
    }
}

template <class T>
void bn_bwd(int64_t M, int64_t C, bool training, const T* dy, const T* y, const T* x, const T* gamma,
            const T* mean, const T* invstd, T* dx, T* dgamma, T* dbeta, T* dresidual) {
  // g: the gradient reaching the BN output, dy masked by the ReLU (y > 0); also the residual's grad.
  // It is recomputed where needed instead of stored.
  const std::vector<double> s = reduce_rows(M, C, 2, [&](int64_t m0, int64_t m1, double* acc) {
    double* sdy = acc;
    double* sdyx = acc + C;
    for (int64_t m = m0; m < m1; m++)
      for (int64_t c = 0; c < C; c++) {
        const int64_t i = m * C + c;
        const T g = y && !(y[i] > T(0)) ? T(0) : dy[i];
        if (dresidual) dresidual[i] = g;
        sdy[c] += g;
        sdyx[c] += g * ((double)x[i] - mean[c]);
      }
  });
  const double* sdy = s.data();
  const double* sdyx = s.data() + C;
  for (int64_t c = 0; c < C; c++) {
    if (dgamma) dgamma[c] = (T)(sdyx[c] * invstd[c]);
    if (dbeta) dbeta[c] = (T)sdy[c];
  }
  if (!dx) return;
  // Per-channel factors in double, once: dx = a * (g - b - (x - mean) * e) (training) or a * g.
  std::vector<double> fa((size_t)C), fb((size_t)C), fe((size_t)C), fm((size_t)C);
  for (int64_t c = 0; c < C; c++) {
    const double is = invstd[c];
    fa[c] = gamma[c] * is;
    fb[c] = sdy[c] / (double)M;
    fe[c] = is * sdyx[c] * is / (double)M;  // mean(dy * xhat) * invstd
    fm[c] = mean[c];
  }
#pragma omp parallel for schedule(static) num_threads(threads_for(M, C))
  for (int64_t m = 0; m < M; m++)
    for (int64_t c = 0; c < C; c++) {
      const int64_t i = m * C + c;
      const T g = y && !(y[i] > T(0)) ? T(0) : dy[i];
      if (training) dx[i] = (T)(fa[c] * ((double)g - fb[c] - ((double)x[i] - fm[c]) * fe[c]));
      else dx[i] = (T)(g * fa[c]);
    }
}

#define INST(T)                                                                                                    \
  template void bn_train_fwd<T>(int64_t, int64_t, const T*, const T*, const T*, const T*, bool, double, double, T*, \
                                T*, T*, T*, T*);                                                                   \
  template void bn_eval_fold<T>(int64_t, const T*, const T*, double, const T*, const T*, T*, T*);              \
  template void bn_eval_fwd<T>(int64_t, int64_t, const T*, const T*, const T*, const T*, bool, double, const T*,    \
                               const T*, T*);                                                                      \
  template void bn_bwd<T>(int64_t, int64_t, bool, const T*, const T*, const T*, const T*, const T*, const T*, T*,   \
                          T*, T*, T*);
INST(float)
INST(double)
#undef INST

}  // namespace ish::cpu
