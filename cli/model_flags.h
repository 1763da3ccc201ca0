// The model and input flags shared by eval, classify and features (the one place they are parsed and
// the model is opened): --weights (alias --ckpt-path), --arch, --width, --image-size, --resize and
// --max-image-mb. Architecture, width and input size come from the file's metadata when it has them
// (models/model_meta.h); the flags are needed only for files without (torchvision's), and a flag that
// contradicts the metadata is an error naming both values. Future architectures add their input flags
// (--interpolation) here.
#pragma once
#include <string>

#include "cli/args.h"
#include "engine/image/image.h"
#include "engine/image/transform.h"
#include "models/model_meta.h"
#include "models/resnet.h"

namespace ish::cli {

struct ModelFlags {
  std::string weights;
  models::ModelMeta given;  // arch, width, image_size, resize as given ("" / 0 / -1: not given)
  img::DecodeOptions decode;  // --max-image-mb
};
// Reads the flags from `a` and checks their ranges (one line each).
ModelFlags parse_model_flags(Args& a);
// --max-image-mb N (MiB; 0: no cap) as DecodeOptions, for every command that decodes images.
img::DecodeOptions parse_decode_flags(Args& a);

// Help lines for the flags above, with `indent` spaces before each line.
std::string model_flags_help(int indent);
std::string decode_flags_help(int indent);

struct LoadedModel {
  models::ResNet model;
  models::ModelMeta meta;   // resolved (arch, width, classes, image_size, resize)
  img::Transform transform; // the eval preprocessing for this model
};
// Opens flags.weights for evaluation on dev: a training checkpoint's optimizer entries are ignored with
// a one-line note on stderr; the input size comes from the flags, the metadata or the ImageNet default
// (224 crop after a 256 resize; --image-size S alone resizes to int(S*256/224)).
LoadedModel load_model(const ModelFlags& flags, Device dev);

}  // namespace ish::cli
