// PIL-exact BILINEAR and BICUBIC resampling (see resize.h for the algorithm and its rounding rules).
// The passes run the AVX2 kernels when the CPU has them (resize_avx2.cpp), else the portable loops.
#include "engine/image/resize.h"
#include "engine/image/resize_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/error.h"

namespace ish::img {
namespace {

using kern::clip8;
using kern::kHalf;
using kern::kPrecisionBits;

inline double triangle(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}
// PIL's bicubic_filter: Keys' cubic convolution with a = -0.5, in PIL's operation order.
inline double bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Horizontal pass over source rows [y0, y1), output columns [x0, x0+nx).
void hpass(const View& src, int y0, int y1, const detail::Coeffs& c, int x0, int nx, uint8_t* dst,
           ptrdiff_t dst_stride) {
  if (kern::have_avx2()) return kern::hpass_avx2(src, y0, y1, c, x0, nx, dst, dst_stride);
  for (int y = y0; y < y1; y++) {
    const uint8_t* s = src.row(y);
    uint8_t* d = dst + (ptrdiff_t)(y - y0) * dst_stride;
    for (int i = 0; i < nx; i++) kern::hpixel(s, c, x0 + i, d + 3 * i);
  }
}

// Vertical pass: output rows [oy0, oy0+ny); `in` row r holds source row in_y0 + r.
void vpass(const uint8_t* in, ptrdiff_t in_stride, int in_y0, const detail::Coeffs& c, int oy0, int ny,
           int nvals, uint8_t* dst, ptrdiff_t dst_stride) {
  if (kern::have_avx2()) return kern::vpass_avx2(in, in_stride, in_y0, c, oy0, ny, nvals, dst, dst_stride);
  thread_local std::vector<int32_t> acc_buf;
  acc_buf.resize((size_t)nvals);
  int32_t* __restrict acc = acc_buf.data();
  const int ks = c.ksize;
  for (int j = 0; j < ny; j++) {
    const int yy = oy0 + j - c.begin;
    const int32_t* k = &c.k[(size_t)yy * ks];
    const int n = c.n[yy];
    const uint8_t* base = in + (ptrdiff_t)(c.xmin[yy] - in_y0) * in_stride;
    for (int i = 0; i < nvals; i++) acc[i] = kHalf;
    for (int t = 0; t < n; t++) {
      const uint8_t* __restrict r = base + (ptrdiff_t)t * in_stride;
      const int32_t kt = k[t];
      for (int i = 0; i < nvals; i++) acc[i] += r[i] * kt;
    }
    uint8_t* __restrict d = dst + (ptrdiff_t)j * dst_stride;
    for (int i = 0; i < nvals; i++) d[i] = clip8(acc[i]);
  }
}

}  // namespace

namespace detail {
void precompute_coeffs(Coeffs& c, int in_size, float in0, float in1, int out_size, int begin, int end,
                       Interpolation f) {
  if (end < 0) end = out_size;
  ISH_ASSERT(0 <= begin && begin <= end && end <= out_size);
  if (c.in_size == in_size && c.out_size == out_size && c.in0 == in0 && c.in1 == in1 && c.begin == begin &&
      c.end == end && c.filter == f)
    return;
  const bool cubic = f == Interpolation::Bicubic;
  const int m = end - begin;
  const double scale = (double)(float)(in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = (cubic ? 2.0 : 1.0) * filterscale;  // the filters' supports: BICUBIC 2, BILINEAR 1
  const int ks = (int)std::ceil(support) * 2 + 1;
  c.ksize = ks;
  c.xmin.assign(m, 0);
  c.n.assign(m, 0);
  c.k.assign((size_t)m * ks, 0);
  std::vector<double> w(ks);
  const double ss = 1.0 / filterscale;
  for (int xx = begin; xx < end; xx++) {
    const double center = in0 + (xx + 0.5) * scale;
    int xmin = (int)(center - support + 0.5);  // C truncation, as PIL
    if (xmin < 0) xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    ISH_ASSERT(xmax <= ks, "tap count");
    double ww = 0.0;
    for (int x = 0; x < xmax; x++) {
      const double t = (x + xmin - center + 0.5) * ss;
      w[x] = cubic ? bicubic(t) : triangle(t);
      ww += w[x];
    }
    int32_t* k = &c.k[(size_t)(xx - begin) * ks];
    for (int x = 0; x < xmax; x++) {
      const double v = ww != 0.0 ? w[x] / ww : w[x];
      k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << kPrecisionBits)) : (int32_t)(0.5 + v * (1 << kPrecisionBits));
    }
    c.xmin[xx - begin] = xmin;
    c.n[xx - begin] = xmax < 0 ? 0 : xmax;
  }
  // The same taps over a window of kq = ksize rounded up to 4 inputs inside [0, in_size) (shifted left
  // at the right edge, padded with zero weights), each weight replicated 4x for the SIMD pass.
  c.kq = (ks + 3) / 4 * 4;
  c.xminq.clear();
  c.kx4.clear();
  if (in_size >= c.kq) {
    c.xminq.resize(m);
    c.kx4.assign((size_t)m * c.kq * 4, 0);
    for (int xx = 0; xx < m; xx++) {
      const int shift = std::max(0, c.xmin[xx] + c.kq - in_size);
      c.xminq[xx] = c.xmin[xx] - shift;
      for (int t = 0; t < c.n[xx]; t++)
        for (int l = 0; l < 4; l++) c.kx4[((size_t)xx * c.kq + shift + t) * 4 + l] = c.k[(size_t)xx * ks + t];
    }
  }
  c.in_size = in_size;
  c.out_size = out_size;
  c.begin = begin;
  c.end = end;
  c.in0 = in0;
  c.in1 = in1;
  c.filter = f;
}
}  // namespace detail

const char* interpolation_name(Interpolation f) { return f == Interpolation::Bicubic ? "bicubic" : "bilinear"; }

void resize(const View& src, int out_w, int out_h, Interpolation f, const Box* box, const Rect& roi, uint8_t* dst,
            ptrdiff_t dst_stride) {
  ISH_CHECK(src.w > 0 && src.h > 0, "resize: empty source image");
  ISH_CHECK(out_w > 0 && out_h > 0, "resize: height and width must be > 0 (got ", out_w, "x", out_h, ")");
  const Box b = box ? *box : Box{0, 0, (float)src.w, (float)src.h};
  ISH_CHECK(b.x0 >= 0 && b.y0 >= 0, "resize: box offset can't be negative");
  ISH_CHECK(b.x1 <= src.w && b.y1 <= src.h, "resize: box can't exceed original image size");
  ISH_CHECK(b.x1 - b.x0 > 0 && b.y1 - b.y0 > 0, "resize: box can't be empty");
  ISH_CHECK(roi.x >= 0 && roi.y >= 0 && roi.w >= 0 && roi.h >= 0 && roi.x + roi.w <= out_w &&
                roi.y + roi.h <= out_h,
            "resize: region outside the output");
  if (roi.w == 0 || roi.h == 0) return;
  const bool need_h = out_w != src.w || b.x0 != 0 || b.x1 != out_w;
  const bool need_v = out_h != src.h || b.y0 != 0 || b.y1 != out_h;
  thread_local detail::Coeffs ch, cv;
  if (!need_h && !need_v) {  // PIL copies
    for (int y = 0; y < roi.h; y++)
      std::memcpy(dst + y * dst_stride, src.row(roi.y + y) + (ptrdiff_t)roi.x * 3, (size_t)roi.w * 3);
    return;
  }
  // Taps only for the output columns/rows asked for (a huge resized size costs nothing extra).
  if (need_h) detail::precompute_coeffs(ch, src.w, b.x0, b.x1, out_w, roi.x, roi.x + roi.w, f);
  if (!need_v) {
    hpass(src, roi.y, roi.y + roi.h, ch, roi.x, roi.w, dst, dst_stride);
    return;
  }
  detail::precompute_coeffs(cv, src.h, b.y0, b.y1, out_h, roi.y, roi.y + roi.h, f);
  int ylo = src.h, yhi = 0;  // source rows the vertical pass reads
  for (int y = roi.y; y < roi.y + roi.h; y++) {
    ylo = std::min(ylo, cv.xmin[y - cv.begin]);
    yhi = std::max(yhi, cv.xmin[y - cv.begin] + cv.n[y - cv.begin]);
  }
  if (yhi <= ylo) { ylo = 0; yhi = 1; }  // no taps at all (degenerate box): read a valid row
  if (!need_h) {
    vpass(src.row(ylo) + (ptrdiff_t)roi.x * 3, src.stride, ylo, cv, roi.y, roi.h, roi.w * 3, dst, dst_stride);
    return;
  }
  thread_local std::vector<uint8_t> tmp;
  const ptrdiff_t ts = (ptrdiff_t)roi.w * 3;
  tmp.resize((size_t)(yhi - ylo) * ts);
  hpass(src, ylo, yhi, ch, roi.x, roi.w, tmp.data(), ts);
  vpass(tmp.data(), ts, ylo, cv, roi.y, roi.h, roi.w * 3, dst, dst_stride);
}

Image resize(const View& src, int out_w, int out_h, Interpolation f, const Box* box) {
  Image out;
  out.w = out_w;
  out.h = out_h;
  out.px.resize((size_t)out_w * out_h * 3);
  resize(src, out_w, out_h, f, box, Rect{0, 0, out_w, out_h}, out.px.data(), (ptrdiff_t)out_w * 3);
  return out;
}

}  // namespace ish::img
