// CPU kernel of the fused attention softmax (engine/cpu/transformer.h): y = softmax(x*scale + bias[h] +
// mask[b mod nW]) over the last dim. fp32 runs in float with the vectorisable exp_f (engine/cpu/vec_math.h)
// and sums the row in double (eight interleaved partial sums, added in a fixed order); fp64 is the plain
// double reference. Rows are split statically across threads: the result does not depend on the count.
#include <algorithm>
#include <cmath>

#include "engine/cpu/parallel.h"
#include "engine/cpu/transformer.h"
#include "engine/cpu/vec_math.h"

namespace ish::cpu {
namespace {

// One row of n: z = x*scale (+ bias) (+ mask) into y, then y = e^(z - max z) / sum.
ISH_VEC_CLONES void attn_softmax_row_f32(int64_t n, const float* x, float scale, const float* bias,
                                         const float* mask, float* y) {
  for (int64_t j = 0; j < n; j++) y[j] = x[j] * scale;
  if (bias)
    for (int64_t j = 0; j < n; j++) y[j] += bias[j];
  if (mask)
    for (int64_t j = 0; j < n; j++) y[j] += mask[j];
  constexpr int L = 8;
  const int64_t nv = n / L * L;
  float m8[L];
  for (int k = 0; k < L; k++) m8[k] = -INFINITY;
  for (int64_t j = 0; j < nv; j += L)
    for (int k = 0; k < L; k++) m8[k] = y[j + k] > m8[k] ? y[j + k] : m8[k];
  float mx = -INFINITY;
  for (int k = 0; k < L; k++) mx = m8[k] > mx ? m8[k] : mx;
  for (int64_t j = nv; j < n; j++) mx = y[j] > mx ? y[j] : mx;
  for (int64_t j = 0; j < n; j++) y[j] = exp_f(y[j] - mx);
  double s8[L] = {};
  for (int64_t j = 0; j < nv; j += L)
    for (int k = 0; k < L; k++) s8[k] += (double)y[j + k];
  double s = 0;
  for (int k = 0; k < L; k++) s += s8[k];
  for (int64_t j = nv; j < n; j++) s += (double)y[j];
  const float inv = (float)(1.0 / s);
  for (int64_t j = 0; j < n; j++) y[j] *= inv;
}

void attn_softmax_row(int64_t n, const float* x, double scale, const float* bias, const float* mask, float* y) {
  attn_softmax_row_f32(n, x, (float)scale, bias, mask, y);
}
void attn_softmax_row(int64_t n, const double* x, double scale, const double* bias, const double* mask, double* y) {
  for (int64_t j = 0; j < n; j++) y[j] = x[j] * scale + (bias ? bias[j] : 0.0) + (mask ? mask[j] : 0.0);
  double mx = -INFINITY, s = 0;
  for (int64_t j = 0; j < n; j++) mx = std::max(mx, y[j]);
  for (int64_t j = 0; j < n; j++) s += (y[j] = std::exp(y[j] - mx));
  for (int64_t j = 0; j < n; j++) y[j] /= s;
}

}  // namespace

template <class T>
void attn_softmax(int64_t B, int64_t H, int64_t Nq, int64_t Nk, const T* x, double scale, const T* bias,
                  const T* mask, int64_t nW, T* y) {
  const int64_t rows = B * H * Nq;
#pragma omp parallel for schedule(static) if (rows * Nk > 65536)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t q = r % Nq, h = (r / Nq) % H, b = r / (Nq * H);
    attn_softmax_row(Nk, x + r * Nk, scale, bias ? bias + (h * Nq + q) * Nk : nullptr,
                     mask ? mask + ((b % nW) * Nq + q) * Nk : nullptr, y + r * Nk);
  }
}

template void attn_softmax<float>(int64_t, int64_t, int64_t, int64_t, const float*, double, const float*,
                                  const float*, int64_t, float*);
template void attn_softmax<double>(int64_t, int64_t, int64_t, int64_t, const double*, double, const double*,
                                   const double*, int64_t, double*);

}  // namespace ish::cpu
