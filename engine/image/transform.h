// torchvision 0.14 transforms on PIL images, bit-exact on the uint8 result:
//  eval:  Resize(resize) -> CenterCrop(crop) -> ToTensor -> Normalize(mean, std)
//  train: RandomResizedCrop(crop, scale, ratio, BILINEAR) -> RandomHorizontalFlip(flip_p) -> ToTensor -> Normalize
// Random parameters come from ish::Rng (torchvision's sampling algorithm, not torch's random stream).
// Outputs are HWC (NHWC within a batch). img::Transform (below) is the one value that holds every
// preprocessing number; everything that preprocesses images reads it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

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
void eval_u8(const View& src, int resize, int crop_w, int crop_h, uint8_t* out,
             Interpolation f = Interpolation::Bilinear);

// Normalisation as ToTensor + Normalize do it in float32: ((float)v / 255 - mean) / std.
// channels = 1: the image is gray (R = G = B) and only mean[0]/std[0] are used.
struct Normalize {
  int channels = 3;
  float mean[3] = {0.485f, 0.456f, 0.406f};
  float std[3] = {0.229f, 0.224f, 0.225f};
  bool is_imagenet() const;
};
// channels x 256 table of every normalised value (exact: the same float ops for each input).
struct NormLut {
  int channels = 3;
  float v[3][256];
  explicit NormLut(const Normalize& n = Normalize());
};
// npix RGB pixels -> npix*lut.channels floats (HWC); with one channel the R byte is used.
void normalize(const uint8_t* in, size_t npix, const NormLut& lut, float* out);
// npix RGB pixels -> npix*channels bytes (with one channel the R byte; 3: a plain copy).
void pack_channels(const uint8_t* in, size_t npix, int channels, uint8_t* out);

// RandomResizedCrop.get_params: up to 10 tries of area ~ U(scale) * w*h and log-uniform aspect
// ratio, w = round(sqrt(area*r)), h = round(sqrt(area/r)); else a centre crop with the ratio clamped.
struct RrcParams {
  double scale_min = 0.08, scale_max = 1.0;
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
};
Rect rrc_sample(int w, int h, Rng& rng, const RrcParams& p = RrcParams());

// torchvision's F.resized_crop on a PIL image (crop r, then PIL's BILINEAR resize to out_w x out_h), then
// a horizontal mirror when `flip`: RandomResizedCrop + RandomHorizontalFlip at fixed parameters.
void resized_crop_u8(const View& src, const Rect& r, int out_w, int out_h, bool flip, uint8_t* out,
                     Interpolation f = Interpolation::Bilinear);

// RandomResizedCrop(out_w x out_h) then a horizontal flip when rng.uniform() < flip_p (torchvision's
// torch.rand(1) < p: 0 never flips, 1 always), drawing from rng in that order.
void train_u8(const View& src, int out_w, int out_h, Rng& rng, const RrcParams& p, double flip_p, uint8_t* out,
              Interpolation f = Interpolation::Bilinear);

// In-place horizontal mirror of a packed RGB image.
void hflip(uint8_t* px, int w, int h);

// Interpolation (PIL's BILINEAR or BICUBIC) is declared in engine/image/resize.h.

// Every number of an image pipeline, for eval and for training:
//  eval:  Resize(resize, interpolation) (resize <= 0: none) -> CenterCrop(crop) -> Normalize(norm);
//         with as_is: Normalize only, of an image that is crop x crop
//  train: RandomResizedCrop(crop, rrc.scale, rrc.ratio, interpolation) -> flip with flip_p -> Normalize(norm)
// Output: crop x crop x norm.channels. Command-line flags (--image-size, --resize, ...) set these fields.
struct Transform {
  int resize = 256;
  int crop = 224;
  // Eval only: no resize and no crop, the image must already be crop x crop (OpenOOD's ImageNet-C
  // preprocessing, ToTensor + Normalize); another size is an error for that file.
  bool as_is = false;
  Interpolation interpolation = Interpolation::Bilinear;
  Normalize norm;
  RrcParams rrc;
  double flip_p = 0.5;

  // torchvision's ImageNet eval for an architecture: Resize 256 (bilinear), CenterCrop 224, ImageNet
  // mean/std; swin_t (or swin-t): Resize 232 bicubic.
  static Transform eval_default(const std::string& arch);
  // The ImageNet recipe at another crop size: resize = int(size * 256 / 224), truncated (32 -> 36).
  static Transform imagenet(int crop);
  int channels() const { return norm.channels; }
  void validate() const;  // throws ish::Error naming the bad field
  // A stable text naming every eval-relevant number (part of the feature-cache key); the default
  // eval transform keeps the key used before this type existed, so existing caches stay valid.
  std::string eval_key() const;
  std::string describe_eval() const;  // for humans and results.json
};

// One decoded RGB image through the transform into out (crop*crop*3 RGB bytes; see pack_channels).
void apply_eval(const View& src, const Transform& t, uint8_t* out);
void apply_train(const View& src, const Transform& t, Rng& rng, uint8_t* out);

}  // namespace ish::img
