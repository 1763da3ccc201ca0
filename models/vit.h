// torchvision's VisionTransformer (vit_b_16 and its family) built from engine ops, with torchvision's
// parameter names and layouts (conv_proj.weight held KRSC like every conv here; the file layout is
// torchvision's KCRS). Eval-mode numerics as torchvision 0.14: LayerNorm eps 1e-6, exact GELU,
// attention softmax(q k^T / sqrt(head_dim)) v with the heads' q, k, v from one packed in_proj.
//
//   auto m = models::VisionTransformer::create("vit_b_16");   // or "vit-b-16"
//   models::load_weights(m, "vit_b_16-c867db91.pth");         // strict; legacy mlp.linear_1/2 names too
//   m.eval(); auto out = m.forward(x);  // x [N,224,224,3] -> logits [N,1000], features [N,768]
//
// features are the class token after the encoder's final LayerNorm (signed; no ReLU), the input of the
// linear head (heads.head); head(features) gives the logits again.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "models/resnet.h"
#include "models/state_dict.h"

namespace ish::models {

struct ViTConfig {
  int image_size = 224, patch_size = 16;
  int num_layers = 12, num_heads = 12, hidden_dim = 768, mlp_dim = 3072;
  int num_classes = 1000;
  double ln_eps = 1e-6;  // torchvision's partial(nn.LayerNorm, eps=1e-6)
  uint64_t seed = 0;     // init RNG seed
  bool init = true;      // false: leave weights zero (they are about to be loaded)
};
// vit_b_16, vit_b_32, vit_l_16, vit_l_32, vit_h_14 (also spelled with '-', e.g. "vit-b-16").
// Throws ish::Error (exit 2) for another name.
ViTConfig vit_config_for(const std::string& arch);
std::vector<std::string> vit_archs();
bool is_vit_arch(const std::string& arch);

struct EncoderLayer {  // encoder.layers.encoder_layer_<i>
  Tensor ln1_w, ln1_b;                      // ln_1
  Tensor in_proj_w, in_proj_b;              // self_attention.in_proj_weight [3D, D], in_proj_bias [3D]
  Tensor out_proj_w, out_proj_b;            // self_attention.out_proj
  Tensor ln2_w, ln2_b;                      // ln_2
  Tensor mlp0_w, mlp0_b, mlp3_w, mlp3_b;    // mlp.0 (D -> mlp_dim), mlp.3 (mlp_dim -> D)
};

class VisionTransformer {
 public:
  explicit VisionTransformer(const ViTConfig& cfg, const std::string& arch = "vit");
  // num_classes <= 0 keeps the arch's default (1000). init = false skips the random init.
  static VisionTransformer create(const std::string& arch, int num_classes = -1, uint64_t seed = 0, bool init = true);

  struct Output {
    Tensor logits;    // [N, num_classes]
    Tensor features;  // [N, hidden_dim]: the class token after encoder.ln
  };
  // x: [N, image_size, image_size, 3] of the model's dtype, on the model's device.
  Output forward(const Tensor& x);
  Tensor head(const Tensor& features);  // the linear classifier heads.head

  // Dropout and stochastic depth are 0 in torchvision's ViT, so train mode computes what eval does.
  void train(bool on = true) { training_ = on; }
  void eval() { training_ = false; }
  bool training() const { return training_; }
  void to(Device dev);
  Device device() const { return device_; }
  void to(DType dt);  // F32 (default) or F64 (CPU)
  DType dtype() const { return dtype_; }

  const std::string& arch() const { return arch_; }
  const ViTConfig& config() const { return cfg_; }
  int feature_dim() const { return cfg_.hidden_dim; }
  int num_classes() const { return cfg_.num_classes; }

  // Every entry of the state in torchvision's state_dict order, as live handles (our layout).
  void visit(const std::function<void(const std::string& name, Tensor& t, EntryKind kind)>& fn);
  NamedTensors named_parameters();
  void zero_grad();

 private:
  void init_weights();
  Tensor attention(const Tensor& x, EncoderLayer& l);
  Tensor encoder_layer(const Tensor& x, EncoderLayer& l);

  ViTConfig cfg_;
  std::string arch_;
  bool training_ = false;
  Device device_ = Device::CPU;
  DType dtype_ = DType::F32;
  Tensor conv_w_, conv_b_;         // conv_proj [D,P,P,3] (KRSC), [D]
  Tensor class_token_;             // [1,1,D]
  Tensor pos_embedding_;           // encoder.pos_embedding [1,L,D]
  std::vector<EncoderLayer> layers_;
  Tensor ln_w_, ln_b_;             // encoder.ln
  Tensor head_w_, head_b_;         // heads.head [classes, D], [classes]
};

// State dicts in torchvision's names and layout (models/state_dict.h has the rules). Loading also
// accepts the names torchvision < 0.13 wrote (mlp.linear_1 / mlp.linear_2 for mlp.0 / mlp.3), as
// torchvision's own loader does for the published weights.
void load_state_dict(VisionTransformer& model, const NamedTensors& sd, const std::string& source,
                     const LoadOptions& opt = {});
NamedTensors state_dict(VisionTransformer& model);
void load_weights(VisionTransformer& model, const std::string& path, const LoadOptions& opt = {});
// A file of any class count, arch resolved from its tensors: models::zoo::open (models/zoo.h).
void save_weights(VisionTransformer& model, const std::string& path, std::map<std::string, std::string> metadata = {});

}  // namespace ish::models
