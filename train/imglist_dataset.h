// An OpenOOD image list (engine/image/imglist.h) decoded and transformed with engine/image (PIL-exact).
// Training transform: RandomResizedCrop(size, scale (0.08, 1), ratio (3/4, 4/3)) with
// PIL-exact bilinear resizing of the crop (torchvision's crop-then-resize), a horizontal flip with
// p = 0.5, ImageNet normalisation. Eval transform: short side to 256 (long side truncated), centre crop
// `size` (offsets rounded half to even), normalisation. Corrupt images are reported by load() = false.
#pragma once
#include <string>
#include <vector>

#include "train/data.h"

namespace ish::train {

struct ListEntry {
  std::string path;
  int64_t label = 0;
};
// Reads the list; errors (missing file, bad label, empty list) name the line.
std::vector<ListEntry> read_image_list(const std::string& list_path);

class ImageListDataset : public Dataset {
 public:
  ImageListDataset(const std::string& list_path, const std::string& data_root, int64_t size, int64_t resize = 256);
  int64_t size() const override { return (int64_t)entries_.size(); }
  int64_t label(int64_t i) const override { return entries_[i].label; }
  int64_t height() const override { return size_; }
  int64_t width() const override { return size_; }
  int64_t channels() const override { return 3; }
  bool load(int64_t i, Rng* aug, float* out, std::string* why) const override;
  std::string describe() const override { return list_; }
  int64_t max_label() const;
  AugmentOptions aug_options;
 private:
  std::vector<ListEntry> entries_;
  std::string list_, root_;
  int64_t size_, resize_;
};

}  // namespace ish::train
