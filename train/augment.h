// Training augmentation on uint8 HWC images: torchvision's RandomResizedCrop (scale (0.08, 1), ratio
// (3/4, 4/3), the same 10-try sampling and centre-crop fallback) resized with an antialiased bilinear
// (triangle) filter as PIL's BILINEAR does, then a horizontal flip with p = 0.5, then normalisation to
// float. Randomness comes from the caller's Rng, so a (seed, epoch, sample) triple fixes the result.
#pragma once
#include <cstdint>

#include "engine/rng.h"

namespace ish::train {

struct CropBox { int64_t top = 0, left = 0, height = 0, width = 0; };

struct AugmentOptions {
  double scale_lo = 0.08, scale_hi = 1.0;
  double ratio_lo = 3.0 / 4.0, ratio_hi = 4.0 / 3.0;
  double flip_p = 0.5;
};

// torchvision.transforms.RandomResizedCrop.get_params with our Rng.
CropBox random_resized_crop_box(int64_t H, int64_t W, const AugmentOptions& o, Rng& rng);

// Resizes the box of img [H,W,C] uint8 to [oh,ow,C] with a separable triangle filter (support scaled by
// the downsampling factor), optionally mirrored, and writes (v/255 - mean[c]) / std[c] as float.
void resize_crop_normalize(const uint8_t* img, int64_t H, int64_t W, int64_t C, const CropBox& box, int64_t oh,
                           int64_t ow, bool flip, const float* mean, const float* stdv, float* out);

// RandomResizedCrop + flip + normalise in one call.
void augment_sample(const uint8_t* img, int64_t H, int64_t W, int64_t C, int64_t oh, int64_t ow,
                    const AugmentOptions& o, Rng& rng, const float* mean, const float* stdv, float* out);

}  // namespace ish::train
