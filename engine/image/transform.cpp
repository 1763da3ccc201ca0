// Eval and train transforms (see transform.h).
#include "engine/image/transform.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "engine/error.h"

namespace ish::img {

void resize_short_side(int w, int h, int size, int& out_w, int& out_h) {
  ISH_CHECK(w > 0 && h > 0 && size > 0, "resize: bad sizes ", w, "x", h, " -> ", size);
  const int s = std::min(w, h), l = std::max(w, h);
  // Python: int(size * long / short), a correctly rounded double division then truncation.
  const int nl = (int)((double)((int64_t)size * l) / (double)s);
  if (w <= h) { out_w = size; out_h = nl; } else { out_w = nl; out_h = size; }
}

static int center_offset(int n, int crop) {
  if (crop > n) return -((crop - n) / 2);  // padded by (crop-n)//2 before, so the image sits there
  const int d = n - crop;                   // round(d / 2.0), half to even
  const int q = d / 2;
  return (d % 2 == 0) ? q : (q % 2 == 0 ? q : q + 1);
}

void center_crop_offsets(int w, int h, int crop_w, int crop_h, int& left, int& top) {
  left = center_offset(w, crop_w);
  top = center_offset(h, crop_h);
}

void eval_u8(const View& src, int resize, int crop_w, int crop_h, uint8_t* out, Interpolation f) {
  ISH_CHECK(crop_w > 0 && crop_h > 0, "center crop: bad size ", crop_w, "x", crop_h);
  int rw = src.w, rh = src.h;
  if (resize > 0) resize_short_side(src.w, src.h, resize, rw, rh);
  int left, top;
  center_crop_offsets(rw, rh, crop_w, crop_h, left, top);
  // The part of the resized image inside the crop window; the rest is zero padding.
  const int x0 = std::max(left, 0), y0 = std::max(top, 0);
  const int x1 = std::min(left + crop_w, rw), y1 = std::min(top + crop_h, rh);
  const ptrdiff_t stride = (ptrdiff_t)crop_w * 3;
  if (x0 - left > 0 || y0 - top > 0 || x1 - left < crop_w || y1 - top < crop_h)
    std::memset(out, 0, (size_t)crop_h * stride);
  uint8_t* dst = out + (ptrdiff_t)(y0 - top) * stride + (ptrdiff_t)(x0 - left) * 3;
  img::resize(src, rw, rh, f, nullptr, Rect{x0, y0, x1 - x0, y1 - y0}, dst, stride);
}

bool Normalize::is_imagenet() const {
  const Normalize d;
  if (channels != 3) return false;
  for (int c = 0; c < 3; c++)
    if (mean[c] != d.mean[c] || std[c] != d.std[c]) return false;
  return true;
}

NormLut::NormLut(const Normalize& n) : channels(n.channels) {
  ISH_CHECK(n.channels == 1 || n.channels == 3, "normalize: ", n.channels, " channels (1 or 3 supported)");
  for (int c = 0; c < 3; c++) {
    const int k = c < n.channels ? c : 0;
    ISH_CHECK(n.std[k] != 0.0f, "normalize: std[", k, "] is 0");
    for (int i = 0; i < 256; i++) {
      volatile float x = (float)i / 255.0f;  // keep each float32 rounding step (no fused/contracted ops)
      volatile float y = x - n.mean[k];
      v[c][i] = y / n.std[k];
    }
  }
}

void normalize(const uint8_t* in, size_t npix, const NormLut& lut, float* out) {
  if (lut.channels == 1) {
    for (size_t i = 0; i < npix; i++) out[i] = lut.v[0][in[3 * i]];
    return;
  }
  for (size_t i = 0; i < npix; i++) {
    out[3 * i + 0] = lut.v[0][in[3 * i + 0]];
    out[3 * i + 1] = lut.v[1][in[3 * i + 1]];
    out[3 * i + 2] = lut.v[2][in[3 * i + 2]];
  }
}

void pack_channels(const uint8_t* in, size_t npix, int channels, uint8_t* out) {
  if (channels == 3) {
    if (in != out) std::memmove(out, in, npix * 3);
    return;
  }
  for (size_t i = 0; i < npix; i++) out[i] = in[3 * i];  // in place is safe: i <= 3i
}

Rect rrc_sample(int w, int h, Rng& rng, const RrcParams& p) {
  ISH_CHECK(w > 0 && h > 0, "random resized crop: empty image");
  ISH_CHECK(p.scale_min <= p.scale_max && p.ratio_min <= p.ratio_max && p.ratio_min > 0,
            "random resized crop: bad scale/ratio ranges");
  const double area = (double)w * h;
  const double lr0 = std::log(p.ratio_min), lr1 = std::log(p.ratio_max);
  for (int attempt = 0; attempt < 10; attempt++) {
    const double target = area * rng.uniform(p.scale_min, p.scale_max);
    const double ar = std::exp(rng.uniform(lr0, lr1));
    const int cw = (int)std::nearbyint(std::sqrt(target * ar));  // Python round: half to even
    const int chh = (int)std::nearbyint(std::sqrt(target / ar));
    if (cw > 0 && cw <= w && chh > 0 && chh <= h) {
      const int top = (int)rng.below((uint64_t)(h - chh + 1));
      const int left = (int)rng.below((uint64_t)(w - cw + 1));
      return Rect{left, top, cw, chh};
    }
  }
  const double in_ratio = (double)w / h;
  int cw = w, chh = h;
  if (in_ratio < p.ratio_min) {
    chh = (int)std::nearbyint(cw / p.ratio_min);
  } else if (in_ratio > p.ratio_max) {
    cw = (int)std::nearbyint(chh * p.ratio_max);
  }
  cw = std::clamp(cw, 1, w);
  chh = std::clamp(chh, 1, h);
  return Rect{(w - cw) / 2, (h - chh) / 2, cw, chh};
}

void hflip(uint8_t* px, int w, int h) {
  for (int y = 0; y < h; y++) {
    uint8_t* r = px + (size_t)y * w * 3;
    for (int a = 0, b = w - 1; a < b; a++, b--)
      for (int c = 0; c < 3; c++) std::swap(r[3 * a + c], r[3 * b + c]);
  }
}

void resized_crop_u8(const View& src, const Rect& r, int out_w, int out_h, bool flip, uint8_t* out, Interpolation f) {
  ISH_CHECK(out_w > 0 && out_h > 0, "resized crop: bad output size ", out_w, "x", out_h);
  const View cropped = crop_view(src, r.x, r.y, r.w, r.h);
  img::resize(cropped, out_w, out_h, f, nullptr, Rect{0, 0, out_w, out_h}, out, (ptrdiff_t)out_w * 3);
  if (flip) hflip(out, out_w, out_h);
}

void train_u8(const View& src, int out_w, int out_h, Rng& rng, const RrcParams& p, double flip_p, uint8_t* out,
              Interpolation f) {
  const Rect r = rrc_sample(src.w, src.h, rng, p);
  const bool flip = rng.uniform() < flip_p;
  resized_crop_u8(src, r, out_w, out_h, flip, out, f);
}

Transform Transform::eval_default(const std::string& arch) {
  // torchvision's weights transforms: Swin-T resizes to 232 with BICUBIC; the ResNets and the ViTs use 256 BILINEAR.
  Transform t;
  if (arch == "swin_t" || arch == "swin-t") {
    t.resize = 232;
    t.interpolation = Interpolation::Bicubic;
  }
  return t;
}

Transform Transform::imagenet(int crop) {
  ISH_CHECK(crop >= 1, "image size must be >= 1, got ", crop);
  Transform t;
  t.crop = crop;
  t.resize = (int)((int64_t)crop * 256 / 224);  // 224 -> 256, the same ratio (truncated) for other sizes
  return t;
}

void Transform::validate() const {
  ISH_CHECK(crop >= 1, "transform: crop size must be >= 1, got ", crop);
  ISH_CHECK(resize >= 0, "transform: resize must be >= 0 (0: none), got ", resize);
  ISH_CHECK(flip_p >= 0 && flip_p <= 1, "transform: flip probability must be in [0, 1], got ", flip_p);
  ISH_CHECK(rrc.scale_min >= 0 && rrc.scale_min <= rrc.scale_max && rrc.ratio_min > 0 && rrc.ratio_min <= rrc.ratio_max,
            "transform: bad RandomResizedCrop scale (", rrc.scale_min, ", ", rrc.scale_max, ") or ratio (", rrc.ratio_min,
            ", ", rrc.ratio_max, ")");
  NormLut check(norm);  // channels and std
}

std::string Transform::eval_key() const {
  std::string k = as_is ? str("as-is-", crop, "/")
                        : str("pil-", interpolation_name(interpolation), "-", resize, "/center-crop-", crop, "/");
  if (norm.is_imagenet()) return k + "imagenet-norm/v1";
  k += str("norm-c", norm.channels);
  char buf[64];
  for (int c = 0; c < norm.channels; c++) {
    std::snprintf(buf, sizeof buf, "-%a-%a", (double)norm.mean[c], (double)norm.std[c]);  // exact floats
    k += buf;
  }
  return k + "/v1";
}

std::string Transform::describe_eval() const {
  std::string s =
      resize > 0 ? str("PIL-exact ", interpolation_name(interpolation), " resize ", resize, " (truncated long side), ") : "";
  s += as_is ? str("no resize or crop (images must be ", crop, "x", crop, "), ") : str("centre crop ", crop, ", ");
  if (norm.is_imagenet()) return s + "ImageNet normalisation";
  s += "normalisation mean (";
  for (int c = 0; c < norm.channels; c++) s += str(c ? ", " : "", norm.mean[c]);
  s += ") std (";
  for (int c = 0; c < norm.channels; c++) s += str(c ? ", " : "", norm.std[c]);
  return s + ")";
}

void apply_eval(const View& src, const Transform& t, uint8_t* out) {
  if (t.as_is) {
    ISH_CHECK(src.w == t.crop && src.h == t.crop, "image is ", src.w, "x", src.h, ", but this set is used without resize or crop and needs ",
              t.crop, "x", t.crop);
    return eval_u8(src, 0, t.crop, t.crop, out);  // a crop of the whole image: a copy
  }
  eval_u8(src, t.resize, t.crop, t.crop, out, t.interpolation);
}

void apply_train(const View& src, const Transform& t, Rng& rng, uint8_t* out) {
  train_u8(src, t.crop, t.crop, rng, t.rrc, t.flip_p, out, t.interpolation);
}

}  // namespace ish::img
