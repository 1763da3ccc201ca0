#include "models/vit.h"

#include <cmath>

#include "engine/ops.h"
#include "engine/rng.h"
#include "weights/load.h"
#include "weights/safetensors.h"

namespace ish::models {

namespace {
struct VitArch { const char* name; int patch, layers, heads, hidden, mlp; };
constexpr VitArch kVitArchs[] = {
    {"vit_b_16", 16, 12, 12, 768, 3072}, {"vit_b_32", 32, 12, 12, 768, 3072}, {"vit_l_16", 16, 24, 16, 1024, 4096},
    {"vit_l_32", 32, 24, 16, 1024, 4096}, {"vit_h_14", 14, 32, 16, 1280, 5120},
};
std::string canonical(std::string a) {
  for (char& c : a)
    if (c == '-') c = '_';
  return a;
}
}  // namespace

std::vector<std::string> vit_archs() {
  std::vector<std::string> v;
  for (const VitArch& a : kVitArchs) v.push_back(a.name);
  return v;
}

bool is_vit_arch(const std::string& arch) {
  for (const VitArch& a : kVitArchs)
    if (canonical(arch) == a.name) return true;
  return false;
}

ViTConfig vit_config_for(const std::string& arch) {
  for (const VitArch& a : kVitArchs)
    if (canonical(arch) == a.name) {
      ViTConfig c;
      c.patch_size = a.patch;
      c.num_layers = a.layers;
      c.num_heads = a.heads;
      c.hidden_dim = a.hidden;
      c.mlp_dim = a.mlp;
      return c;
    }
  std::string names;
  for (auto& n : vit_archs()) names += (names.empty() ? "" : ", ") + n;
  fail("unknown vision transformer '", arch, "' (known: ", names, ", also spelled with '-')");
}

VisionTransformer::VisionTransformer(const ViTConfig& cfg, const std::string& arch) : cfg_(cfg), arch_(arch) {
  ISH_CHECK(cfg.image_size > 0 && cfg.patch_size > 0 && cfg.image_size % cfg.patch_size == 0, arch,
            ": image size ", cfg.image_size, " is not a multiple of the patch size ", cfg.patch_size);
  ISH_CHECK(cfg.num_layers > 0 && cfg.num_heads > 0 && cfg.hidden_dim > 0 && cfg.hidden_dim % cfg.num_heads == 0 &&
                cfg.mlp_dim > 0 && cfg.num_classes > 0 && cfg.ln_eps >= 0,
            arch, ": bad config (layers ", cfg.num_layers, ", heads ", cfg.num_heads, ", hidden ", cfg.hidden_dim,
            ", mlp ", cfg.mlp_dim, ", classes ", cfg.num_classes, ")");
  const int64_t D = cfg.hidden_dim, P = cfg.patch_size, G = cfg.image_size / P, M = cfg.mlp_dim;
  conv_w_ = Tensor::zeros({D, P, P, 3});
  conv_b_ = Tensor::zeros({D});
  class_token_ = Tensor::zeros({1, 1, D});
  pos_embedding_ = Tensor::zeros({1, G * G + 1, D});
  for (int i = 0; i < cfg.num_layers; i++) {
    EncoderLayer l;
    l.ln1_w = Tensor::full({D}, 1.0);
    l.ln1_b = Tensor::zeros({D});
    l.in_proj_w = Tensor::zeros({3 * D, D});
    l.in_proj_b = Tensor::zeros({3 * D});
    l.out_proj_w = Tensor::zeros({D, D});
    l.out_proj_b = Tensor::zeros({D});
    l.ln2_w = Tensor::full({D}, 1.0);
    l.ln2_b = Tensor::zeros({D});
    l.mlp0_w = Tensor::zeros({M, D});
    l.mlp0_b = Tensor::zeros({M});
    l.mlp3_w = Tensor::zeros({D, M});
    l.mlp3_b = Tensor::zeros({D});
    layers_.push_back(std::move(l));
  }
  ln_w_ = Tensor::full({D}, 1.0);
  ln_b_ = Tensor::zeros({D});
  head_w_ = Tensor::zeros({cfg.num_classes, D});
  head_b_ = Tensor::zeros({cfg.num_classes});
  if (cfg.init) init_weights();
  visit([](const std::string& name, Tensor& t, EntryKind) {
    t.set_name(name);
    t.set_requires_grad(true);
  });
}

VisionTransformer VisionTransformer::create(const std::string& arch, int num_classes, uint64_t seed, bool init) {
  ViTConfig c = vit_config_for(arch);
  if (num_classes > 0) c.num_classes = num_classes;
  c.seed = seed;
  c.init = init;
  return VisionTransformer(c, canonical(arch));
}

// As torchvision: conv_proj truncated normal (std sqrt(1/fan_in), cut at +-2) and zero bias; class token
// zero; position embedding N(0, 0.02); in_proj and the MLP weights Xavier-uniform, out_proj nn.Linear's
// U(+-1/sqrt(in)), attention biases zero, MLP biases N(0, 1e-6); LayerNorms 1 and 0; the head zero.
void VisionTransformer::init_weights() {
  Rng rng(cfg_.seed);
  auto fill = [&](Tensor& t, const std::function<double()>& draw) {
    float* p = t.data<float>();
    for (int64_t i = 0, n = t.numel(); i < n; i++) p[i] = (float)draw();
  };
  auto xavier = [&](Tensor& w) {
    const double b = std::sqrt(6.0 / (double)(w.size(0) + w.size(1)));
    fill(w, [&] { return rng.uniform(-b, b); });
  };
  const double conv_std = std::sqrt(1.0 / (3.0 * cfg_.patch_size * cfg_.patch_size));
  fill(conv_w_, [&] {
    double v;
    do v = conv_std * rng.normal();
    while (v < -2.0 || v > 2.0);
    return v;
  });
  fill(pos_embedding_, [&] { return 0.02 * rng.normal(); });
  for (EncoderLayer& l : layers_) {
    xavier(l.in_proj_w);
    const double b = 1.0 / std::sqrt((double)cfg_.hidden_dim);
    fill(l.out_proj_w, [&] { return rng.uniform(-b, b); });
    xavier(l.mlp0_w);
    xavier(l.mlp3_w);
    fill(l.mlp0_b, [&] { return 1e-6 * rng.normal(); });
    fill(l.mlp3_b, [&] { return 1e-6 * rng.normal(); });
  }
}

void VisionTransformer::visit(const std::function<void(const std::string&, Tensor&, EntryKind)>& fn) {
  auto p = [&](const std::string& n, Tensor& t) { fn(n, t, EntryKind::Param); };
  p("class_token", class_token_);
  fn("conv_proj.weight", conv_w_, EntryKind::ConvWeight);
  p("conv_proj.bias", conv_b_);
  p("encoder.pos_embedding", pos_embedding_);
  for (size_t i = 0; i < layers_.size(); i++) {
    EncoderLayer& l = layers_[i];
    const std::string q = "encoder.layers.encoder_layer_" + std::to_string(i) + ".";
    p(q + "ln_1.weight", l.ln1_w);
    p(q + "ln_1.bias", l.ln1_b);
    p(q + "self_attention.in_proj_weight", l.in_proj_w);
    p(q + "self_attention.in_proj_bias", l.in_proj_b);
    p(q + "self_attention.out_proj.weight", l.out_proj_w);
    p(q + "self_attention.out_proj.bias", l.out_proj_b);
    p(q + "ln_2.weight", l.ln2_w);
    p(q + "ln_2.bias", l.ln2_b);
    p(q + "mlp.0.weight", l.mlp0_w);
    p(q + "mlp.0.bias", l.mlp0_b);
    p(q + "mlp.3.weight", l.mlp3_w);
    p(q + "mlp.3.bias", l.mlp3_b);
  }
  p("encoder.ln.weight", ln_w_);
  p("encoder.ln.bias", ln_b_);
  p("heads.head.weight", head_w_);
  p("heads.head.bias", head_b_);
}

NamedTensors VisionTransformer::named_parameters() {
  NamedTensors v;
  visit([&](const std::string& n, Tensor& t, EntryKind) { v.emplace_back(n, t); });
  return v;
}
void VisionTransformer::zero_grad() {
  visit([](const std::string&, Tensor& t, EntryKind) { t.grad() = Tensor(); });
}

void VisionTransformer::to(Device dev) {
  if (dev == device_) return;
  visit([&](const std::string& name, Tensor& t, EntryKind) {
    t = t.to(dev);
    t.set_name(name);
    t.set_requires_grad(true);
  });
  device_ = dev;
}

void VisionTransformer::to(DType dt) {
  ISH_CHECK(dt == DType::F32 || dt == DType::F64, arch_, ": model dtype must be F32 or F64, got ", dtype_name(dt));
  if (dt == dtype_) return;
  visit([&](const std::string& name, Tensor& t, EntryKind) {
    t = t.to(dt);
    t.set_name(name);
    t.set_requires_grad(true);
  });
  dtype_ = dt;
}

// nn.MultiheadAttention(D, H, batch_first=True) on x [N,L,D] as self-attention: q, k, v from the packed
// in_proj, heads folded into the batch, softmax(q k^T / sqrt(hd)) v, heads merged, out_proj.
Tensor VisionTransformer::attention(const Tensor& x, EncoderLayer& l) {
  const int64_t N = x.size(0), L = x.size(1), D = cfg_.hidden_dim, H = cfg_.num_heads, hd = D / H;
  Tensor qkv = ops::linear(x, l.in_proj_w, l.in_proj_b);                             // [N,L,3D]
  qkv = ops::permute(ops::reshape(qkv, {N, L, 3, H, hd}), {2, 0, 3, 1, 4});           // [3,N,H,L,hd]
  auto part = [&](int i) { return ops::reshape(ops::select(qkv, 0, i), {N * H, L, hd}); };
  // softmax(q k^T / sqrt(hd)): the scale is applied to the scores inside the fused softmax (torch scales
  // q; the same numbers when sqrt(hd) is a power of two, as for vit_b/vit_l's 64).
  Tensor s = ops::reshape(ops::bmm(part(0), part(1), false, true), {N, H, L, L});
  Tensor a = ops::reshape(ops::attention_softmax(s, 1.0 / std::sqrt((double)hd)), {N * H, L, L});
  Tensor o = ops::bmm(a, part(2));                                                    // [NH,L,hd]
  o = ops::reshape(ops::permute(ops::reshape(o, {N, H, L, hd}), {0, 2, 1, 3}), {N, L, D});
  return ops::linear(o, l.out_proj_w, l.out_proj_b);
}

// torchvision's EncoderBlock (dropouts are identity): x + attn(ln_1(x)), then + mlp(ln_2(.)).
Tensor VisionTransformer::encoder_layer(const Tensor& x, EncoderLayer& l) {
  Tensor h = ops::add(attention(ops::layer_norm(x, l.ln1_w, l.ln1_b, cfg_.ln_eps), l), x);
  Tensor y = ops::layer_norm(h, l.ln2_w, l.ln2_b, cfg_.ln_eps);
  y = ops::linear(ops::gelu(ops::linear(y, l.mlp0_w, l.mlp0_b)), l.mlp3_w, l.mlp3_b);
  return ops::add(h, y);
}

VisionTransformer::Output VisionTransformer::forward(const Tensor& x) {
  const int S = cfg_.image_size;
  ISH_CHECK(x.defined() && x.dim() == 4 && x.size(1) == S && x.size(2) == S && x.size(3) == 3, arch_,
            ": input must be NHWC [N,", S, ",", S, ",3], got ", x.defined() ? shape_str(x.shape()) : std::string("undefined"));
  ISH_CHECK(x.dtype() == dtype_, arch_, ": input must be ", dtype_name(dtype_), ", got ", dtype_name(x.dtype()));
  ISH_CHECK(x.device() == device_, arch_, ": input on ", device_name(x.device()), " but the model is on ",
            device_name(device_));
  const int64_t N = x.size(0), D = cfg_.hidden_dim, G = S / cfg_.patch_size;
  // Patches: the P x P / P conv in NHWC gives the tokens in torchvision's order (row-major over the grid).
  Tensor h = ops::conv2d(x, conv_w_, conv_b_, ops::Conv2dParams::make(cfg_.patch_size, 0));
  h = ops::cat({ops::expand0(class_token_, N), ops::reshape(h, {N, G * G, D})}, 1);  // [N,L,D]
  h = ops::add_broadcast(h, pos_embedding_);
  for (EncoderLayer& l : layers_) h = encoder_layer(h, l);
  // encoder.ln is per token: only the class token is needed.
  Output out;
  out.features = ops::layer_norm(ops::select(h, 1, 0), ln_w_, ln_b_, cfg_.ln_eps);
  out.logits = head(out.features);
  return out;
}

Tensor VisionTransformer::head(const Tensor& features) { return ops::linear(features, head_w_, head_b_); }

// ---- state dicts ----

namespace {
// torchvision < 0.13 named the MLP's linears mlp.linear_1 / mlp.linear_2 (its loader renames them).
std::string modern_name(const std::string& n) {
  if (n.find("encoder.layers.") == std::string::npos) return n;
  for (const auto& [from, to] : {std::pair<std::string, std::string>{".mlp.linear_1.", ".mlp.0."},
                                 {".mlp.linear_2.", ".mlp.3."}}) {
    const size_t at = n.find(from);
    if (at != std::string::npos) return n.substr(0, at) + to + n.substr(at + from.size());
  }
  return n;
}
}  // namespace

void load_state_dict(VisionTransformer& model, const NamedTensors& sd, const std::string& source,
                     const LoadOptions& opt) {
  NamedTensors renamed;
  renamed.reserve(sd.size());
  for (const auto& [n, t] : sd) renamed.emplace_back(modern_name(n), t);
  load_state_dict(state_view(model), renamed, source, opt);
}

NamedTensors state_dict(VisionTransformer& model) { return state_dict(state_view(model)); }

void load_weights(VisionTransformer& model, const std::string& path, const LoadOptions& opt) {
  load_state_dict(model, weights::load_any(path), path, opt);
}

void save_weights(VisionTransformer& model, const std::string& path, std::map<std::string, std::string> metadata) {
  metadata["format"] = "pt";
  metadata["arch"] = model.arch();
  st::save(path, state_dict(model), metadata);
}

}  // namespace ish::models
