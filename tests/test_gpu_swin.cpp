// GPU parity of models/swin: the reduced torchvision SwinTransformer (tools/fixtures_swin.py) on cuda
// against torchvision's eval logits and features, and every parameter gradient against the CPU model.
// TF32 off.
#ifdef ISHSCALE_CUDA
#include <cstring>

#include "engine/device_options.h"
#include "engine/ops.h"
#include "models/swin.h"
#include "tests/test_gpu_util.h"
#include "tests/util.h"

using namespace ish;

namespace {
struct StrictFp32 {
  DeviceOptions saved = device_options();
  StrictFp32() { device_options() = DeviceOptions{Tf32::Off, false}; }
  ~StrictFp32() { device_options() = saved; }
};
}  // namespace

TEST_SUITE("gpu") {
TEST_CASE("models gpu: the reduced torchvision Swin on cuda matches torchvision (eval) and the CPU (gradients)") {
  StrictFp32 strict;
  auto g = test::load_fixture("swin_small_golden.safetensors");
  models::SwinConfig c;
  c.embed_dim = 16;
  c.depths = {2, 2, 2};
  c.num_heads = {2, 2, 4};
  c.window_h = 4;
  c.window_w = 3;
  c.num_classes = 10;
  models::SwinTransformer cpu_m(c, "swin_small"), gpu_m(c, "swin_small");
  models::load_weights(cpu_m, test::fixture_dir() + "/swin_small_ref.safetensors");
  models::load_weights(gpu_m, test::fixture_dir() + "/swin_small_ref.safetensors");
  gpu_m.to(Device::CUDA);
  {
    NoGradGuard ng;
    auto out = gpu_m.forward(g.at("x").to(Device::CUDA));
    REQUIRE(out.logits.device() == Device::CUDA);
    CHECK(test::rel_error(out.logits.to(Device::CPU), g.at("logits")) <= 1e-4);
    CHECK(test::rel_error(out.features.to(Device::CPU), g.at("features")) <= 1e-4);
  }
  Tensor lc = ops::cross_entropy(cpu_m.forward(g.at("x")).logits, g.at("labels"));
  Tensor lg = ops::cross_entropy(gpu_m.forward(g.at("x").to(Device::CUDA)).logits, g.at("labels").to(Device::CUDA));
  lc.backward();
  lg.backward();
  auto pc = cpu_m.named_parameters(), pg = gpu_m.named_parameters();
  REQUIRE(pc.size() == pg.size());
  for (size_t i = 0; i < pc.size(); i++) {
    REQUIRE_MESSAGE(pg[i].second.grad().defined(), pg[i].first << " got no gradient on cuda");
    const double e = test::rel_error(pg[i].second.grad().to(Device::CPU), pc[i].second.grad());
    CHECK_MESSAGE(e <= 1e-4, pc[i].first << ": gpu vs cpu gradient rel err " << e);
  }
  // The state exported from the device model is the file's, index buffers included.
  auto ref = test::load_fixture("swin_small_ref.safetensors");
  for (auto& [n, t] : models::state_dict(gpu_m)) {
    const Tensor& r = ref.at(n);
    CHECK_MESSAGE((t.dtype() == r.dtype() && t.shape() == r.shape() && std::memcmp(t.raw(), r.raw(), t.nbytes()) == 0), n);
  }
}
}
#endif
