// Internal: the resize passes, a portable version and an AVX2 one (chosen at run time). Both compute
// the same integer sums, so they give identical bytes.
#pragma once
#include "engine/image/resize.h"

namespace ish::img::kern {

constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's PRECISION_BITS
constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);

// Arithmetic shift then clamp: the same as PIL's clip8 lookup table.
inline uint8_t clip8(int32_t v) {
  v >>= kPrecisionBits;
  return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// One output pixel of the horizontal pass with the exact (unpadded) taps.
inline void hpixel(const uint8_t* s, const detail::Coeffs& c, int xx, uint8_t* d) {
  const int j = xx - c.begin;
  const int32_t* k = &c.k[(size_t)j * c.ksize];
  const uint8_t* p = s + (ptrdiff_t)c.xmin[j] * 3;
  int32_t a0 = kHalf, a1 = kHalf, a2 = kHalf;
  for (int t = 0; t < c.n[j]; t++) {
    a0 += p[3 * t + 0] * k[t];
    a1 += p[3 * t + 1] * k[t];
    a2 += p[3 * t + 2] * k[t];
  }
  d[0] = clip8(a0);
  d[1] = clip8(a1);
  d[2] = clip8(a2);
}

// Horizontal pass over source rows [y0, y1), output columns [x0, x0+nx).
void hpass_avx2(const View& src, int y0, int y1, const detail::Coeffs& c, int x0, int nx, uint8_t* dst,
                ptrdiff_t dst_stride);
// Vertical pass: output rows [oy0, oy0+ny); `in` row r holds source row in_y0 + r; nvals bytes per row.
void vpass_avx2(const uint8_t* in, ptrdiff_t in_stride, int in_y0, const detail::Coeffs& c, int oy0, int ny,
                int nvals, uint8_t* dst, ptrdiff_t dst_stride);
bool have_avx2();  // and not forced off by force_portable

}  // namespace ish::img::kern
