// Internal to engine/cpu: float exp and erf written as straight-line arithmetic (no branches, no libm
// call), so that a loop over an array of them vectorises. Used by the fp32 attention softmax and GELU,
// where one libm call per element was a tenth of a ViT's CPU time. Accuracy (checked over all of
// [-6, 6] and tiny magnitudes against double): exp_f within 2 ulp, erf_f within 3 ulp.
// Files using them are compiled with -fno-trapping-math (Makefile): otherwise GCC keeps the selects as
// branches and does not vectorise. ISH_VEC_CLONES marks a kernel to be compiled twice, for x86-64-v3
// (AVX2 + FMA) and the baseline, the loader picking one per machine; put it on the row kernels, not on
// OpenMP regions (whose outlined bodies do not inherit it).
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define ISH_VEC_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define ISH_VEC_CLONES
#endif

namespace ish::cpu {

// e^x: x = k ln2 + r with |r| <= ln2/2 (ln2 split in two so k*ln2_hi is exact), e^r by its Taylor
// polynomial to r^7 (truncation 5e-9 relative), times 2^k built in the exponent bits. 0 below
// -87.3 (where e^x leaves the normal range), NaN stays NaN; the callers never pass x > 0 by much.
inline float exp_f(float x) {
  const float lo = -87.3f, hi = 88.0f;
  float xc = x >= lo ? x : lo;  // NaN takes lo too (x is returned below): no NaN reaches the int conversion
  xc = xc > hi ? hi : xc;
  const float log2e = 1.44269504f, ln2_hi = 0.693145751953125f, ln2_lo = 1.42860677e-6f;
  const float magic = 12582912.f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  const float k = (xc * log2e + magic) - magic;
  const float r = (xc - k * ln2_hi) - k * ln2_lo;
  float p = 1.f / 5040;
  p = p * r + 1.f / 720;
  p = p * r + 1.f / 120;
  p = p * r + 1.f / 24;
  p = p * r + 1.f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const int32_t bits = ((int32_t)k + 127) << 23;
  float two_k;
  std::memcpy(&two_k, &bits, sizeof two_k);
  const float e = p * two_k;
  return x != x ? x : (x < lo ? 0.f : e);
}

// erf(x): for |x| < 0.875 its Taylor series x * sum_n c_n x^(2n), n <= 9 (truncation 2e-8 relative);
// up to 3.9, 1 - e^(-x^2) R(x) with R a degree-13 fit of erfc(a) e^(a^2) around 2.375 (relative error
// 6e-9; tools/fit_erfc_poly.py prints the coefficients); beyond, 1 (erfc < 2^-25). Odd in x.
inline float erf_f(float x) {
  const float a = x < 0 ? -x : x, z = a * a;
  // Taylor: 2/sqrt(pi) * (-1)^n / (n! (2n+1)), n = 9 down to 0
  float s = -1.63658441e-7f;
  s = s * z + 1.64621144e-6f;
  s = s * z + -1.49256502e-5f;
  s = s * z + 1.20553326e-4f;
  s = s * z + -8.54832702e-4f;
  s = s * z + 5.22397785e-3f;
  s = s * z + -2.68661715e-2f;
  s = s * z + 1.12837918e-1f;
  s = s * z + -3.76126379e-1f;
  s = s * z + 1.12837923f;
  const float small = a * s;
  // The erfc fit in u = a - 2.375, degree 13 down to 0.
  const float u = a - 2.375f;
  float r = -3.41765762e-8f;
  r = r * u + 1.57592481e-7f;
  r = r * u + -3.80467583e-7f;
  r = r * u + 1.35634502e-6f;
  r = r * u + -5.83069868e-6f;
  r = r * u + 2.18373425e-5f;
  r = r * u + -7.75199878e-5f;
  r = r * u + 2.70059070e-4f;
  r = r * u + -9.13019874e-4f;
  r = r * u + 2.97937472e-3f;
  r = r * u + -9.35849734e-3f;
  r = r * u + 2.81850006e-2f;
  r = r * u + -8.09771270e-2f;
  r = r * u + 2.20505700e-1f;
  const float mid = 1.f - exp_f(-z) * r;
  const float e = a < 0.875f ? small : (a < 3.9f ? mid : 1.f);
  return x != x ? x : (x < 0 ? -e : e);
}

}  // namespace ish::cpu
