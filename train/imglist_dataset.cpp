#include "train/imglist_dataset.h"

#include "engine/error.h"
#include "engine/image/image.h"
#include "engine/image/imglist.h"
#include "engine/image/transform.h"

namespace ish::train {

std::vector<ListEntry> read_image_list(const std::string& list_path) {
  img::ImgList l = img::read_imglist(list_path, "");
  std::vector<ListEntry> out;
  for (size_t i = 0; i < l.items.size(); i++) {
    ISH_CHECK(l.items[i].label >= 0, l.where(i), ": label ", l.items[i].label, " (training needs labels >= 0)");
    out.push_back({l.items[i].rel, l.items[i].label});
  }
  return out;
}

ImageListDataset::ImageListDataset(const std::string& list_path, const std::string& data_root, int64_t size,
                                   int64_t resize)
    : entries_(read_image_list(list_path)), list_(list_path), root_(data_root), size_(size), resize_(resize) {
  ISH_CHECK(size >= 1 && resize >= size, "image size ", size, " / resize ", resize, " invalid");
}

int64_t ImageListDataset::max_label() const {
  int64_t m = 0;
  for (auto& e : entries_) m = std::max(m, e.label);
  return m;
}

bool ImageListDataset::load(int64_t i, Rng* aug, float* out, std::string* why) const {
  const ListEntry& e = entries_[i];
  std::string path = img::join_path(root_, e.path);
  img::Image im;
  try {
    img::decode_file(path, im);
  } catch (const Error& err) {
    if (why) *why = err.what();
    return false;
  }
  const int S = (int)size_;
  std::vector<uint8_t> px((size_t)S * S * 3);
  if (aug) {
    img::RrcParams rp;
    rp.scale_min = aug_options.scale_lo;
    rp.scale_max = aug_options.scale_hi;
    rp.ratio_min = aug_options.ratio_lo;
    rp.ratio_max = aug_options.ratio_hi;
    img::train_u8(img::view(im), S, S, *aug, rp, aug_options.flip_p > 0, px.data());
  } else {
    img::eval_u8(img::view(im), (int)resize_, S, S, px.data());
  }
  static const img::NormLut lut;  // ImageNet mean/std, as ToTensor + Normalize in float32
  img::normalize(px.data(), (size_t)S * S, lut, out);
  return true;
}

}  // namespace ish::train
