// ODIN on cuda against the CPU: the same small ResNet (same seed) scored through the public eval
// API (NetGradNet + make_detector("odin")) on both devices. The GPU run goes through eval-mode
// BN backward and the argmax/label path on the device; strict fp32 (TF32 off) on both sides.
#ifdef ISHSCALE_CUDA
#include "engine/device_options.h"
#include "engine/ops.h"
#include "eval/detectors.h"
#include "eval/features.h"
#include "models/resnet.h"
#include "tests/test_gpu_util.h"
#include "tests/util.h"

using namespace ish;

TEST_SUITE("gpu") {

TEST_CASE("gpu odin: scores on cuda match the CPU (small ResNet, eval mode)") {
  DeviceOptions saved = device_options();
  device_options() = DeviceOptions{Tf32::Off, false};
  struct Restore {
    DeviceOptions s;
    ~Restore() { device_options() = s; }
  } restore{saved};
  auto cpu_m = models::ResNet::create("resnet18_cifar", 10, 99);
  auto gpu_m = models::ResNet::create("resnet18_cifar", 10, 99);
  gpu_m.to(Device::CUDA);
  cpu_m.eval();
  gpu_m.eval();
  eval::Fc fc;
  for (auto& [name, p] : cpu_m.named_parameters()) {
    if (name == "fc.weight") fc.W = p.detach().clone();
    if (name == "fc.bias") fc.b = p.detach().clone();
  }
  REQUIRE((fc.W.defined() && fc.b.defined()));
  Tensor imgs = ops::randn({10, 32, 32, 3}, 5);
  eval::ImageStream stream = [&](const std::function<void(const Tensor&, int64_t)>& fn) {
    for (int64_t i = 0; i < imgs.size(0); i += 4) fn(imgs.narrow0(i, std::min<int64_t>(4, imgs.size(0) - i)), i);
  };
  eval::NetGradNet cpu_net(cpu_m), gpu_net(gpu_m);
  auto cpu_odin = eval::make_detector("odin", fc, &cpu_net), gpu_odin = eval::make_detector("odin", fc, &gpu_net);
  for (const eval::HParams& p : {eval::HParams{{"temperature", 1000}, {"noise", 0.0014}},
                                 eval::HParams{{"temperature", 1}, {"noise", 0.0}}}) {
    cpu_odin->set_params(p);
    gpu_odin->set_params(p);
    eval::Scores c = cpu_odin->score(eval::FeatureSet{}, &stream);
    eval::Scores g = gpu_odin->score(eval::FeatureSet{}, &stream);
    REQUIRE(c.conf.size() == 10);
    REQUIRE(g.conf.size() == c.conf.size());
    // fp32 networks in two summation orders; the perturbation uses the sign of the input gradient,
    // so a gradient element within rounding of zero may flip: 1e-4 relative covers a few such flips
    // at noise 0.0014; at noise 0 only the summation orders differ.
    const double e = test::rel_error(Tensor::from_f64(std::vector<double>(g.conf.begin(), g.conf.end()), {10}),
                                     Tensor::from_f64(std::vector<double>(c.conf.begin(), c.conf.end()), {10}));
    MESSAGE("odin " << eval::hparams_str(p) << ": conf rel err cuda vs cpu " << e);
    CHECK(e <= 1e-4);
    CHECK(g.pred == c.pred);
  }
}

}  // TEST_SUITE
#endif
