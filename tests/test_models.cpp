// ResNet-18 / ResNet-50 against torchvision (tools/fixtures_models.py): eval logits and pooled
// features, one train-mode forward+backward (loss, every parameter gradient) and the BN running
// statistics afterwards. Relative error = max|a-b| / max|b| per tensor, as issue 4 defines it.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>

#include "engine/autograd.h"
#include "engine/device_options.h"
#include "engine/ops.h"
#include "models/resnet.h"
#include "models/state_dict.h"
#include "tests/util.h"

using namespace ish;

namespace {

// Issue 4's tolerances (fp32 on both sides; summation order differs between engines).
constexpr double kLogitsTol = 1e-4, kGradTol = 1e-3, kBNTol = 1e-5;

double secs_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CHECKs rel_error(a, ref) <= tol and returns it.
double check_rel(const Tensor& a, const Tensor& ref, double tol, const std::string& what) {
  REQUIRE_MESSAGE(a.shape() == ref.shape(), what << ": shape " << shape_str(a.shape()) << " vs ref "
                                                 << shape_str(ref.shape()));
  double e = test::rel_error(a, ref);
  CHECK_MESSAGE(e <= tol, what << ": relative error " << e << " > " << tol);
  return e;
}

models::ResNet load_ref(const std::string& arch) {
  auto m = models::ResNet::create(arch);
  models::load_weights(m, test::fixture_dir() + "/" + arch + "_ref.safetensors");
  return m;
}

void eval_golden(const std::string& arch, Device dev = Device::CPU) {
  auto g = test::load_fixture(arch + "_golden.safetensors");
  auto m = load_ref(arch);
  m.to(dev);
  m.eval();
  NoGradGuard ng;
  auto t0 = std::chrono::steady_clock::now();
  auto out = m.forward(g.at("x_eval").to(dev));
  double t = secs_since(t0);
  double el = check_rel(out.logits, g.at("logits_eval"), kLogitsTol, arch + " eval logits");
  double ef = check_rel(out.features, g.at("features_eval"), kLogitsTol, arch + " eval features");
  MESSAGE(arch << " " << std::string(device_name(dev)) << " eval " << shape_str(g.at("x_eval").shape()) << ": logits rel err " << el << ", features rel err "
               << ef << " (" << t << " s)");
}

// One train-mode forward + CE backward from the calibrated state, then every parameter gradient and
// every BN buffer. fp64: all at issue 4's tolerances against torch fp64. fp32: loss, logits and the fc
// gradients (continuous functions of the input) at the tolerances; the other fp32 gradients sit
// on ReLU-mask discontinuities (torch's own fp32 differs from fp64 by up to 17% on resnet50 here), so
// they are reported, not checked, and fp32 BN stats get 1e-4 (torch fp32 vs fp64: 1.4e-5 on resnet50).
void train_golden(const std::string& arch, DType dt, Device dev = Device::CPU) {
  const bool f64 = dt == DType::F64;
  const std::string gp = f64 ? "grad64." : "grad.", ap = f64 ? "after64." : "after.",
                    tag = arch + " " + device_name(dev) + (f64 ? " f64" : " f32");
  auto g = test::load_fixture(arch + "_golden.safetensors");
  auto m = load_ref(arch);
  m.to(dt);
  m.to(dev);
  m.train();
  auto t0 = std::chrono::steady_clock::now();
  auto out = m.forward(g.at("x_train").to(dt).to(dev));
  Tensor loss = ops::cross_entropy(out.logits, g.at("labels").to(dev));
  loss.backward();
  double t = secs_since(t0);
  double e_loss = check_rel(loss.view({1}), g.at(f64 ? "loss64" : "loss"), kLogitsTol, tag + " train loss");
  double e_logits = check_rel(out.logits, g.at(f64 ? "logits64_train" : "logits_train"), kLogitsTol, tag + " train logits");

  double worst_grad = 0, worst_bn = 0, worst_fc = 0, worst_vs64 = 0;
  std::string worst_grad_name, worst_bn_name;
  int n_grads = 0;
  for (auto& [name, p] : m.named_parameters()) {
    REQUIRE_MESSAGE(p.grad().defined(), name << " got no gradient");
    Tensor gr = p.grad().to(Device::CPU);
    if (gr.dim() == 4) gr = models::krsc_to_kcrs(gr);
    const Tensor& ref = g.at(gp + name);
    const bool is_fc = name.rfind("fc.", 0) == 0;
    double e = (f64 || is_fc) ? check_rel(gr, ref, kGradTol, tag + " grad " + name) : test::rel_error(gr, ref);
    if (is_fc) worst_fc = std::max(worst_fc, e);
    if (!f64) worst_vs64 = std::max(worst_vs64, test::rel_error(gr, g.at("grad64." + name)));
    if (e > worst_grad) { worst_grad = e; worst_grad_name = name; }
    n_grads++;
  }
  int n_bn = 0;
  for (auto& [name, b] : m.named_buffers()) {
    const Tensor& ref = g.at(ap + name);
    if (b.dtype() == DType::I64) {
      CHECK_MESSAGE(b.item() == ref.item(), name << ": " << b.item() << " vs " << ref.item());
      continue;
    }
    // fp32 is compared with torch fp64 (the exact answer) at 1e-4, see above.
    Tensor bh = b.to(Device::CPU);
    double e = f64 ? check_rel(bh, ref, kBNTol, tag + " " + name)
                   : check_rel(bh, g.at("after64." + name), 1e-4, tag + " " + name + " (vs torch fp64)");
    if (e > worst_bn) { worst_bn = e; worst_bn_name = name; }
    n_bn++;
  }
  const std::string vs64 = f64 ? std::string() : ", worst grad vs torch fp64 " + str(worst_vs64);
  MESSAGE(tag << " train " << shape_str(g.at("x_train").shape()) << " (" << t << " s): loss rel err " << e_loss
              << ", logits " << e_logits << "; worst of " << n_grads << " grads " << worst_grad << " ("
              << worst_grad_name << "), fc grads " << worst_fc << vs64 << "; worst of " << n_bn << " BN stats "
              << worst_bn << " (" << worst_bn_name << ")");
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("models: resnet18 eval logits and features match torchvision") { eval_golden("resnet18"); }
TEST_CASE("models: resnet50 eval logits and features match torchvision") { eval_golden("resnet50"); }
TEST_CASE("models: resnet18 fp32 train step (loss, logits, fc grads, BN stats) matches torchvision") {
  train_golden("resnet18", DType::F32);
}
TEST_CASE("models: resnet50 fp32 train step (loss, logits, fc grads, BN stats) matches torchvision") {
  train_golden("resnet50", DType::F32);
}
TEST_CASE("models: resnet18 fp64 train step: every gradient and BN stat matches torchvision") {
  train_golden("resnet18", DType::F64);
}
TEST_CASE("models: resnet50 fp64 train step: every gradient and BN stat matches torchvision") {
  train_golden("resnet50", DType::F64);
}
}

// The same checks on a GPU (fp32 only: the CUDA backend is f32; TF32 off, as the fixtures are
// strict fp32). Skipped without a device.
namespace {
struct StrictFp32 {
  DeviceOptions saved = device_options();
  StrictFp32() { device_options().tf32 = Tf32::Off; }
  ~StrictFp32() { device_options() = saved; }
};
}  // namespace
TEST_SUITE("gpu") {
TEST_CASE("models gpu: resnet18 eval logits and features match torchvision") {
  StrictFp32 fp32;
  eval_golden("resnet18", Device::CUDA);
}
TEST_CASE("models gpu: resnet50 eval logits and features match torchvision") {
  StrictFp32 fp32;
  eval_golden("resnet50", Device::CUDA);
}
TEST_CASE("models gpu: resnet18 fp32 train step (loss, logits, fc grads, BN stats) matches torchvision") {
  StrictFp32 fp32;
  train_golden("resnet18", DType::F32, Device::CUDA);
}
TEST_CASE("models gpu: resnet50 fp32 train step (loss, logits, fc grads, BN stats) matches torchvision") {
  StrictFp32 fp32;
  train_golden("resnet50", DType::F32, Device::CUDA);
}
}
