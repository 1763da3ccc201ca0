#include "models/resnet.h"

#include <cmath>
#include <map>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/ops_fused.h"
#include "engine/rng.h"

namespace ish::models {

ResNetConfig config_for(const std::string& arch) {
  static const std::map<std::string, std::pair<bool, std::vector<int>>> kArchs = {
      {"resnet18", {false, {2, 2, 2, 2}}},  {"resnet34", {false, {3, 4, 6, 3}}},
      {"resnet50", {true, {3, 4, 6, 3}}},   {"resnet101", {true, {3, 4, 23, 3}}},
      {"resnet152", {true, {3, 8, 36, 3}}},
  };
  std::string base = arch;
  bool cifar = false;
  const std::string suffix = "_cifar";
  if (base.size() > suffix.size() && base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0) {
    base.resize(base.size() - suffix.size());
    cifar = true;
  }
  auto it = kArchs.find(base);
  if (it == kArchs.end()) {
    std::string names;
    for (auto& n : known_archs()) names += (names.empty() ? "" : ", ") + n;
    fail("unknown --arch '", arch, "' (known: ", names, ")");
  }
  ResNetConfig c;
  c.bottleneck = it->second.first;
  c.layers = it->second.second;
  c.cifar_stem = cifar;
  return c;
}

std::vector<std::string> known_archs() {
  std::vector<std::string> v;
  for (const char* a : {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152"}) {
    v.push_back(a);
    v.push_back(std::string(a) + "_cifar");
  }
  return v;
}

namespace {
Conv make_conv(int cin, int cout, int k, int stride, int pad) {
  Conv c;
  c.weight = Tensor::zeros({cout, k, k, cin});
  c.stride = stride;
  c.pad = pad;
  return c;
}
BatchNorm make_bn(int c) {
  BatchNorm b;
  b.weight = Tensor::full({c}, 1.0);
  b.bias = Tensor::zeros({c});
  b.running_mean = Tensor::zeros({c});
  b.running_var = Tensor::full({c}, 1.0);
  b.num_batches_tracked = Tensor::zeros({}, DType::I64);
  return b;
}
}  // namespace

ResNet::ResNet(const ResNetConfig& cfg, const std::string& arch) : cfg_(cfg), arch_(arch) {
  ISH_CHECK(cfg.layers.size() == 4, arch, ": a ResNet has 4 stages, got ", cfg.layers.size());
  ISH_CHECK(cfg.num_classes > 0 && cfg.in_channels > 0 && cfg.width > 0, arch, ": bad config (classes ",
            cfg.num_classes, ", in_channels ", cfg.in_channels, ", width ", cfg.width, ")");
  const int expansion = cfg.bottleneck ? 4 : 1;
  conv1_ = cfg.cifar_stem ? make_conv(cfg.in_channels, cfg.width, 3, 1, 1) : make_conv(cfg.in_channels, cfg.width, 7, 2, 3);
  bn1_ = make_bn(cfg.width);
  int inplanes = cfg.width;
  for (int s = 0; s < 4; s++) {
    const int planes = cfg.width << s;
    const int stride = s == 0 ? 1 : 2;
    std::vector<Block> blocks;
    for (int i = 0; i < cfg.layers[s]; i++) {
      const int st = i == 0 ? stride : 1;
      Block b;
      if (cfg.bottleneck) {
        b.conv1 = make_conv(inplanes, planes, 1, 1, 0);
        b.conv2 = make_conv(planes, planes, 3, st, 1);  // v1.5: the stride is on the 3x3
        b.conv3 = make_conv(planes, planes * expansion, 1, 1, 0);
        b.bn1 = make_bn(planes);
        b.bn2 = make_bn(planes);
        b.bn3 = make_bn(planes * expansion);
      } else {
        b.conv1 = make_conv(inplanes, planes, 3, st, 1);
        b.conv2 = make_conv(planes, planes, 3, 1, 1);
        b.bn1 = make_bn(planes);
        b.bn2 = make_bn(planes);
      }
      if (st != 1 || inplanes != planes * expansion) {
        b.has_downsample = true;
        b.ds_conv = make_conv(inplanes, planes * expansion, 1, st, 0);
        b.ds_bn = make_bn(planes * expansion);
      }
      inplanes = planes * expansion;
      blocks.push_back(std::move(b));
    }
    stages_.push_back(std::move(blocks));
  }
  fc_weight_ = Tensor::zeros({cfg.num_classes, inplanes});
  fc_bias_ = Tensor::zeros({cfg.num_classes});
  if (cfg.init) init_weights();
  visit([](const std::string& name, Tensor& t, EntryKind kind) {
    t.set_name(name);
    if (kind == EntryKind::ConvWeight || kind == EntryKind::Param) t.set_requires_grad(true);
  });
}

ResNet ResNet::create(const std::string& arch, int num_classes, uint64_t seed, bool init) {
  ResNetConfig c = config_for(arch);
  if (num_classes > 0) c.num_classes = num_classes;
  c.seed = seed;
  c.init = init;
  return ResNet(c, arch);
}

int ResNet::feature_dim() const { return (cfg_.width << 3) * (cfg_.bottleneck ? 4 : 1); }

// As torchvision: convs kaiming_normal_(fan_out, relu); BN gamma 1, beta 0; fc keeps nn.Linear's
// default, U(-1/sqrt(in), 1/sqrt(in)) for weight and bias. Optionally zero the last BN of each block.
void ResNet::init_weights() {
  Rng rng(cfg_.seed);
  visit([&](const std::string& name, Tensor& t, EntryKind kind) {
    if (kind == EntryKind::ConvWeight) {
      const double fan_out = (double)t.size(0) * t.size(1) * t.size(2);  // K*R*S
      const double std = std::sqrt(2.0 / fan_out);
      float* p = t.data<float>();
      for (int64_t i = 0, n = t.numel(); i < n; i++) p[i] = (float)(std * rng.normal());
    }
  });
  const double bound = 1.0 / std::sqrt((double)fc_weight_.size(1));
  for (Tensor* t : {&fc_weight_, &fc_bias_}) {
    float* p = t->data<float>();
    for (int64_t i = 0, n = t->numel(); i < n; i++) p[i] = (float)rng.uniform(-bound, bound);
  }
  if (cfg_.zero_init_residual) {
    for (auto& stage : stages_)
      for (auto& b : stage) (cfg_.bottleneck ? b.bn3 : b.bn2).weight.zero_();
  }
}

void ResNet::visit(const std::function<void(const std::string&, Tensor&, EntryKind)>& fn) {
  auto conv = [&](const std::string& p, Conv& c) { fn(p + ".weight", c.weight, EntryKind::ConvWeight); };
  auto bn = [&](const std::string& p, BatchNorm& b) {
    fn(p + ".weight", b.weight, EntryKind::Param);
    fn(p + ".bias", b.bias, EntryKind::Param);
    fn(p + ".running_mean", b.running_mean, EntryKind::Buffer);
    fn(p + ".running_var", b.running_var, EntryKind::Buffer);
    fn(p + ".num_batches_tracked", b.num_batches_tracked, EntryKind::Counter);
  };
  conv("conv1", conv1_);
  bn("bn1", bn1_);
  for (size_t s = 0; s < stages_.size(); s++) {
    for (size_t i = 0; i < stages_[s].size(); i++) {
      Block& b = stages_[s][i];
      const std::string p = "layer" + std::to_string(s + 1) + "." + std::to_string(i) + ".";
      conv(p + "conv1", b.conv1);
      bn(p + "bn1", b.bn1);
      conv(p + "conv2", b.conv2);
      bn(p + "bn2", b.bn2);
      if (cfg_.bottleneck) {
        conv(p + "conv3", b.conv3);
        bn(p + "bn3", b.bn3);
      }
      if (b.has_downsample) {
        conv(p + "downsample.0", b.ds_conv);
        bn(p + "downsample.1", b.ds_bn);
      }
    }
  }
  fn("fc.weight", fc_weight_, EntryKind::Param);
  fn("fc.bias", fc_bias_, EntryKind::Param);
}

NamedTensors ResNet::named_parameters() {
  NamedTensors v;
  visit([&](const std::string& n, Tensor& t, EntryKind k) {
    if (k == EntryKind::ConvWeight || k == EntryKind::Param) v.emplace_back(n, t);
  });
  return v;
}
NamedTensors ResNet::named_buffers() {
  NamedTensors v;
  visit([&](const std::string& n, Tensor& t, EntryKind k) {
    if (k == EntryKind::Buffer || k == EntryKind::Counter) v.emplace_back(n, t);
  });
  return v;
}
void ResNet::zero_grad() {
  visit([](const std::string&, Tensor& t, EntryKind k) {
    if (k == EntryKind::ConvWeight || k == EntryKind::Param) t.grad() = Tensor();
  });
}

void ResNet::to(Device dev) {
  if (dev == device_) return;
  visit([&](const std::string& name, Tensor& t, EntryKind kind) {
    if (kind == EntryKind::Counter) return;
    const bool rg = t.requires_grad();
    t = t.to(dev);
    t.set_name(name);
    if (rg) t.set_requires_grad(true);
  });
  device_ = dev;
}

void ResNet::to(DType dt) {
  ISH_CHECK(dt == DType::F32 || dt == DType::F64, arch_, ": model dtype must be F32 or F64, got ", dtype_name(dt));
  if (dt == dtype_) return;
  visit([&](const std::string& name, Tensor& t, EntryKind kind) {
    if (kind == EntryKind::Counter) return;
    const bool rg = t.requires_grad();
    t = t.to(dt);
    t.set_name(name);
    if (rg) t.set_requires_grad(true);
  });
  dtype_ = dt;
}

Tensor ResNet::conv_bn(const Tensor& x, Conv& c, BatchNorm& bn, bool relu, const Tensor& residual) {
  ops::BNParams p;
  p.training = training_;
  p.relu = relu;
  if (training_) bn.num_batches_tracked.data<int64_t>()[0] += 1;
  // conv then BN; in CPU inference one fused pass (engine/ops_fused.h)
  return ops::conv2d_bn(x, c.weight, ops::Conv2dParams::make(c.stride, c.pad), bn.weight, bn.bias, bn.running_mean,
                        bn.running_var, p, residual);
}

Tensor ResNet::block_forward(const Tensor& x, Block& b) {
  Tensor identity = b.has_downsample ? conv_bn(x, b.ds_conv, b.ds_bn, false) : x;
  Tensor h = conv_bn(x, b.conv1, b.bn1, true);
  if (cfg_.bottleneck) {
    h = conv_bn(h, b.conv2, b.bn2, true);
    return conv_bn(h, b.conv3, b.bn3, true, identity);
  }
  return conv_bn(h, b.conv2, b.bn2, true, identity);
}

ResNet::Output ResNet::forward(const Tensor& x) {
  ISH_CHECK(x.defined() && x.dim() == 4 && x.size(3) == cfg_.in_channels, arch_, ": input must be NHWC [N,H,W,",
            cfg_.in_channels, "], got ", x.defined() ? shape_str(x.shape()) : std::string("undefined"));
  ISH_CHECK(x.dtype() == dtype_, arch_, ": input must be ", dtype_name(dtype_), ", got ", dtype_name(x.dtype()));
  ISH_CHECK(x.device() == device_, arch_, ": input on ", device_name(x.device()), " but the model is on ",
            device_name(device_));
  Tensor h = conv_bn(x, conv1_, bn1_, true);
  if (!cfg_.cifar_stem) h = ops::max_pool2d(h, ops::Pool2dParams::make(3, 2, 1));
  for (auto& stage : stages_)
    for (auto& b : stage) h = block_forward(h, b);
  Output out;
  out.features = ops::global_avg_pool(h);
  Tensor wgrad_input;
  if (fc_wgrad_hook && autograd::grad_enabled()) wgrad_input = fc_wgrad_hook(out.features.detach());
  out.logits = ops::linear(out.features, fc_weight_, fc_bias_, wgrad_input);
  return out;
}

}  // namespace ish::models
