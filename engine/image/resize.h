// PIL-exact antialiased BILINEAR and BICUBIC resize of 8-bit RGB: Pillow 9.4's ImagingResample
// (Resample.c) for uint8 images, i.e. Image.resize(size, BILINEAR or BICUBIC, box) with reducing_gap=None:
//  - per axis: scale = (in1-in0)/out, filterscale = max(scale, 1), support = filter support * filterscale
//    (BILINEAR: the triangle of radius 1; BICUBIC: Keys' cubic with a = -0.5, radius 2), taps [xmin, xmax)
//    rounded as (int)(center -/+ support + 0.5) and clamped, weights normalised in double, then fixed
//    point with 22 fraction bits, rounded half away from 0 (bicubic weights can be negative);
//  - the horizontal pass runs first into a uint8 intermediate (only the rows the vertical pass reads),
//    then the vertical pass; each sum starts at 1<<21 and is clipped to [0, 255] after >> 22;
//  - a pass is skipped when its axis is unchanged (same size and the box spans the axis), as in PIL.
// Only the requested output rectangle is computed; every pixel in it is identical to PIL's.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/image/image.h"

namespace ish::img {

struct Rect { int x = 0, y = 0, w = 0, h = 0; };
// Source box (x0, y0, x1, y1) in source pixels; PIL keeps it in float.
struct Box { float x0 = 0, y0 = 0, x1 = 0, y1 = 0; };

// PIL's resampling filters (torchvision's InterpolationMode.BILINEAR / BICUBIC on PIL images).
enum class Interpolation { Bilinear, Bicubic };
const char* interpolation_name(Interpolation f);  // "bilinear" | "bicubic"

// Resizes src (box = whole image when `box` is null) to out_w x out_h with filter f and writes the output
// rectangle `roi` (within [0,out_w) x [0,out_h)) to dst, whose rows are dst_stride bytes apart.
void resize(const View& src, int out_w, int out_h, Interpolation f, const Box* box, const Rect& roi, uint8_t* dst,
            ptrdiff_t dst_stride);
// The whole output as a new image.
Image resize(const View& src, int out_w, int out_h, Interpolation f, const Box* box = nullptr);
inline void resize_bilinear(const View& src, int out_w, int out_h, const Box* box, const Rect& roi, uint8_t* dst,
                            ptrdiff_t dst_stride) {
  resize(src, out_w, out_h, Interpolation::Bilinear, box, roi, dst, dst_stride);
}
inline Image resize_bilinear(const View& src, int out_w, int out_h, const Box* box = nullptr) {
  return resize(src, out_w, out_h, Interpolation::Bilinear, box);
}

namespace detail {
// Fixed-point taps for one axis (exposed for tests).
struct Coeffs {
  int in_size = -1, out_size = -1, ksize = 0;
  int begin = 0, end = 0;    // the output indices held: [begin, end); arrays are indexed by xx - begin
  float in0 = 0, in1 = 0;
  Interpolation filter = Interpolation::Bilinear;
  std::vector<int> xmin, n;  // first tap and tap count per output index
  std::vector<int32_t> k;    // out_size * ksize
  int kq = 0;                // ksize rounded up to 4
  std::vector<int> xminq;    // the same taps as kq inputs from xminq (empty if in_size < kq)
  std::vector<int32_t> kx4;  // out_size * kq * 4: each of those weights replicated 4x
};
void precompute_coeffs(Coeffs& c, int in_size, float in0, float in1, int out_size, int begin = 0, int end = -1,
                       Interpolation f = Interpolation::Bilinear);
}  // namespace detail

namespace kern {
// Tests: run the portable loops even where AVX2 exists (both must give PIL's bytes).
void force_portable(bool on);
}  // namespace kern

}  // namespace ish::img
