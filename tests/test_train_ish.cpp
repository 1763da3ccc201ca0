// ISH on a small ResNet-18 (32x32 input) against a PyTorch ISH implementation (tools/fixtures_train.py):
// one SGD step with and without ISH from the same start, and the loop's 3-step trajectory (ISH, Nesterov,
// two weight-decay groups, cosine LR). Relative error = max|a-b| / max|b| per tensor.
#include <doctest/doctest.h>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "models/resnet.h"
#include "models/state_dict.h"
#include "tests/util.h"
#include "train/ish.h"
#include "train/loop.h"
#include "train/sgd.h"

using namespace ish;

namespace {

// fp32 on both sides with different summation orders; one update moves weights by ~lr*grad.
constexpr double kTol = 1e-5;
constexpr double kLR = 0.001;  // as tools/fixtures_train.py

const std::vector<float> kMean{0.485f, 0.456f, 0.406f}, kStd{0.229f, 0.224f, 0.225f};

std::map<std::string, Tensor> with_prefix(const std::map<std::string, Tensor>& f, const std::string& pre) {
  std::map<std::string, Tensor> out;
  for (auto& [k, v] : f)
    if (k.compare(0, pre.size(), pre) == 0) out[k.substr(pre.size())] = v;
  return out;
}

models::ResNet start_model(const std::map<std::string, Tensor>& f) {
  auto m = models::ResNet::create("resnet18", 10);
  models::load_state_dict(m, with_prefix(f, "init."), "train_ish.safetensors init.*");
  m.train();
  return m;
}

// The first `n` samples as the loop feeds them (no augmentation): (u8/255 - mean) / std.
std::pair<Tensor, Tensor> batch(const std::map<std::string, Tensor>& f, int64_t n) {
  const Tensor& x = f.at("data.x");
  int64_t per = x.numel() / x.size(0);
  std::vector<uint8_t> px(x.data<uint8_t>(), x.data<uint8_t>() + x.numel());
  std::vector<int64_t> ys(f.at("data.y").data<int64_t>(), f.at("data.y").data<int64_t>() + x.size(0));
  train::InMemoryDataset ds(px, ys, x.size(1), x.size(2), 3, kMean, kStd);
  std::vector<float> buf(n * per);
  for (int64_t i = 0; i < n; i++) ds.load(i, nullptr, buf.data() + i * per, nullptr);
  return {Tensor::from_f32(buf, {n, x.size(1), x.size(2), 3}),
          Tensor::from_i64(std::vector<int64_t>(ys.begin(), ys.begin() + n), {n})};
}

// The loop's optimizer: everything but fc (wd 5e-4), then fc (wd 5e-5); Nesterov, momentum 0.9.
train::SGD make_opt(models::ResNet& m, double lr) {
  train::ParamGroup body, fc;
  body.opt = {lr, 0.9, 0.0, 5e-4, true};
  fc.opt = {lr, 0.9, 0.0, 5e-5, true};
  for (auto& [n, t] : m.named_parameters()) (n.rfind("fc.", 0) == 0 ? fc : body).params.emplace_back(n, t);
  return train::SGD({body, fc});
}

void one_step(models::ResNet& m, const std::map<std::string, Tensor>& f, bool ish, Tensor* fc_grad) {
  if (ish)
    m.fc_wgrad_hook = [](const Tensor& x) {
      return train::ish_shape(x, train::IshStrategy::MinkSampleExpScale, 0.85);
    };
  auto opt = make_opt(m, kLR);
  auto [x, y] = batch(f, 4);
  auto out = m.forward(x);
  Tensor loss = ops::cross_entropy(out.logits, y);
  opt.zero_grad();
  autograd::backward(loss);
  *fc_grad = m.named_parameters().back().first == "fc.bias" ? m.named_parameters()[m.named_parameters().size() - 2].second.grad().clone() : Tensor();
  opt.step();
}

void check_state(models::ResNet& m, const std::map<std::string, Tensor>& f, const std::string& pre,
                 double tol) {
  for (auto& [name, t] : models::state_dict(m)) {
    const Tensor& ref = f.at(pre + name);
    REQUIRE_MESSAGE(t.shape() == ref.shape(), name);
    if (t.dtype() == DType::I64) {
      CHECK_MESSAGE(t.item() == ref.item(), pre << name);
      continue;
    }
    double e = test::rel_error(t, ref);
    CHECK_MESSAGE(e <= tol, pre << name << ": relative error " << e << " > " << tol);
  }
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("train: one ISH step on resnet18 matches torch; the backbone equals a plain CE step") {
  auto f = test::load_fixture("train_ish.safetensors");
  auto mi = start_model(f), mc = start_model(f);
  Tensor gi, gc;
  one_step(mi, f, true, &gi);
  one_step(mc, f, false, &gc);
  REQUIRE(gi.defined());
  double eg = test::rel_error(gi, f.at("ish1.grad.fc.weight"));
  CHECK_MESSAGE(eg <= kTol, "ISH fc.weight grad relative error " << eg);
  CHECK(test::rel_error(gc, f.at("ce1.grad.fc.weight")) <= kTol);
  CHECK(test::rel_error(gi, gc) > 0.01);  // ISH really changed grad_W
  check_state(mi, f, "ish1.", kTol);
  check_state(mc, f, "ce1.", kTol);
  // grad_x and grad_b are untouched by ISH: every entry but fc.weight is bit-identical to the CE step.
  auto si = models::state_dict(mi), sc = models::state_dict(mc);
  REQUIRE(si.size() == sc.size());
  int64_t same = 0;
  for (size_t i = 0; i < si.size(); i++) {
    if (si[i].first == "fc.weight") {
      CHECK(si[i].second.to_f64_vector() != sc[i].second.to_f64_vector());
      continue;
    }
    bool eq = si[i].second.to_f64_vector() == sc[i].second.to_f64_vector();
    CHECK_MESSAGE(eq, si[i].first << " differs between the ISH and the CE step");
    same += eq;
  }
  MESSAGE("ISH fc grad rel err " << eg << "; " << same << " entries bit-identical to the CE step");
}

TEST_CASE("train: the loop's 3-step ISH trajectory (Nesterov, two wd groups, cosine LR) matches torch") {
  auto f = test::load_fixture("train_ish.safetensors");
  auto m = start_model(f);
  const Tensor& x = f.at("data.x");
  std::vector<uint8_t> px(x.data<uint8_t>(), x.data<uint8_t>() + x.numel());
  std::vector<int64_t> ys(f.at("data.y").data<int64_t>(), f.at("data.y").data<int64_t>() + x.size(0));
  train::InMemoryDataset ds(px, ys, x.size(1), x.size(2), 3, kMean, kStd);
  train::TrainConfig c;
  c.epochs = 1;
  c.batch_size = 4;
  c.lr = kLR;
  c.ish = true;
  c.augment = false;
  c.shuffle = false;
  c.log_every = 1000;
  c.prefetch = 1;  // exercises the GPU-default background loading on the CPU (results must not change)
  auto r = train::train(m, ds, nullptr, c);
  CHECK(r.steps == 3);
  CHECK(r.finished);
  check_state(m, f, "traj.", kTol);
}
}
