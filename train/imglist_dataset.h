// An OpenOOD image list (engine/image/imglist.h) as a training or validation set, decoded PIL-exactly.
// The transform is img::Transform::imagenet(size): training RandomResizedCrop(size) + flip; eval
// Resize(int(size*256/224)) + CenterCrop(size); ImageNet normalisation. Labels must be >= 0.
#pragma once
#include <string>

#include "train/data.h"

namespace ish::train {

class ImageListDataset : public SourceDataset<img::ListSource> {
 public:
  // `decode`: the decoder's caps (pixels, file size) for every read.
  ImageListDataset(const std::string& list_path, const std::string& data_root, const img::Transform& t,
                   const img::DecodeOptions& decode = {});
};

}  // namespace ish::train
