// Datasets for training and validation. A dataset yields samples as normalised float HWC; the loop
// batches them into NHWC tensors. Augmentation randomness is passed in per sample, so the result of
// sample i in epoch e depends only on (seed, e, i) and a resumed run sees exactly the same batches.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "train/augment.h"

namespace ish::train {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int64_t label(int64_t i) const = 0;
  // Output sample size [H, W, C].
  virtual int64_t height() const = 0;
  virtual int64_t width() const = 0;
  virtual int64_t channels() const = 0;
  // Writes sample i as float [H,W,C] into out. `aug` null: the eval transform. Returns false when the
  // sample could not be read (a corrupt image): the caller skips and counts it.
  virtual bool load(int64_t i, Rng* aug, float* out, std::string* why) const = 0;
  virtual std::string describe() const = 0;
};

// Images held in memory: uint8 [N,H,W,C] + labels. The training transform is RandomResizedCrop to the
// same size + flip (when `augment`); eval is the identity. Both normalise with mean/std per channel.
class InMemoryDataset : public Dataset {
 public:
  InMemoryDataset(std::vector<uint8_t> images, std::vector<int64_t> labels, int64_t H, int64_t W, int64_t C,
                  std::vector<float> mean, std::vector<float> stdv, std::string name = "in-memory");
  int64_t size() const override { return (int64_t)labels_.size(); }
  int64_t label(int64_t i) const override { return labels_[i]; }
  int64_t height() const override { return H_; }
  int64_t width() const override { return W_; }
  int64_t channels() const override { return C_; }
  bool load(int64_t i, Rng* aug, float* out, std::string* why) const override;
  std::string describe() const override { return name_; }
  AugmentOptions aug_options;
 private:
  std::vector<uint8_t> images_;
  std::vector<int64_t> labels_;
  int64_t H_, W_, C_;
  std::vector<float> mean_, std_;
  std::string name_;
};

// Per-epoch sample order: a Fisher-Yates shuffle seeded by (seed, epoch), or 0..n-1.
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle);
// The augmentation Rng of one sample: depends only on (seed, epoch, position in the epoch).
Rng sample_rng(uint64_t seed, int64_t epoch, int64_t position);

}  // namespace ish::train
