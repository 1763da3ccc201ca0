// BatchNorm over x [M,C] with optional fused residual add and ReLU. Statistics accumulate in
// double (as PyTorch's CPU kernel does) so fp32 results match to ~1e-7.
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/cpu/cpu_ops.h"

namespace ish::cpu {

template <class T>
static inline T finish(T v, const T* residual, int64_t i, bool relu) {
  if (residual) v += residual[i];
  return relu && v < T(0) ? T(0) : v;  // NaN passes through, as torch.relu
}

template <class T>
void bn_train_fwd(int64_t M, int64_t C, const T* x, const T* gamma, const T* beta, const T* residual, bool relu,
                  double eps, double momentum, T* y, T* save_mean, T* save_invstd, T* running_mean,
                  T* running_var) {
  std::vector<double> sum((size_t)C, 0.0), sq((size_t)C, 0.0);
  for (int64_t m = 0; m < M; m++)
    for (int64_t c = 0; c < C; c++) sum[c] += x[m * C + c];
  std::vector<double> mean((size_t)C), var((size_t)C);
  for (int64_t c = 0; c < C; c++) mean[c] = sum[c] / (double)M;
  for (int64_t m = 0; m < M; m++)  // two-pass variance: no cancellation
    for (int64_t c = 0; c < C; c++) {
      double dv = x[m * C + c] - mean[c];
      sq[c] += dv * dv;
    }
  std::vector<T> scale((size_t)C), shift((size_t)C);
  for (int64_t c = 0; c < C; c++) {
    var[c] = sq[c] / (double)M;
    double invstd = 1.0 / std::sqrt(var[c] + eps);
    save_mean[c] = (T)mean[c];
    save_invstd[c] = (T)invstd;
    scale[c] = (T)(gamma[c] * invstd);
    shift[c] = (T)(beta[c] - mean[c] * gamma[c] * invstd);
    if (running_mean) running_mean[c] = (T)((1 - momentum) * running_mean[c] + momentum * mean[c]);
    if (running_var) {
      double unbiased = M > 1 ? var[c] * (double)M / (double)(M - 1) : var[c];
      running_var[c] = (T)((1 - momentum) * running_var[c] + momentum * unbiased);
    }
  }
#pragma omp parallel for schedule(static)
  for (int64_t m = 0; m < M; m++)
    for (int64_t c = 0; c < C; c++) {
      const int64_t i = m * C + c;
      y[i] = finish<T>((T)((x[i] - mean[c]) * (double)save_invstd[c] * gamma[c] + beta[c]), residual, i, relu);
    }
}

template <class T>
void bn_eval_fwd(int64_t M, int64_t C, const T* x, const T* gamma, const T* beta, const T* residual, bool relu,
                 double eps, const T* running_mean, const T* running_var, T* y) {
  std::vector<T> scale((size_t)C), shift((size_t)C);
  for (int64_t c = 0; c < C; c++) {  // folded, as PyTorch's CPU eval path does
    double invstd = 1.0 / std::sqrt((double)running_var[c] + eps);
    scale[c] = (T)(gamma[c] * invstd);
    shift[c] = (T)(beta[c] - running_mean[c] * gamma[c] * invstd);
  }
#pragma omp parallel for schedule(static)
  for (int64_t m = 0; m < M; m++)
    for (int64_t c = 0; c < C; c++) {
      const int64_t i = m * C + c;
      y[i] = finish<T>(x[i] * scale[c] + shift[c], residual, i, relu);
    }
}

template <class T>
void bn_bwd(int64_t M, int64_t C, bool training, const T* dy_in, const T* y, const T* x, const T* gamma,
            const T* mean, const T* invstd, T* dx, T* dgamma, T* dbeta, T* dresidual) {
  // The gradient reaching the BN output: dy masked by the ReLU (y > 0), also the residual's grad.
  std::vector<T> masked;
  const T* dy = dy_in;
  if (y) {
    masked.resize((size_t)(M * C));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M * C; i++) masked[i] = y[i] > T(0) ? dy_in[i] : T(0);
    dy = masked.data();
  }
  if (dresidual) std::copy(dy, dy + M * C, dresidual);
  std::vector<double> sdy((size_t)C, 0.0), sdyx((size_t)C, 0.0);
  for (int64_t m = 0; m < M; m++)
    for (int64_t c = 0; c < C; c++) {
      const int64_t i = m * C + c;
      sdy[c] += dy[i];
      sdyx[c] += dy[i] * ((double)x[i] - mean[c]);
    }
  for (int64_t c = 0; c < C; c++) {
    if (dgamma) dgamma[c] = (T)(sdyx[c] * invstd[c]);
    if (dbeta) dbeta[c] = (T)sdy[c];
  }
  if (!dx) return;
#pragma omp parallel for schedule(static)
  for (int64_t m = 0; m < M; m++)
    for (int64_t c = 0; c < C; c++) {
      const int64_t i = m * C + c;
      const double is = invstd[c];
      if (training) {
        // dx = gamma*invstd * (dy - mean(dy) - xhat * mean(dy*xhat))
        const double xhat = ((double)x[i] - mean[c]) * is;
        dx[i] = (T)(gamma[c] * is * (dy[i] - sdy[c] / M - xhat * sdyx[c] * is / M));
      } else {
        dx[i] = (T)(dy[i] * gamma[c] * is);
      }
    }
}

#define INST(T)                                                                                                    \
  template void bn_train_fwd<T>(int64_t, int64_t, const T*, const T*, const T*, const T*, bool, double, double, T*, \
                                T*, T*, T*, T*);                                                                   \
  template void bn_eval_fwd<T>(int64_t, int64_t, const T*, const T*, const T*, const T*, bool, double, const T*,    \
                               const T*, T*);                                                                      \
  template void bn_bwd<T>(int64_t, int64_t, bool, const T*, const T*, const T*, const T*, const T*, const T*, T*,   \
                          T*, T*, T*);
INST(float)
INST(double)
#undef INST

}  // namespace ish::cpu
