// Datasets for training and validation: an img::Source (the samples) with the img::Transform they are
// trained and validated with. The trainer reads them through the one loader (engine/image/loader.h):
// the training transform is RandomResizedCrop + flip (when augmenting), else the eval transform.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/image/source.h"
#include "engine/image/transform.h"

namespace ish::train {

class Dataset : public img::Source {
 public:
  img::Transform transform;
  // Sample i through the eval transform (aug null) or the training one, normalised, into out
  // [crop, crop, channels]; false (with *why) when it cannot be read.
  bool load(int64_t i, Rng* aug, float* out, std::string* why) const;
  int64_t max_label() const;
};

// A Dataset whose samples are those of the img::Source S it holds (the Source calls forward to it).
template <class S>
class SourceDataset : public Dataset {
 public:
  int64_t size() const override { return src_.size(); }
  int64_t label(int64_t i) const override { return src_.label(i); }
  void read(int64_t i, img::Image& out) const override { src_.read(i, out); }
  std::string where(int64_t i) const override { return src_.where(i); }
  std::string describe() const override { return src_.describe(); }

 protected:
  explicit SourceDataset(S src) : src_(std::move(src)) {}
  S src_;
};

// Images held in memory: uint8 [N,H,W,C] (C = 1 or 3) + labels, H = W. Eval is the identity (no
// resize, centre crop H); training is RandomResizedCrop to the same size + flip. mean/std per channel.
class InMemoryDataset : public SourceDataset<img::MemorySource> {
 public:
  InMemoryDataset(std::vector<uint8_t> images, std::vector<int64_t> labels, int64_t H, int64_t W, int64_t C,
                  std::vector<float> mean, std::vector<float> stdv, std::string name = "in-memory");
};

}  // namespace ish::train
