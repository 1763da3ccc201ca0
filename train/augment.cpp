#include "train/augment.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/error.h"

namespace ish::train {

CropBox random_resized_crop_box(int64_t H, int64_t W, const AugmentOptions& o, Rng& rng) {
  ISH_CHECK(H > 0 && W > 0, "random resized crop: empty image ", H, "x", W);
  double area = (double)H * (double)W;
  double lr0 = std::log(o.ratio_lo), lr1 = std::log(o.ratio_hi);
  for (int attempt = 0; attempt < 10; attempt++) {
    double target = area * rng.uniform(o.scale_lo, o.scale_hi);
    double aspect = std::exp(rng.uniform(lr0, lr1));
    int64_t w = (int64_t)std::nearbyint(std::sqrt(target * aspect));  // Python round: half to even
    int64_t h = (int64_t)std::nearbyint(std::sqrt(target / aspect));
    if (w > 0 && w <= W && h > 0 && h <= H) {
      int64_t i = (int64_t)rng.below((uint64_t)(H - h + 1));
      int64_t j = (int64_t)rng.below((uint64_t)(W - w + 1));
      return {i, j, h, w};
    }
  }
  double in_ratio = (double)W / (double)H;
  int64_t w = W, h = H;
  if (in_ratio < o.ratio_lo) h = (int64_t)std::nearbyint(w / o.ratio_lo);
  else if (in_ratio > o.ratio_hi) w = (int64_t)std::nearbyint(h * o.ratio_hi);
  return {(H - h) / 2, (W - w) / 2, h, w};
}

namespace {
// Per output index: the first input index and normalised triangle weights (PIL's precompute_coeffs).
struct Coeffs {
  std::vector<int64_t> start, count;
  std::vector<double> w;  // count.size() * ksize
  int64_t ksize = 0;
};
Coeffs coeffs(int64_t in, int64_t out, double offset) {
  Coeffs c;
  double scale = (double)in / (double)out;
  double fs = std::max(scale, 1.0), support = fs;  // bilinear support 1, widened when downsampling
  c.ksize = (int64_t)std::ceil(support) * 2 + 1;
  c.start.resize(out);
  c.count.resize(out);
  c.w.assign(out * c.ksize, 0.0);
  for (int64_t i = 0; i < out; i++) {
    double center = (i + 0.5) * scale;
    int64_t lo = std::max<int64_t>((int64_t)(center - support + 0.5), 0);
    int64_t hi = std::min<int64_t>((int64_t)(center + support + 0.5), in);
    double total = 0;
    for (int64_t j = lo; j < hi; j++) {
      double t = std::fabs((j - center + 0.5) / fs);
      double v = t < 1 ? 1 - t : 0;
      c.w[i * c.ksize + (j - lo)] = v;
      total += v;
    }
    for (int64_t j = lo; j < hi; j++) c.w[i * c.ksize + (j - lo)] /= total > 0 ? total : 1;
    c.start[i] = lo + (int64_t)offset;
    c.count[i] = hi - lo;
  }
  return c;
}
}  // namespace

void resize_crop_normalize(const uint8_t* img, int64_t H, int64_t W, int64_t C, const CropBox& b, int64_t oh,
                           int64_t ow, bool flip, const float* mean, const float* stdv, float* out) {
  ISH_CHECK(b.top >= 0 && b.left >= 0 && b.height > 0 && b.width > 0 && b.top + b.height <= H &&
                b.left + b.width <= W,
            "resize: crop box out of the ", H, "x", W, " image");
  Coeffs cx = coeffs(b.width, ow, (double)b.left), cy = coeffs(b.height, oh, (double)b.top);
  // Horizontal pass over the box's rows (float intermediate), then vertical.
  std::vector<float> tmp((size_t)(b.height * ow * C));
  for (int64_t y = 0; y < b.height; y++) {
    const uint8_t* row = img + ((b.top + y) * W) * C;
    for (int64_t x = 0; x < ow; x++)
      for (int64_t c = 0; c < C; c++) {
        double acc = 0;
        for (int64_t k = 0; k < cx.count[x]; k++) acc += cx.w[x * cx.ksize + k] * row[(cx.start[x] + k) * C + c];
        tmp[(y * ow + x) * C + c] = (float)acc;
      }
  }
  for (int64_t y = 0; y < oh; y++)
    for (int64_t x = 0; x < ow; x++) {
      int64_t sx = flip ? ow - 1 - x : x;
      for (int64_t c = 0; c < C; c++) {
        double acc = 0;
        for (int64_t k = 0; k < cy.count[y]; k++)
          acc += cy.w[y * cy.ksize + k] * tmp[((cy.start[y] - b.top + k) * ow + sx) * C + c];
        out[(y * ow + x) * C + c] = (float)((acc / 255.0 - mean[c]) / stdv[c]);
      }
    }
}

void augment_sample(const uint8_t* img, int64_t H, int64_t W, int64_t C, int64_t oh, int64_t ow,
                    const AugmentOptions& o, Rng& rng, const float* mean, const float* stdv, float* out) {
  CropBox b = random_resized_crop_box(H, W, o, rng);
  bool flip = rng.uniform() < o.flip_p;
  resize_crop_normalize(img, H, W, C, b, oh, ow, flip, mean, stdv, out);
}

}  // namespace ish::train
