// CPU reference kernels of the transformer ops (declared in engine/cpu/transformer.h). Rows are split
// statically across threads, column reductions by column ranges: the result depends on nothing but
// the inputs (and, for the GEMMs, the thread count).
#include "engine/cpu/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/parallel.h"
#include "engine/cpu/vec_math.h"
#include "engine/error.h"

namespace ish::cpu {

template <class T>
void gemm_batched(bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
                  int64_t sA, const T* B, int64_t ldb, int64_t sB, T beta, T* C, int64_t ldc, int64_t sC) {
  const int nt = team_size(batch * M * N * std::max<int64_t>(K, 1), int64_t(2) << 20);
  if (nt <= 1 || batch < nt) {  // few large matrices: each GEMM threads itself
    for (int64_t i = 0; i < batch; i++) gemm<T>(tA, tB, M, N, K, T(1), A + i * sA, lda, B + i * sB, ldb, beta, C + i * sC, ldc);
    return;
  }
  BlasSerial serial;  // one single-threaded GEMM per matrix, the matrices split across threads
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < batch; i++) gemm<T>(tA, tB, M, N, K, T(1), A + i * sA, lda, B + i * sB, ldb, beta, C + i * sC, ldc);
}

namespace {
// One row: mean and biased variance summed in double over eight interleaved partial sums (added in a
// fixed order: deterministic, and a loop the compiler can vectorise), then the per-element affine map
// in double, rounded once.
template <class T>
inline void layer_norm_row(int64_t D, const T* r, const T* gamma, const T* beta, double eps, T* y, T* mean,
                           T* rstd) {
  constexpr int L = 8;
  const int64_t Dv = D / L * L;
  double s8[L] = {}, s = 0;
  for (int64_t d = 0; d < Dv; d += L)
    for (int k = 0; k < L; k++) s8[k] += (double)r[d + k];
  for (int k = 0; k < L; k++) s += s8[k];
  for (int64_t d = Dv; d < D; d++) s += (double)r[d];
  const double mu = s / (double)D;
  double v8[L] = {}, v = 0;
  for (int64_t d = 0; d < Dv; d += L)
    for (int k = 0; k < L; k++) v8[k] += ((double)r[d + k] - mu) * ((double)r[d + k] - mu);
  for (int k = 0; k < L; k++) v += v8[k];
  for (int64_t d = Dv; d < D; d++) v += ((double)r[d] - mu) * ((double)r[d] - mu);
  const double rs = 1.0 / std::sqrt(v / (double)D + eps);
  for (int64_t d = 0; d < D; d++) y[d] = (T)(((double)r[d] - mu) * rs * (double)gamma[d] + (double)beta[d]);
  *mean = (T)mu;
  *rstd = (T)rs;
}
ISH_VEC_CLONES void layer_norm_row_f32(int64_t D, const float* r, const float* gamma, const float* beta, double eps,
                                       float* y, float* mean, float* rstd) {
  layer_norm_row<float>(D, r, gamma, beta, eps, y, mean, rstd);
}
void layer_norm_row_t(int64_t D, const float* r, const float* g, const float* b, double eps, float* y, float* mean,
                      float* rstd) {
  layer_norm_row_f32(D, r, g, b, eps, y, mean, rstd);
}
void layer_norm_row_t(int64_t D, const double* r, const double* g, const double* b, double eps, double* y,
                      double* mean, double* rstd) {
  layer_norm_row<double>(D, r, g, b, eps, y, mean, rstd);
}
}  // namespace

template <class T>
void layer_norm_fwd(int64_t M, int64_t D, const T* x, const T* gamma, const T* beta, double eps, T* y, T* mean,
                    T* rstd) {
#pragma omp parallel for schedule(static) if (M * D > 65536)
  for (int64_t m = 0; m < M; m++) layer_norm_row_t(D, x + m * D, gamma, beta, eps, y + m * D, mean + m, rstd + m);
}

template <class T>
void layer_norm_bwd(int64_t M, int64_t D, const T* dy, const T* x, const T* gamma, const T* mean, const T* rstd,
                    T* dx, T* dgamma, T* dbeta) {
  if (dx) {
#pragma omp parallel for schedule(static) if (M * D > 65536)
    for (int64_t m = 0; m < M; m++) {
      const T *g = dy + m * D, *r = x + m * D;
      const double mu = mean[m], rs = rstd[m];
      double a = 0, b = 0;  // mean of dxhat and of dxhat * xhat
      for (int64_t d = 0; d < D; d++) {
        const double gx = (double)g[d] * gamma[d];
        a += gx;
        b += gx * ((double)r[d] - mu) * rs;
      }
      a /= (double)D;
      b /= (double)D;
      for (int64_t d = 0; d < D; d++) {
        const double xh = ((double)r[d] - mu) * rs;
        dx[m * D + d] = (T)(rs * ((double)g[d] * gamma[d] - a - xh * b));
      }
    }
  }
#pragma omp parallel for schedule(static) if (M * D > 65536)
  for (int64_t d = 0; d < D; d++) {
    double sg = 0, sb = 0;
    for (int64_t m = 0; m < M; m++) {
      const double g = dy[m * D + d];
      sg += g * ((double)x[m * D + d] - (double)mean[m]) * (double)rstd[m];
      sb += g;
    }
    dgamma[d] = (T)sg;
    dbeta[d] = (T)sb;
  }
}

// fp32 in float with the vectorised erf_f (3 ulp; engine/cpu/vec_math.h), as torch's fp32 GELU computes in
// float: one libm erf per element was a visible share of a ViT's CPU time. fp64 with std::erf.
namespace {
ISH_VEC_CLONES void gelu_run_f32(int64_t n, const float* x, float* y) {
  const float r2 = (float)M_SQRT1_2;
  for (int64_t i = 0; i < n; i++) y[i] = x[i] * 0.5f * (1.f + erf_f(x[i] * r2));
}
void gelu_run(int64_t n, const float* x, float* y) { gelu_run_f32(n, x, y); }
void gelu_run(int64_t n, const double* x, double* y) {
  for (int64_t i = 0; i < n; i++) y[i] = x[i] * 0.5 * (1.0 + std::erf(x[i] * M_SQRT1_2));
}
}  // namespace
template <class T> void gelu(int64_t n, const T* x, T* y) {
  const int64_t chunk = 16384;  // elements per task: whole vectors, enough to amortise the call
  const int64_t tasks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t t = 0; t < tasks; t++) gelu_run(std::min(chunk, n - t * chunk), x + t * chunk, y + t * chunk);
}
template <class T> void gelu_bwd(int64_t n, const T* x, const T* dy, T* dx) {
  const double inv_sqrt_2pi = 0.5 * M_2_SQRTPI * M_SQRT1_2;  // 1/sqrt(2 pi)
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    const double v = x[i];
    const double cdf = 0.5 * (1.0 + std::erf(v * M_SQRT1_2)), pdf = inv_sqrt_2pi * std::exp(-0.5 * v * v);
    dx[i] = (T)((double)dy[i] * (cdf + v * pdf));
  }
}

template <class T> void softmax(int64_t N, int64_t D, const T* x, T* y) {
#pragma omp parallel for schedule(static) if (N * D > 65536)
  for (int64_t n = 0; n < N; n++) {
    const T* r = x + n * D;
    double mx = -INFINITY, s = 0;
    for (int64_t d = 0; d < D; d++) mx = std::max(mx, (double)r[d]);
    for (int64_t d = 0; d < D; d++) s += std::exp((double)r[d] - mx);
    for (int64_t d = 0; d < D; d++) y[n * D + d] = (T)(std::exp((double)r[d] - mx) / s);
  }
}

void permute(const std::vector<int64_t>& shape, const std::vector<int>& perm, size_t elem, const void* x, void* y) {
  const int rank = (int)shape.size();
  ISH_ASSERT(rank >= 1 && rank <= 8 && (int)perm.size() == rank, "permute rank");
  int64_t in_stride[8], out_shape[8], n = 1, s = 1;
  for (int i = rank - 1; i >= 0; i--) {
    in_stride[i] = s;
    s *= shape[i];
  }
  for (int i = 0; i < rank; i++) {
    out_shape[i] = shape[perm[i]];
    n *= out_shape[i];
  }
  // Runs of contiguous elements: the output's last dim when it is also the input's last dim.
  const int64_t run = perm[rank - 1] == rank - 1 ? out_shape[rank - 1] : 1;
  const int outer_rank = run > 1 ? rank - 1 : rank;
  const int64_t runs = run > 0 ? n / run : 0;
  const size_t run_bytes = (size_t)run * elem;
  const char* src = static_cast<const char*>(x);
  char* dst = static_cast<char*>(y);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t r = 0; r < runs; r++) {
    int64_t rem = r, off = 0;
    for (int i = outer_rank - 1; i >= 0; i--) {
      const int64_t c = rem % out_shape[i];
      rem /= out_shape[i];
      off += c * in_stride[perm[i]];
    }
    std::memcpy(dst + (size_t)r * run_bytes, src + (size_t)off * elem, run_bytes);
  }
}

void copy_blocks(int64_t outer, int64_t block, size_t elem, const void* src, int64_t src_stride, void* dst,
                 int64_t dst_stride) {
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
#pragma omp parallel for schedule(static) if (outer * block > 262144)
  for (int64_t o = 0; o < outer; o++)
    std::memcpy(d + (size_t)(o * dst_stride) * elem, s + (size_t)(o * src_stride) * elem, (size_t)block * elem);
}

template <class T> void col_sum(int64_t M, int64_t N, const T* x, T* y) {
#pragma omp parallel for schedule(static) if (M * N > 65536)
  for (int64_t j = 0; j < N; j++) {
    double s = 0;
    for (int64_t m = 0; m < M; m++) s += x[m * N + j];
    y[j] = (T)s;
  }
}

template <class T> void index_select0(int64_t n, int64_t C, const T* table, const int64_t* idx, T* y) {
  for (int64_t i = 0; i < n; i++) std::memcpy(y + i * C, table + idx[i] * C, sizeof(T) * (size_t)C);
}
template <class T> void index_add0(int64_t n, int64_t R, int64_t C, const T* g, const int64_t* idx, T* dtable) {
  std::fill(dtable, dtable + R * C, T(0));
  for (int64_t i = 0; i < n; i++)
    for (int64_t c = 0; c < C; c++) dtable[idx[i] * C + c] += g[i * C + c];
}

#define ISH_TRANSFORMER_INSTANTIATE(T)                                                                          \
  template void gemm_batched<T>(bool, bool, int64_t, int64_t, int64_t, int64_t, const T*, int64_t, int64_t,    \
                                const T*, int64_t, int64_t, T, T*, int64_t, int64_t);                          \
  template void layer_norm_fwd<T>(int64_t, int64_t, const T*, const T*, const T*, double, T*, T*, T*);         \
  template void layer_norm_bwd<T>(int64_t, int64_t, const T*, const T*, const T*, const T*, const T*, T*, T*, \
                                  T*);                                                                         \
  template void gelu<T>(int64_t, const T*, T*);                                                                \
  template void gelu_bwd<T>(int64_t, const T*, const T*, T*);                                                  \
  template void softmax<T>(int64_t, int64_t, const T*, T*);                                                    \
  template void col_sum<T>(int64_t, int64_t, const T*, T*);                                                    \
  template void index_select0<T>(int64_t, int64_t, const T*, const int64_t*, T*);                              \
  template void index_add0<T>(int64_t, int64_t, int64_t, const T*, const int64_t*, T*);
ISH_TRANSFORMER_INSTANTIATE(float)
ISH_TRANSFORMER_INSTANTIATE(double)

}  // namespace ish::cpu
