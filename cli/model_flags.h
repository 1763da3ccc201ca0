// The model and input flags shared by eval, classify and features (the one place they are parsed and
// the model is opened): --weights (alias --ckpt-path), --arch, --width, --image-size, --resize,
// --interpolation and --max-image-mb. Architecture, width and input size come from the file's metadata
// when it has them (models/model_meta.h); the flags are needed only for files without (torchvision's),
// and a flag that contradicts the metadata is an error naming both values. The model may be any
// architecture models/zoo.h knows (ResNets, ViTs, Swins).
#pragma once
#include <string>

#include "cli/args.h"
#include "engine/image/image.h"
#include "engine/image/transform.h"
#include <memory>

#include "models/model_meta.h"
#include "models/net.h"

namespace ish::cli {

struct ModelFlags {
  std::string weights;
  models::ModelMeta given;  // arch, width, image_size, resize as given ("" / 0 / -1: not given)
  std::string interpolation;  // --interpolation bilinear|bicubic ("": the arch's default)
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
  std::unique_ptr<models::Net> model;
  models::ModelMeta meta;   // resolved (arch, width, classes, image_size, resize)
  img::Transform transform; // the eval preprocessing for this model
  std::string weights_hash; // with hash_weights: eval::file_hash's value, from the bytes loaded
};
// Opens flags.weights for evaluation on dev: a training checkpoint's optimizer entries are ignored with
// a one-line note on stderr. The preprocessing is the arch's torchvision eval transform
// (img::Transform::eval_default: crop 224 after a 256 bilinear resize; swin_t 232 bicubic), with the crop
// from --image-size or the metadata (--image-size S alone keeps the arch's resize ratio: int(S*256/224)),
// the resize from --resize or the metadata and the filter from --interpolation. A ViT takes only the
// input size its position embedding was made for; another --image-size is an error. hash_weights: also
// hash the file's content as it is loaded (the feature cache key), without reading it a second time.
LoadedModel load_model(const ModelFlags& flags, Device dev, bool hash_weights = false);

}  // namespace ish::cli
