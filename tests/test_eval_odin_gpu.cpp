// ODIN with the network on cuda (eval's ResNetGradNet + the odin detector) against the same network
// on the CPU: the argmax labels are taken on a host copy and moved beside the logits, results come back
// as CPU tensors. Compiled in CUDA builds only (gpu suite).
#ifdef ISHSCALE_CUDA
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "engine/ops.h"
#include "eval/detectors.h"
#include "eval/features.h"
#include "models/resnet.h"

using namespace ish;

TEST_SUITE("gpu") {
TEST_CASE("odin gpu: ResNetGradNet and the odin detector on cuda match the CPU") {
  models::ResNetConfig rc = models::config_for("resnet18_cifar");
  rc.num_classes = 5;
  rc.width = 8;
  rc.seed = 3;
  models::ResNet cpu(rc, "resnet18_cifar"), gpu(rc, "resnet18_cifar");
  gpu.to(Device::CUDA);
  cpu.eval();
  gpu.eval();
  const Tensor x = ops::randn({6, 16, 16, 3}, 21);
  eval::ResNetGradNet a(cpu), b(gpu);
  Tensor za, zb;
  Tensor ga = a.ce_input_grad(x, 1000.0, &za), gb = b.ce_input_grad(x, 1000.0, &zb);
  REQUIRE(!gb.is_cuda());
  REQUIRE(!zb.is_cuda());
  REQUIRE(gb.shape() == ga.shape());
  auto rel = [](const Tensor& p, const Tensor& q) {
    auto u = p.to_f32_vector(), v = q.to_f32_vector();
    double num = 0, den = 0;
    for (size_t i = 0; i < u.size(); i++) {
      num = std::max(num, (double)std::fabs(u[i] - v[i]));
      den = std::max(den, (double)std::fabs(v[i]));
    }
    return num / std::max(den, 1e-30);
  };
  MESSAGE("odin input grad rel err " << rel(gb, ga) << ", logits " << rel(zb, za));
  CHECK(rel(zb, za) < 1e-3);  // cuDNN convolutions may use TF32
  CHECK(rel(gb, ga) < 1e-2);

  // The whole detector over an image stream, as `ishscale eval --postprocessor odin --device cuda` runs it.
  eval::Fc fc;
  cpu.visit([&](const std::string& name, Tensor& t, models::EntryKind) {
    if (name == "fc.weight") fc.W = t.clone();
    if (name == "fc.bias") fc.b = t.clone();
  });
  eval::ImageStream images = [&](const std::function<void(const Tensor&, int64_t)>& fn) { fn(x, 0); };
  eval::FeatureSet f;
  auto da = eval::make_detector("odin", fc, &a), db = eval::make_detector("odin", fc, &b);
  for (auto* d : {da.get(), db.get()}) d->set_params({{"temperature", 1}, {"noise", 0.0014}});  // T=1: confs spread out
  eval::Scores sa = da->score(f, &images), sb = db->score(f, &images);
  REQUIRE(sb.conf.size() == 6);
  for (size_t i = 0; i < sa.conf.size(); i++) {
    CHECK(std::fabs(sa.conf[i] - sb.conf[i]) <= 1e-3 * sa.conf[i]);
    CHECK(sa.pred[i] == sb.pred[i]);
  }
}
}
#endif
