// GPU parity, part 3: the whole ResNet-50 (models/) forward and backward on the GPU against the
// CPU reference from the same weights and input, in strict fp32 (TF32 off); deterministic-mode
// bitwise repeatability of a full training step; no cudaMalloc in a warm training step.
#ifdef ISHSCALE_CUDA
#include <algorithm>
#include <map>

#include "engine/autograd.h"
#include "engine/cuda/backend.h"
#include "engine/ops.h"
#include "models/resnet.h"
#include "tests/test_gpu_util.h"
#include "tests/util.h"
#include "train/sgd.h"

using namespace ish;

namespace {

struct Mode {
  cuda::Options saved = cuda::options();
  Mode(bool tf32, bool det) { cuda::options() = DeviceOptions{tf32 ? Tf32::All : Tf32::Off, det}; }
  ~Mode() { cuda::options() = saved; }
};

Tensor labels_for(int64_t n, Device dev) {
  std::vector<int64_t> l((size_t)n);
  for (int64_t i = 0; i < n; i++) l[i] = (i * 389 + 17) % 1000;
  return Tensor::from_i64(l, {n}).to(dev);
}

struct Step {
  Tensor logits, features, loss;
  std::map<std::string, Tensor> grads, buffers;  // on the host
};

// One train-mode forward + CE backward (no optimizer), results copied to the host.
Step train_step(models::ResNet& m, const Tensor& x, const Tensor& labels) {
  m.train();
  m.zero_grad();
  auto out = m.forward(x);
  Tensor loss = ops::cross_entropy(out.logits, labels);
  loss.backward();
  Step s{out.logits.to(Device::CPU), out.features.to(Device::CPU), loss.to(Device::CPU), {}, {}};
  for (auto& [name, p] : m.named_parameters()) {
    REQUIRE_MESSAGE(p.grad().defined(), name << " got no gradient");
    s.grads[name] = p.grad().to(Device::CPU);
  }
  for (auto& [name, b] : m.named_buffers())
    if (b.dtype() != DType::I64) s.buffers[name] = b.to(Device::CPU);
  return s;
}

// One train step (batch 4, size x size; every layer runs) on both engines from the same weights.
// beta_shift > 0 moves every BN bias up so pre-activations sit far from the ReLU kink.
void compare_train_step(double beta_shift, bool check_all_grads, int64_t size) {
  Mode m32(false, false);
  auto cpu_m = models::ResNet::create("resnet50", -1, 4242);
  if (beta_shift != 0)
    for (auto& [name, p] : cpu_m.named_parameters())
      if (p.dim() == 1 && name.find("fc.") != 0 && name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0)
        p.fill_(beta_shift);
  auto gpu_m = models::ResNet::create("resnet50", -1, 4242);
  {  // identical weights, whatever the shift did
    auto src = cpu_m.named_parameters();
    auto dst = gpu_m.named_parameters();
    REQUIRE(src.size() == dst.size());
    for (size_t i = 0; i < src.size(); i++) dst[i].second.copy_(src[i].second);
  }
  gpu_m.to(Device::CUDA);
  Tensor x = ops::randn({4, size, size, 3}, 12);
  Step c = train_step(cpu_m, x, labels_for(4, Device::CPU));
  Step g = train_step(gpu_m, x.to(Device::CUDA), labels_for(4, Device::CUDA));
  const double e_loss = test::rel_error(g.loss.view({1}), c.loss.view({1}));
  const double e_logits = test::rel_error(g.logits, c.logits);
  CHECK_MESSAGE(e_loss <= 1e-4, "train loss rel err " << e_loss);
  CHECK_MESSAGE(e_logits <= 1e-4, "train logits rel err " << e_logits);
  std::vector<std::pair<double, std::string>> errs;
  for (auto& [name, ref] : c.grads) {
    REQUIRE(g.grads.count(name));
    errs.push_back({test::rel_error(g.grads[name], ref), name});
  }
  std::sort(errs.rbegin(), errs.rend());
  int over = 0;
  for (auto& [e, name] : errs) {
    if (e > 1e-3) over++;
    // fc's gradients are continuous in the input: always checked.
    if (check_all_grads || name.rfind("fc.", 0) == 0) CHECK_MESSAGE(e <= 1e-3, name << " grad rel err " << e);
  }
  std::string worst;
  for (size_t i = 0; i < std::min<size_t>(8, errs.size()); i++)
    worst += " " + errs[i].second + "=" + std::to_string(errs[i].first);
  MESSAGE("resnet50 train 4x" << size << " (BN bias " << (beta_shift != 0 ? "shifted" : "as initialised") << "): loss "
                                           << e_loss << ", logits " << e_logits << "; grads: median rel err "
                                           << errs[errs.size() / 2].first << ", " << over << " of " << errs.size()
                                           << " over 1e-3; worst:" << worst);
  for (auto& [name, ref] : c.buffers) {
    const double e = test::rel_error(g.buffers[name], ref);
    CHECK_MESSAGE(e <= 1e-4, name << " running stat rel err " << e);  // fp32 batch stats, double sums
  }
}

}  // namespace

TEST_SUITE("gpu") {

TEST_CASE("gpu resnet50: fp32 eval forward matches the CPU reference") {
  Mode m32(false, false);
  auto cpu_m = models::ResNet::create("resnet50", -1, 4242);
  auto gpu_m = models::ResNet::create("resnet50", -1, 4242);
  gpu_m.to(Device::CUDA);
  NoGradGuard ng;
  Tensor x = ops::randn({2, 224, 224, 3}, 11);
  cpu_m.eval();
  gpu_m.eval();
  auto rc = cpu_m.forward(x);
  auto rg = gpu_m.forward(x.to(Device::CUDA));
  const double el = test::rel_error(rg.logits.to(Device::CPU), rc.logits);
  const double ef = test::rel_error(rg.features.to(Device::CPU), rc.features);
  MESSAGE("resnet50 eval 2x224: logits rel err " << el << ", features " << ef);
  CHECK(el <= 1e-4);  // issue 3: fp32 (TF32 off) logits within 1e-4 of the CPU reference
  CHECK(ef <= 1e-4);
}

// As initialised, a few pre-activations sit within ~1e-6 of zero and flip between two correct fp32
// engines (see tools/fixtures_models.py: torch fp32 vs fp64 differs by up to 17% there), so only the
// continuous quantities are checked; every gradient's error is printed.
TEST_CASE("gpu resnet50: fp32 train step matches the CPU (loss, logits, fc grads, BN stats)") {
  compare_train_step(0.0, false, 112);
}

// With every BN bias at +5 the density of pre-activations at the ReLU kink drops from 0.4 to 1.5e-6
// (N(5,1) at 0), the masks agree, and every gradient is a well-posed fp32 quantity: all are checked
// at 1e-3 (issue 3). 64x64 input: fewer max-pool windows where a near-tie could swap the argmax
// (expected < 0.1 such windows at ~1e-7 CPU/GPU differences).
TEST_CASE("gpu resnet50: every fp32 gradient within 1e-3 of the CPU when the ReLU masks are stable") {
  compare_train_step(5.0, true, 64);
}

TEST_CASE("gpu resnet50: deterministic training steps repeat bitwise; a warm step never calls cudaMalloc") {
  Mode det(false, true);
  Tensor x = ops::randn({8, 64, 64, 3}, 21).to(Device::CUDA);
  Tensor labels = labels_for(8, Device::CUDA);
  std::vector<Step> runs;
  int64_t warm_mallocs = -1;
  for (int rep = 0; rep < 2; rep++) {
    auto m = models::ResNet::create("resnet50", -1, 77);
    m.to(Device::CUDA);
    train::ParamGroup grp;
    for (auto& np : m.named_parameters()) grp.params.push_back(np);
    grp.opt.lr = 0.01;
    grp.opt.momentum = 0.9;
    grp.opt.nesterov = true;
    grp.opt.weight_decay = 5e-4;
    train::SGD opt({grp});
    Step s;
    for (int step = 0; step < 3; step++) {
      const int64_t before = cuda::alloc_stats().cuda_mallocs;
      s = train_step(m, x, labels);
      opt.step();
      dev::synchronize();
      if (rep == 1 && step == 2) warm_mallocs = cuda::alloc_stats().cuda_mallocs - before;
    }
    for (auto& [name, p] : m.named_parameters()) s.grads["param." + name] = p.to(Device::CPU);
    runs.push_back(std::move(s));
  }
  CHECK_MESSAGE(warm_mallocs == 0, "a warm training step called cudaMalloc " << warm_mallocs << " times");
  CHECK(gputest::bitwise_equal(runs[0].logits.to_f32_vector(), runs[1].logits.to_f32_vector()));
  int differ = 0;
  for (auto& [name, t] : runs[0].grads)
    if (!gputest::bitwise_equal(t.to_f32_vector(), runs[1].grads.at(name).to_f32_vector())) {
      differ++;
      MESSAGE("not bitwise equal: " << name);
    }
  for (auto& [name, t] : runs[0].buffers)
    if (!gputest::bitwise_equal(t.to_f32_vector(), runs[1].buffers.at(name).to_f32_vector())) differ++;
  CHECK_MESSAGE(differ == 0, differ << " tensors differ between two deterministic runs");
}

}  // TEST_SUITE
#endif
