// The registry of every architecture the commands build: canonical names (torchvision's: resnet50,
// vit_b_16, swin_t, ...), the '-' aliases OpenOOD's scripts use (vit-b-16, swin-t), each name's family,
// and the two ways to get a models::Net: create (random init) and open (a weights file, strict load).
//
//   auto net = models::zoo::create("vit-b-16", 10, /*seed=*/1);      // arch() == "vit_b_16"
//   auto net = models::zoo::open(models::read_weights(path, given), Device::CPU);
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/model_file.h"
#include "models/net.h"

namespace ish::models::zoo {

enum class Family { ResNet, ViT, Swin };
const char* family_name(Family f);  // "resnet", "vit", "swin"

// Every canonical name, ResNets first (resnet18, ..., resnet152_cifar, vit_b_16, ...).
std::vector<std::string> archs();
// The canonical name of `name` (an alias with '-' maps to its '_' spelling), or "" when unknown.
std::string canonical(const std::string& name);
// canonical(), or an ish::Error (exit 2) naming `name` and listing the known ones.
std::string require(const std::string& name);
Family family(const std::string& arch);  // arch: known (any spelling)
bool is_transformer(const std::string& arch);
// "resnet18|34|50|101|152 (or <arch>_cifar), vit_b_16|vit_b_32|..., swin_t|swin_s|swin_b" for help texts.
std::string archs_help();

// A randomly initialised model (num_classes <= 0: the arch's default of 1000).
std::unique_ptr<Net> create(const std::string& arch, int num_classes = -1, uint64_t seed = 0);
// The model w describes (w.meta resolved; a ViT's input size from its position embedding), loaded
// strictly from w.tensors, in eval mode on dev. A mismatch is one line plus a hint when the tensors
// point at another architecture.
std::unique_ptr<Net> open(const WeightsFile& w, Device dev);

}  // namespace ish::models::zoo
