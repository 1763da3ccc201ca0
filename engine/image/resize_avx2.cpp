// AVX2 resize passes (resize_kernels.h). Exact 32-bit integer sums, as the portable loops:
//  - horizontal: four taps' RGB per 16-byte load, shuffled to RGB0 groups and widened to int32;
//    each lane group is multiplied by its tap's coefficient (replicated 4x in Coeffs::kx4);
//  - vertical: 8 output bytes at a time, accumulated over the taps in registers.
#include <atomic>

#include "engine/image/resize_kernels.h"

namespace ish::img::kern {

static std::atomic<bool> g_portable{false};
void force_portable(bool on) { g_portable = on; }

}  // namespace ish::img::kern

#if !defined(__x86_64__)
namespace ish::img::kern {
bool have_avx2() { return false; }  // other architectures use the portable loops
void hpass_avx2(const View&, int, int, const detail::Coeffs&, int, int, uint8_t*, ptrdiff_t) {}
void vpass_avx2(const uint8_t*, ptrdiff_t, int, const detail::Coeffs&, int, int, int, uint8_t*, ptrdiff_t) {}
}  // namespace ish::img::kern
#else
#include <immintrin.h>

namespace ish::img::kern {

bool have_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes && !g_portable.load(std::memory_order_relaxed);
}

__attribute__((target("avx2"))) void hpass_avx2(const View& src, int y0, int y1, const detail::Coeffs& c, int x0,
                                                int nx, uint8_t* dst, ptrdiff_t dst_stride) {
  const __m128i shuf = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
  const __m128i half = _mm_set1_epi32(kHalf);
  const int kq = c.kq;
  const int limit = src.w * 3;  // bytes a load may touch in a row
  // Output columns whose 16-byte loads stay inside the row use SIMD.
  for (int y = y0; y < y1; y++) {
    const uint8_t* s = src.row(y);
    uint8_t* d = dst + (ptrdiff_t)(y - y0) * dst_stride;
    for (int i = 0; i < nx; i++) {
      const int xx = x0 + i, jx = xx - c.begin;
      if (c.kx4.empty() || 3 * (c.xminq[jx] + kq) + 4 > limit) {
        hpixel(s, c, xx, d + 3 * i);
        continue;
      }
      const uint8_t* p = s + (ptrdiff_t)c.xminq[jx] * 3;
      const int32_t* k = &c.kx4[(size_t)jx * kq * 4];
      __m256i acc = _mm256_setzero_si256();
      for (int g = 0; g < kq; g += 4) {
        const __m128i px = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i*)(p + 3 * g)), shuf);
        const __m256i lo = _mm256_cvtepu8_epi32(px);
        const __m256i hi = _mm256_cvtepu8_epi32(_mm_srli_si128(px, 8));
        acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(lo, _mm256_loadu_si256((const __m256i*)(k + 4 * g))));
        acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(hi, _mm256_loadu_si256((const __m256i*)(k + 4 * g + 8))));
      }
      __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
      sum = _mm_srai_epi32(_mm_add_epi32(sum, half), kPrecisionBits);
      const __m128i p16 = _mm_packs_epi32(sum, sum);  // saturating packs == clamp to [0, 255]
      const uint32_t v = (uint32_t)_mm_cvtsi128_si32(_mm_packus_epi16(p16, p16));
      d[3 * i + 0] = (uint8_t)v;
      d[3 * i + 1] = (uint8_t)(v >> 8);
      d[3 * i + 2] = (uint8_t)(v >> 16);
    }
  }
}

__attribute__((target("avx2"))) void vpass_avx2(const uint8_t* in, ptrdiff_t in_stride, int in_y0,
                                                const detail::Coeffs& c, int oy0, int ny, int nvals, uint8_t* dst,
                                                ptrdiff_t dst_stride) {
  const __m256i half = _mm256_set1_epi32(kHalf);
  for (int j = 0; j < ny; j++) {
    const int yy = oy0 + j - c.begin;
    const int32_t* k = &c.k[(size_t)yy * c.ksize];
    const int n = c.n[yy];
    const uint8_t* base = in + (ptrdiff_t)(c.xmin[yy] - in_y0) * in_stride;
    uint8_t* d = dst + (ptrdiff_t)j * dst_stride;
    int i = 0;
    for (; i + 16 <= nvals; i += 16) {
      __m256i a = half, b = half;
      for (int t = 0; t < n; t++) {
        const __m128i r = _mm_loadu_si128((const __m128i*)(base + (ptrdiff_t)t * in_stride + i));
        const __m256i kt = _mm256_set1_epi32(k[t]);
        a = _mm256_add_epi32(a, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(r), kt));
        b = _mm256_add_epi32(b, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(r, 8)), kt));
      }
      a = _mm256_srai_epi32(a, kPrecisionBits);
      b = _mm256_srai_epi32(b, kPrecisionBits);
      const __m128i pa = _mm_packs_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
      const __m128i pb = _mm_packs_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
      _mm_storeu_si128((__m128i*)(d + i), _mm_packus_epi16(pa, pb));
    }
    for (; i < nvals; i++) {
      int32_t acc = kHalf;
      for (int t = 0; t < n; t++) acc += base[(ptrdiff_t)t * in_stride + i] * k[t];
      d[i] = clip8(acc);
    }
  }
}

}  // namespace ish::img::kern
#endif  // __x86_64__
