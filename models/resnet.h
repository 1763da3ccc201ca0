// The ResNet family, torchvision v1.5 layout (the stride sits on the 3x3 conv of a Bottleneck) and
// parameter names, built only from engine ops. Activations are NHWC; conv weights are held KRSC
// (models/state_dict.h converts to and from torchvision's KCRS).
//
//   auto m = models::ResNet::create("resnet50");          // 1000 classes, ImageNet stem
//   models::load_weights(m, "resnet50.safetensors");       // strict, models/state_dict.h
//   m.eval(); auto out = m.forward(x);                     // x [N,224,224,3] -> logits [N,1000], features [N,2048]
//
// CIFAR-style variants (arch "resnet18_cifar", ...) use a 3x3 stride-1 conv1 and no max pool, for small
// inputs such as 28x28 Fashion-MNIST; width, classes and input channels are configurable.
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace ish::models {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct ResNetConfig {
  bool bottleneck = true;             // Bottleneck (50/101/152) or BasicBlock (18/34)
  std::vector<int> layers{3, 4, 6, 3};  // blocks per stage
  int num_classes = 1000;
  int in_channels = 3;
  int width = 64;                      // stem width; stage s has width * 2^s planes
  bool cifar_stem = false;             // 3x3/1 conv1, no max pool
  bool zero_init_residual = false;     // last BN of each block starts at gamma = 0 (torchvision option)
  uint64_t seed = 0;                   // init RNG seed
  bool init = true;                    // false: leave weights zero (they are about to be loaded)
};
// "resnet18|34|50|101|152" and "<arch>_cifar". Throws ish::Error (exit 2) for an unknown name.
ResNetConfig config_for(const std::string& arch);
std::vector<std::string> known_archs();

// What a state entry is: its role decides layout conversion, dtype and whether it gets gradients.
// Counter = num_batches_tracked (I64, []); Index = a constant I64 buffer the file must hold exactly
// (Swin's relative_position_index).
enum class EntryKind { ConvWeight, Param, Buffer, Counter, Index };

struct Conv {
  Tensor weight;  // [K,R,S,C]
  int stride = 1, pad = 0;
};
struct BatchNorm {
  Tensor weight, bias, running_mean, running_var;
  Tensor num_batches_tracked;  // I64 [] on the host, whatever the model's device
};
struct Block {
  Conv conv1, conv2, conv3;  // conv3/bn3 only in a Bottleneck
  BatchNorm bn1, bn2, bn3;
  bool has_downsample = false;
  Conv ds_conv;  // downsample.0
  BatchNorm ds_bn;  // downsample.1
};

class ResNet {
 public:
  explicit ResNet(const ResNetConfig& cfg, const std::string& arch = "resnet");
  // num_classes <= 0 keeps the arch's default (1000). init = false skips the random init.
  static ResNet create(const std::string& arch, int num_classes = -1, uint64_t seed = 0, bool init = true);

  struct Output {
    Tensor logits;    // [N, num_classes]
    Tensor features;  // [N, feature_dim()]: the pooled penultimate activation
  };
  // x: [N,H,W,in_channels] of the model's dtype, on the model's device. Train mode uses batch statistics and updates
  // the running ones (and num_batches_tracked), as torch does.
  Output forward(const Tensor& x);

  // ISH: when set (and grad mode is on), fc's weight gradient is computed from hook(features)
  // instead of features (ops::linear's wgrad_input); the forward result and other gradients are unchanged.
  std::function<Tensor(const Tensor& features)> fc_wgrad_hook;

  void train(bool on = true) { training_ = on; }
  void eval() { training_ = false; }
  bool training() const { return training_; }
  void to(Device dev);  // moves parameters and running stats; num_batches_tracked stays on the host
  Device device() const { return device_; }
  // Float dtype of parameters and running stats (F32 by default; F64 on the CPU for exact checks).
  void to(DType dt);
  DType dtype() const { return dtype_; }

  const std::string& arch() const { return arch_; }
  const ResNetConfig& config() const { return cfg_; }
  int feature_dim() const;
  int num_classes() const { return cfg_.num_classes; }

  // Every entry of the state, in torchvision's state_dict order, as live handles (our layout).
  void visit(const std::function<void(const std::string& name, Tensor& t, EntryKind kind)>& fn);
  NamedTensors named_parameters();  // requires_grad tensors (optimizer groups: match by name)
  NamedTensors named_buffers();
  void zero_grad();                 // resets every parameter's accumulated gradient

 private:
  void init_weights();
  Tensor conv_bn(const Tensor& x, Conv& c, BatchNorm& bn, bool relu, const Tensor& residual = Tensor());
  Tensor block_forward(const Tensor& x, Block& b);

  ResNetConfig cfg_;
  std::string arch_;
  bool training_ = false;
  Device device_ = Device::CPU;
  DType dtype_ = DType::F32;
  Conv conv1_;
  BatchNorm bn1_;
  std::vector<std::vector<Block>> stages_;
  Tensor fc_weight_, fc_bias_;  // [classes, features], [classes]
};

}  // namespace ish::models
