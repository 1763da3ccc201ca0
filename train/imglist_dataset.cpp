#include "train/imglist_dataset.h"

#include "engine/error.h"
#include "engine/image/imglist.h"

namespace ish::train {

static img::ImgList checked_list(const std::string& list_path, const std::string& data_root) {
  img::ImgList l = img::read_imglist(list_path, data_root);
  for (size_t i = 0; i < l.items.size(); i++)
    ISH_CHECK(l.items[i].label >= 0, l.where(i), ": label ", l.items[i].label, " (training needs labels >= 0)");
  return l;
}

ImageListDataset::ImageListDataset(const std::string& list_path, const std::string& data_root, const img::Transform& t,
                                   const img::DecodeOptions& decode)
    : SourceDataset(img::ListSource(checked_list(list_path, data_root), decode)) {
  t.validate();
  transform = t;
}

}  // namespace ish::train
