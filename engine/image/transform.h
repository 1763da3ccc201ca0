// torchvision 0.14 transforms on PIL images, bit-exact on the uint8 result:
//  eval:  Resize(resize) -> CenterCrop(crop) -> ToTensor -> Normalize(mean, std)
//  train: RandomResizedCrop(size, scale, ratio, BILINEAR) -> RandomHorizontalFlip(0.5) -> ToTensor -> Normalize
// Random parameters come from ish::Rng (torchvision's sampling algorithm, not torch's random stream).
// Outputs are HWC (NHWC within a batch).
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/image/image.h"
#include "engine/image/resize.h"
#include "engine/rng.h"

namespace ish::img {

// Resize(size) with an int size: the short side becomes `size`, the long side int(size*long/short).
void resize_short_side(int w, int h, int size, int& out_w, int& out_h);
// CenterCrop offsets of a crop_w x crop_h window in a w x h image: int(round((h-crop_h)/2.0)) with
// Python's half-to-even rounding; negative when the crop is larger (torchvision pads with 0:
// (crop-w)//2 on the left/top).
void center_crop_offsets(int w, int h, int crop_w, int crop_h, int& left, int& top);

// Resize(resize) + CenterCrop(crop_h, crop_w) into out (crop_h*crop_w*3 bytes, rows packed).
// resize <= 0 skips the resize (CenterCrop only). Only the cropped pixels are resampled.
void eval_u8(const View& src, int resize, int crop_w, int crop_h, uint8_t* out);

// Normalisation as ToTensor + Normalize do it in float32: ((float)v / 255 - mean) / std.
struct Normalize {
  float mean[3] = {0.485f, 0.456f, 0.406f};
  float std[3] = {0.229f, 0.224f, 0.225f};
};
// 3 x 256 table of every normalised value (exact: the same float ops for each of the 768 inputs).
struct NormLut {
  float v[3][256];
  explicit NormLut(const Normalize& n = Normalize());
};
// npix RGB pixels -> npix*3 floats (HWC).
void normalize(const uint8_t* in, size_t npix, const NormLut& lut, float* out);

// RandomResizedCrop.get_params: up to 10 tries of area ~ U(scale) * w*h and log-uniform aspect
// ratio, w = round(sqrt(area*r)), h = round(sqrt(area/r)); else a centre crop with the ratio clamped.
struct RrcParams {
  double scale_min = 0.08, scale_max = 1.0;
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
};
Rect rrc_sample(int w, int h, Rng& rng, const RrcParams& p = RrcParams());

// RandomResizedCrop(out_w x out_h) then a horizontal flip with probability 0.5 (when `flip`), drawing
// from rng in that order. Crop then resize, as torchvision's resized_crop does on PIL images.
void train_u8(const View& src, int out_w, int out_h, Rng& rng, const RrcParams& p, bool flip, uint8_t* out);

// In-place horizontal mirror of a packed RGB image.
void hflip(uint8_t* px, int w, int h);

}  // namespace ish::img
