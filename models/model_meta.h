// What a weights file says about the network it holds, so every command can rebuild it without flags.
//  - Metadata: the safetensors __metadata__ keys arch, width, in_channels, num_classes, image_size,
//    resize (decimal strings), written by `train` into every checkpoint, by save_weights and by `convert`
//    where known. Files without them (torchvision's) fall back to:
//  - Inference from torchvision's tensor names and shapes. ResNet: the stem (7x7 conv1: ImageNet; 3x3:
//    CIFAR), the block type (conv3 present: Bottleneck), the blocks per stage, the width (conv1's filters),
//    the input channels and the class count (fc). ViT: conv_proj (hidden size, patch), the number of
//    encoder.layers.encoder_layer_N, the MLP size, the input size from encoder.pos_embedding, the class
//    count (heads.head). Swin: features.0.0 (embed dim, patch), the blocks per stage (those with an
//    attn.relative_position_bias_table), the class count (head).
//  - resolve_model(): metadata first, then inference; explicit flags must agree with the metadata
//    (an error names both values), an --arch the tensors contradict is refused, and an ambiguous file
//    is refused naming the arches that match.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"
#include "models/resnet.h"

namespace ish::models {

struct ModelMeta {
  std::string arch;     // "" = unknown / not given
  int width = 0;        // 0 = unknown
  int in_channels = 0;  // 0 = unknown
  int num_classes = 0;  // 0 = unknown
  int image_size = 0;   // the eval centre crop; 0 = unknown
  int resize = -1;      // the eval resize before the crop (0: none); -1 = unknown
};

// The known keys of `md`, each checked (an integer in range, a known arch); throws naming `source`.
ModelMeta read_model_meta(const std::map<std::string, std::string>& md, const std::string& source);
// Adds the known fields to `md` (unknown ones are left out).
void write_model_meta(const ModelMeta& m, std::map<std::string, std::string>& md);
// arch, width, in_channels and num_classes of a built model.
ModelMeta meta_of(const ResNet& model);
// The ResNetConfig for a resolved meta (arch required; width/in_channels/num_classes when known).
ResNetConfig config_of(const ModelMeta& m);

// Tensor names and file-layout shapes (torchvision: conv weights [K,C,R,S]).
using ShapeList = std::vector<std::pair<std::string, Shape>>;
struct Inferred {
  std::vector<std::string> archs;  // every known arch consistent with the tensors (empty: none)
  int width = 0, in_channels = 0, num_classes = 0;  // 0 = not found
  int image_size = 0;  // the input size a ViT's position embedding fixes; 0 = not fixed / not found
  std::string seen;  // what was found, for messages: "7x7 stem, basic blocks 2,2,2,2"
};
Inferred infer_arch(const ShapeList& entries);

// What to build from a file: its metadata `file`, the inference `inf`, and the flags `given`
// (arch "" / width 0 = not given; any spelling models/zoo.h knows, resolved to the canonical name).
// Throws ish::Error naming `path` on a contradiction or an ambiguity.
ModelMeta resolve_model(const ModelMeta& file, const Inferred& inf, const ModelMeta& given, const std::string& path);

}  // namespace ish::models
