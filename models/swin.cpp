#include "models/swin.h"

#include <cmath>

#include "engine/ops.h"
#include "engine/rng.h"
#include "weights/load.h"
#include "weights/safetensors.h"

namespace ish::models {

namespace {
struct SwinArch { const char* name; int embed; int depths[4]; int heads[4]; };
constexpr SwinArch kSwinArchs[] = {
    {"swin_t", 96, {2, 2, 6, 2}, {3, 6, 12, 24}},
    {"swin_s", 96, {2, 2, 18, 2}, {3, 6, 12, 24}},
    {"swin_b", 128, {2, 2, 18, 2}, {4, 8, 16, 32}},
};
std::string canonical(std::string a) {
  for (char& c : a)
    if (c == '-') c = '_';
  return a;
}
// x [B,H,W,C] with `down` zero rows appended at the bottom and `right` zero columns at the right (F.pad).
Tensor pad_br(const Tensor& x, int64_t down, int64_t right) {
  Tensor y = x;
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  if (down > 0) y = ops::cat({y, Tensor::zeros({B, down, W, C}, x.dtype(), x.device())}, 1);
  if (right > 0) y = ops::cat({y, Tensor::zeros({B, H + down, right, C}, x.dtype(), x.device())}, 2);
  return y;
}
}  // namespace

std::vector<std::string> swin_archs() {
  std::vector<std::string> v;
  for (const SwinArch& a : kSwinArchs) v.push_back(a.name);
  return v;
}

bool is_swin_arch(const std::string& arch) {
  for (const SwinArch& a : kSwinArchs)
    if (canonical(arch) == a.name) return true;
  return false;
}

SwinConfig swin_config_for(const std::string& arch) {
  for (const SwinArch& a : kSwinArchs)
    if (canonical(arch) == a.name) {
      SwinConfig c;
      c.embed_dim = a.embed;
      c.depths.assign(a.depths, a.depths + 4);
      c.num_heads.assign(a.heads, a.heads + 4);
      return c;
    }
  std::string names;
  for (auto& n : swin_archs()) names += (names.empty() ? "" : ", ") + n;
  fail("unknown swin transformer '", arch, "' (known: ", names, ", also spelled with '-')");
}

SwinTransformer::SwinTransformer(const SwinConfig& cfg, const std::string& arch) : cfg_(cfg), arch_(arch) {
  const size_t S = cfg.depths.size();
  bool ok = S > 0 && S < 16 && cfg.num_heads.size() == S && cfg.patch_size > 0 && cfg.embed_dim > 0 &&
            cfg.window_h > 0 && cfg.window_w > 0 && cfg.mlp_ratio > 0 && cfg.num_classes > 0 && cfg.ln_eps >= 0;
  for (size_t s = 0; ok && s < S; s++) {
    const int64_t C = (int64_t)cfg.embed_dim << s;
    ok = cfg.depths[s] > 0 && cfg.num_heads[s] > 0 && C % cfg.num_heads[s] == 0 && (int64_t)(C * cfg.mlp_ratio) > 0;
  }
  ISH_CHECK(ok, arch, ": bad config (embed ", cfg.embed_dim, ", ", S, " stages, ", cfg.num_heads.size(),
            " head counts, window ", cfg.window_h, "x", cfg.window_w, ", patch ", cfg.patch_size, ", classes ",
            cfg.num_classes, "; every stage's width must divide by its heads)");
  const int64_t E = cfg.embed_dim, P = cfg.patch_size;
  const int64_t T = (2 * cfg.window_h - 1) * (2 * cfg.window_w - 1);
  conv_w_ = Tensor::zeros({E, P, P, 3});
  conv_b_ = Tensor::zeros({E});
  embed_norm_w_ = Tensor::full({E}, 1.0);
  embed_norm_b_ = Tensor::zeros({E});
  const Tensor index = ops::relative_position_index(cfg.window_h, cfg.window_w);
  for (size_t s = 0; s < S; s++) {
    const int64_t C = E << s, M = (int64_t)(C * cfg.mlp_ratio), heads = cfg.num_heads[s];
    std::vector<SwinBlock> stage;
    for (int i = 0; i < cfg.depths[s]; i++) {
      SwinBlock b;
      b.norm1_w = Tensor::full({C}, 1.0);
      b.norm1_b = Tensor::zeros({C});
      b.table = Tensor::zeros({T, heads});
      b.index = index.clone();
      b.qkv_w = Tensor::zeros({3 * C, C});
      b.qkv_b = Tensor::zeros({3 * C});
      b.proj_w = Tensor::zeros({C, C});
      b.proj_b = Tensor::zeros({C});
      b.norm2_w = Tensor::full({C}, 1.0);
      b.norm2_b = Tensor::zeros({C});
      b.mlp0_w = Tensor::zeros({M, C});
      b.mlp0_b = Tensor::zeros({M});
      b.mlp3_w = Tensor::zeros({C, M});
      b.mlp3_b = Tensor::zeros({C});
      b.heads = (int)heads;
      b.shifted = i % 2 == 1;
      stage.push_back(std::move(b));
    }
    stages_.push_back(std::move(stage));
    if (s + 1 < S) {
      PatchMerge m;
      m.reduction_w = Tensor::zeros({2 * C, 4 * C});
      m.norm_w = Tensor::full({4 * C}, 1.0);
      m.norm_b = Tensor::zeros({4 * C});
      merges_.push_back(std::move(m));
    }
  }
  const int64_t F = feature_dim();
  norm_w_ = Tensor::full({F}, 1.0);
  norm_b_ = Tensor::zeros({F});
  head_w_ = Tensor::zeros({cfg.num_classes, F});
  head_b_ = Tensor::zeros({cfg.num_classes});
  if (cfg.init) init_weights();
  visit([](const std::string& name, Tensor& t, EntryKind kind) {
    t.set_name(name);
    t.set_requires_grad(kind != EntryKind::Index);
  });
}

SwinTransformer SwinTransformer::create(const std::string& arch, int num_classes, uint64_t seed, bool init) {
  SwinConfig c = swin_config_for(arch);
  if (num_classes > 0) c.num_classes = num_classes;
  c.seed = seed;
  c.init = init;
  return SwinTransformer(c, canonical(arch));
}

int SwinTransformer::feature_dim() const { return cfg_.embed_dim << (cfg_.depths.size() - 1); }

// As torchvision: every Linear (qkv, proj, MLP, reduction, head) truncated normal std 0.02 with zero
// bias, the bias tables truncated normal std 0.02 (cut at +-2), the patch conv nn.Conv2d's default
// U(+-1/sqrt(fan_in)) for weight and bias, LayerNorms 1 and 0.
void SwinTransformer::init_weights() {
  Rng rng(cfg_.seed);
  auto fill = [&](Tensor& t, const std::function<double()>& draw) {
    float* p = t.data<float>();
    for (int64_t i = 0, n = t.numel(); i < n; i++) p[i] = (float)draw();
  };
  auto trunc = [&](Tensor& t) {
    fill(t, [&] {
      double v;
      do v = 0.02 * rng.normal();
      while (v < -2.0 || v > 2.0);
      return v;
    });
  };
  const double b = 1.0 / std::sqrt(3.0 * cfg_.patch_size * cfg_.patch_size);
  fill(conv_w_, [&] { return rng.uniform(-b, b); });
  fill(conv_b_, [&] { return rng.uniform(-b, b); });
  for (size_t s = 0; s < stages_.size(); s++) {
    for (SwinBlock& k : stages_[s]) {
      trunc(k.table);
      trunc(k.qkv_w);
      trunc(k.proj_w);
      trunc(k.mlp0_w);
      trunc(k.mlp3_w);
    }
    if (s < merges_.size()) trunc(merges_[s].reduction_w);
  }
  trunc(head_w_);
}

void SwinTransformer::visit(const std::function<void(const std::string&, Tensor&, EntryKind)>& fn) {
  auto p = [&](const std::string& n, Tensor& t) { fn(n, t, EntryKind::Param); };
  fn("features.0.0.weight", conv_w_, EntryKind::ConvWeight);
  p("features.0.0.bias", conv_b_);
  p("features.0.2.weight", embed_norm_w_);
  p("features.0.2.bias", embed_norm_b_);
  for (size_t s = 0; s < stages_.size(); s++) {
    for (size_t i = 0; i < stages_[s].size(); i++) {
      SwinBlock& b = stages_[s][i];
      const std::string q = "features." + std::to_string(2 * s + 1) + "." + std::to_string(i) + ".";
      p(q + "norm1.weight", b.norm1_w);
      p(q + "norm1.bias", b.norm1_b);
      // A module's own parameters and buffers come before its children's in torch's state_dict.
      p(q + "attn.relative_position_bias_table", b.table);
      fn(q + "attn.relative_position_index", b.index, EntryKind::Index);
      p(q + "attn.qkv.weight", b.qkv_w);
      p(q + "attn.qkv.bias", b.qkv_b);
      p(q + "attn.proj.weight", b.proj_w);
      p(q + "attn.proj.bias", b.proj_b);
      p(q + "norm2.weight", b.norm2_w);
      p(q + "norm2.bias", b.norm2_b);
      p(q + "mlp.0.weight", b.mlp0_w);
      p(q + "mlp.0.bias", b.mlp0_b);
      p(q + "mlp.3.weight", b.mlp3_w);
      p(q + "mlp.3.bias", b.mlp3_b);
    }
    if (s < merges_.size()) {
      const std::string q = "features." + std::to_string(2 * s + 2) + ".";
      p(q + "reduction.weight", merges_[s].reduction_w);
      p(q + "norm.weight", merges_[s].norm_w);
      p(q + "norm.bias", merges_[s].norm_b);
    }
  }
  p("norm.weight", norm_w_);
  p("norm.bias", norm_b_);
  p("head.weight", head_w_);
  p("head.bias", head_b_);
}

NamedTensors SwinTransformer::named_parameters() {
  NamedTensors v;
  visit([&](const std::string& n, Tensor& t, EntryKind k) {
    if (k != EntryKind::Index) v.emplace_back(n, t);
  });
  return v;
}
void SwinTransformer::zero_grad() {
  visit([](const std::string&, Tensor& t, EntryKind) { t.grad() = Tensor(); });
}

void SwinTransformer::to(Device dev) {
  if (dev == device_) return;
  visit([&](const std::string& name, Tensor& t, EntryKind kind) {
    t = t.to(dev);
    t.set_name(name);
    t.set_requires_grad(kind != EntryKind::Index);
  });
  masks_.clear();
  device_ = dev;
}

void SwinTransformer::to(DType dt) {
  ISH_CHECK(dt == DType::F32 || dt == DType::F64, arch_, ": model dtype must be F32 or F64, got ", dtype_name(dt));
  if (dt == dtype_) return;
  visit([&](const std::string& name, Tensor& t, EntryKind kind) {
    if (kind == EntryKind::Index) return;  // stays I64
    t = t.to(dt);
    t.set_name(name);
    t.set_requires_grad(true);
  });
  masks_.clear();
  dtype_ = dt;
}

// The shifted-window mask of a padded H x W map, [nW, N, N] (ops::attention_softmax broadcasts it over
// the batch and the heads), cached on the model's device and dtype.
const Tensor& SwinTransformer::mask(int64_t H, int64_t W, int sh, int sw) {
  auto key = std::make_tuple(H, W, sh, sw);
  auto it = masks_.find(key);
  if (it != masks_.end()) return it->second;
  NoGradGuard ng;
  Tensor m = ops::shifted_window_mask(H, W, cfg_.window_h, cfg_.window_w, sh, sw, dtype_);
  return masks_.emplace(key, m.to(device_)).first->second;
}

// torchvision 0.14's shifted_window_attention on x [B,H,W,C], all windows and heads in one bmm.
Tensor SwinTransformer::attention(const Tensor& x, SwinBlock& b) {
  const int wh = cfg_.window_h, ww = cfg_.window_w;
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3), N = (int64_t)wh * ww;
  const int64_t heads = b.heads, hd = C / heads;
  const int64_t Hp = (H + wh - 1) / wh * wh, Wp = (W + ww - 1) / ww * ww;
  Tensor h = pad_br(x, Hp - H, Wp - W);
  // No shift along a dim the (padded) map fits into one window of.
  const int sh = b.shifted && wh < Hp ? wh / 2 : 0, sw = b.shifted && ww < Wp ? ww / 2 : 0;
  if (sh) h = ops::roll(h, 1, -sh);
  if (sw) h = ops::roll(h, 2, -sw);
  Tensor win = ops::window_partition(h, wh, ww);  // [B*nW, N, C]
  const int64_t Bw = win.size(0);
  Tensor qkv = ops::linear(win, b.qkv_w, b.qkv_b);
  qkv = ops::permute(ops::reshape(qkv, {Bw, N, 3, heads, hd}), {2, 0, 3, 1, 4});  // [3,Bw,heads,N,hd]
  auto part = [&](int i) { return ops::reshape(ops::select(qkv, 0, i), {Bw * heads, N, hd}); };
  // softmax(q k^T * hd^-0.5 + bias[head] + mask[window]) in one fused op (torchvision scales q first: the
  // same value within fp32 rounding).
  Tensor attn = ops::reshape(ops::bmm(part(0), part(1), false, true), {Bw, heads, N, N});
  Tensor bias = ops::permute(ops::reshape(ops::index_select0(b.table, b.index), {N, N, heads}), {2, 0, 1});
  attn = ops::attention_softmax(attn, std::pow((double)hd, -0.5), bias, sh || sw ? mask(Hp, Wp, sh, sw) : Tensor());
  attn = ops::reshape(attn, {Bw * heads, N, N});
  Tensor o = ops::reshape(ops::bmm(attn, part(2)), {Bw, heads, N, hd});
  o = ops::reshape(ops::permute(o, {0, 2, 1, 3}), {Bw, N, C});
  h = ops::window_merge(ops::linear(o, b.proj_w, b.proj_b), B, Hp, Wp, wh, ww);
  if (sh) h = ops::roll(h, 1, sh);
  if (sw) h = ops::roll(h, 2, sw);
  if (Hp != H) h = ops::narrow(h, 1, 0, H);
  if (Wp != W) h = ops::narrow(h, 2, 0, W);
  return h;
}

// SwinTransformerBlock (stochastic depth and dropout are identity): x + attn(norm1(x)), + mlp(norm2(.)).
Tensor SwinTransformer::block(const Tensor& x, SwinBlock& b) {
  Tensor h = ops::add(x, attention(ops::layer_norm(x, b.norm1_w, b.norm1_b, cfg_.ln_eps), b));
  Tensor y = ops::layer_norm(h, b.norm2_w, b.norm2_b, cfg_.ln_eps);
  y = ops::linear(ops::gelu(ops::linear(y, b.mlp0_w, b.mlp0_b)), b.mlp3_w, b.mlp3_b);
  return ops::add(h, y);
}

// PatchMerging: odd sizes padded by one zero row/column, the 2x2 gather, norm over 4C, reduction to 2C.
Tensor SwinTransformer::merge(const Tensor& x, PatchMerge& m) {
  Tensor h = ops::patch_merge_gather(pad_br(x, x.size(1) % 2, x.size(2) % 2));
  return ops::linear(ops::layer_norm(h, m.norm_w, m.norm_b, cfg_.ln_eps), m.reduction_w, Tensor());
}

SwinTransformer::Output SwinTransformer::forward(const Tensor& x) {
  const int P = cfg_.patch_size;
  ISH_CHECK(x.defined() && x.dim() == 4 && x.size(1) >= P && x.size(2) >= P && x.size(3) == 3, arch_,
            ": input must be NHWC [N,H,W,3] with H, W >= ", P, ", got ",
            x.defined() ? shape_str(x.shape()) : std::string("undefined"));
  ISH_CHECK(x.dtype() == dtype_, arch_, ": input must be ", dtype_name(dtype_), ", got ", dtype_name(x.dtype()));
  ISH_CHECK(x.device() == device_, arch_, ": input on ", device_name(x.device()), " but the model is on ",
            device_name(device_));
  Tensor h = ops::conv2d(x, conv_w_, conv_b_, ops::Conv2dParams::make(P, 0));  // [N, H/P, W/P, E]
  h = ops::layer_norm(h, embed_norm_w_, embed_norm_b_, cfg_.ln_eps);
  for (size_t s = 0; s < stages_.size(); s++) {
    for (SwinBlock& b : stages_[s]) h = block(h, b);
    if (s < merges_.size()) h = merge(h, merges_[s]);
  }
  Output out;
  out.features = ops::global_avg_pool(ops::layer_norm(h, norm_w_, norm_b_, cfg_.ln_eps));
  out.logits = head(out.features);
  return out;
}

Tensor SwinTransformer::head(const Tensor& features) { return ops::linear(features, head_w_, head_b_); }

// ---- state dicts ----

void load_state_dict(SwinTransformer& model, const NamedTensors& sd, const std::string& source,
                     const LoadOptions& opt) {
  load_state_dict(state_view(model), sd, source, opt);
}

NamedTensors state_dict(SwinTransformer& model) { return state_dict(state_view(model)); }

void load_weights(SwinTransformer& model, const std::string& path, const LoadOptions& opt) {
  load_state_dict(model, weights::load_any(path), path, opt);
}

void save_weights(SwinTransformer& model, const std::string& path, std::map<std::string, std::string> metadata) {
  metadata["format"] = "pt";
  metadata["arch"] = model.arch();
  st::save(path, state_dict(model), metadata);
}

}  // namespace ish::models
