// torchvision's SwinTransformer (swin_t, swin_s, swin_b) built from engine ops, with torchvision's
// parameter names and layouts (features.0.0.weight held KRSC like every conv here; the file layout is
// torchvision's KCRS). Numerics as torchvision 0.14's shifted_window_attention: each block pads its map
// with zeros to window multiples (bottom/right), shifts by half a window on odd blocks (no shift along a
// dim whose padded size is at most the window), attends in windows with q scaled by head_dim^-0.5, the
// relative position bias and, when shifted, the -100 region mask; PatchMerging pads odd sizes. LayerNorm
// eps 1e-5, exact GELU.
//
//   auto m = models::SwinTransformer::create("swin_t");    // or "swin-t"
//   models::load_weights(m, "swin_t-704ceda3.pth");         // strict
//   m.eval(); auto out = m.forward(x);  // x [N,224,224,3] -> logits [N,1000], features [N,768]
//
// features are the mean over H, W of the final LayerNorm's output (signed; no ReLU), the input of the
// linear head; head(features) gives the logits again. Any input size of at least one patch is accepted.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "models/resnet.h"
#include "models/state_dict.h"

namespace ish::models {

struct SwinConfig {
  int patch_size = 4, embed_dim = 96;
  std::vector<int> depths{2, 2, 6, 2};       // blocks per stage; stage s has embed_dim * 2^s channels
  std::vector<int> num_heads{3, 6, 12, 24};  // per stage
  int window_h = 7, window_w = 7;
  double mlp_ratio = 4.0;                    // MLP hidden width int(dim * mlp_ratio), as torchvision
  int num_classes = 1000;
  double ln_eps = 1e-5;  // torchvision's partial(nn.LayerNorm, eps=1e-5)
  uint64_t seed = 0;     // init RNG seed
  bool init = true;      // false: leave weights zero (they are about to be loaded)
};
// swin_t, swin_s, swin_b (also spelled with '-', e.g. "swin-t"). Throws ish::Error (exit 2) for another name.
SwinConfig swin_config_for(const std::string& arch);
std::vector<std::string> swin_archs();
bool is_swin_arch(const std::string& arch);

struct SwinBlock {  // features.<2s+1>.<i>
  Tensor norm1_w, norm1_b;
  Tensor table;                   // attn.relative_position_bias_table [(2wh-1)(2ww-1), heads]
  Tensor index;                   // attn.relative_position_index I64 [N*N] (a buffer, on the model's device)
  Tensor qkv_w, qkv_b;            // attn.qkv [3C, C], [3C]
  Tensor proj_w, proj_b;          // attn.proj [C, C], [C]
  Tensor norm2_w, norm2_b;
  Tensor mlp0_w, mlp0_b, mlp3_w, mlp3_b;  // mlp.0 (C -> hidden), mlp.3 (hidden -> C)
  int heads = 1;
  bool shifted = false;  // odd blocks shift by half a window
};
struct PatchMerge {  // features.<2s+2>
  Tensor reduction_w;  // [2C, 4C], no bias
  Tensor norm_w, norm_b;  // [4C]
};

class SwinTransformer {
 public:
  explicit SwinTransformer(const SwinConfig& cfg, const std::string& arch = "swin");
  // num_classes <= 0 keeps the arch's default (1000). init = false skips the random init.
  static SwinTransformer create(const std::string& arch, int num_classes = -1, uint64_t seed = 0, bool init = true);

  struct Output {
    Tensor logits;    // [N, num_classes]
    Tensor features;  // [N, feature_dim()]: the mean over H, W after the final norm
  };
  // x: [N, H, W, 3] of the model's dtype, on the model's device (H, W >= patch_size; 224 x 224 for ImageNet).
  Output forward(const Tensor& x);
  Tensor head(const Tensor& features);  // the linear classifier `head`

  // Stochastic depth and dropout are identity here, so train mode computes what eval does.
  void train(bool on = true) { training_ = on; }
  void eval() { training_ = false; }
  bool training() const { return training_; }
  void to(Device dev);
  Device device() const { return device_; }
  void to(DType dt);  // F32 (default) or F64 (CPU)
  DType dtype() const { return dtype_; }

  const std::string& arch() const { return arch_; }
  const SwinConfig& config() const { return cfg_; }
  int feature_dim() const;  // embed_dim * 2^(stages-1): 768 for swin_t
  int num_classes() const { return cfg_.num_classes; }

  // Every entry of the state in torchvision's state_dict order, as live handles (our layout); the
  // relative position indices come as EntryKind::Index.
  void visit(const std::function<void(const std::string& name, Tensor& t, EntryKind kind)>& fn);
  NamedTensors named_parameters();  // the trainable tensors (no index buffers)
  void zero_grad();

 private:
  void init_weights();
  Tensor attention(const Tensor& x, SwinBlock& b);
  Tensor block(const Tensor& x, SwinBlock& b);
  Tensor merge(const Tensor& x, PatchMerge& m);
  const Tensor& mask(int64_t H, int64_t W, int sh, int sw);

  SwinConfig cfg_;
  std::string arch_;
  bool training_ = false;
  Device device_ = Device::CPU;
  DType dtype_ = DType::F32;
  Tensor conv_w_, conv_b_;  // features.0.0 [C,P,P,3] (KRSC), [C]
  Tensor embed_norm_w_, embed_norm_b_;  // features.0.2
  std::vector<std::vector<SwinBlock>> stages_;
  std::vector<PatchMerge> merges_;  // after every stage but the last
  Tensor norm_w_, norm_b_;          // norm
  Tensor head_w_, head_b_;          // head [classes, F], [classes]
  // Shift masks [nW, N, N] by (padded H, W, shift h, shift w), on the model's device and dtype.
  std::map<std::tuple<int64_t, int64_t, int, int>, Tensor> masks_;
};

// State dicts in torchvision's names and layout (models/state_dict.h has the rules; the index buffers
// must equal torchvision's, I64).
void load_state_dict(SwinTransformer& model, const NamedTensors& sd, const std::string& source,
                     const LoadOptions& opt = {});
NamedTensors state_dict(SwinTransformer& model);
void load_weights(SwinTransformer& model, const std::string& path, const LoadOptions& opt = {});
// A file of any class count, arch resolved from its tensors: models::zoo::open (models/zoo.h).
void save_weights(SwinTransformer& model, const std::string& path, std::map<std::string, std::string> metadata = {});

}  // namespace ish::models
