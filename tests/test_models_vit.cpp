// models/vit: torchvision's VisionTransformer in a reduced configuration (tools/fixtures_transformer.py:
// 2 layers, width 48, 4 heads, MLP 96, patch 8 on 32x32, 10 classes, every parameter random) against
// torchvision 0.14: eval logits and features in fp32 (relative error <= 1e-4), every parameter gradient of
// a cross-entropy backward in fp64 (<= 1e-6); torchvision's names, order and layout in and out (.pth,
// safetensors, the pre-0.13 MLP names), strict loading, and the full-size architectures' shapes.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "engine/ops.h"
#include "models/vit.h"
#include "tests/util.h"
#include "weights/load.h"
#include "weights/safetensors.h"

using namespace ish;

namespace {

models::ViTConfig small_config() {
  models::ViTConfig c;
  c.image_size = 32;
  c.patch_size = 8;
  c.num_layers = 2;
  c.num_heads = 4;
  c.hidden_dim = 48;
  c.mlp_dim = 96;
  c.num_classes = 10;
  return c;
}

models::VisionTransformer small_ref() {
  models::VisionTransformer m(small_config(), "vit_small");
  models::load_weights(m, test::fixture_dir() + "/vit_small_ref.safetensors");
  return m;
}

double check_rel(const Tensor& a, const Tensor& ref, double tol, const std::string& what) {
  REQUIRE_MESSAGE(a.shape() == ref.shape(), what << ": shape " << shape_str(a.shape()) << " vs " << shape_str(ref.shape()));
  const double e = test::rel_error(a, ref);
  CHECK_MESSAGE(e <= tol, what << ": relative error " << e << " > " << tol);
  return e;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  Tensor x = a.to(Device::CPU), y = b.to(Device::CPU);
  return std::memcmp(x.raw(), y.raw(), x.nbytes()) == 0;
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("vit: reduced config eval logits and features match torchvision (fp32)") {
  auto g = test::load_fixture("vit_small_golden.safetensors");
  auto m = small_ref();
  m.eval();
  NoGradGuard ng;
  auto out = m.forward(g.at("x"));
  const double el = check_rel(out.logits, g.at("logits"), 1e-4, "logits");
  const double ef = check_rel(out.features, g.at("features"), 1e-4, "features");
  CHECK(test::compare(m.head(out.features), out.logits, 0, 0).ok);
  MESSAGE("vit_small fp32: logits rel err " << el << ", features rel err " << ef);
}

TEST_CASE("vit: reduced config, every parameter gradient matches torchvision in fp64") {
  auto g = test::load_fixture("vit_small_golden.safetensors");
  auto m = small_ref();
  m.to(DType::F64);
  m.train();  // dropout and stochastic depth are 0: the same function
  auto out = m.forward(g.at("x").to(DType::F64));
  check_rel(out.logits, g.at("logits64"), 1e-10, "fp64 logits");
  check_rel(out.features, g.at("features64"), 1e-10, "fp64 features");
  Tensor loss = ops::cross_entropy(out.logits, g.at("labels"));
  check_rel(loss.view({1}), g.at("loss64"), 1e-10, "fp64 loss");
  loss.backward();
  double worst = 0;
  std::string worst_name;
  int n = 0;
  for (auto& [name, p] : m.named_parameters()) {
    REQUIRE_MESSAGE(p.grad().defined(), name << " got no gradient");
    Tensor gr = p.grad();
    if (name == "conv_proj.weight") gr = models::krsc_to_kcrs(gr);
    const double e = check_rel(gr, g.at("grad64." + name), 1e-6, "grad " + name);
    if (e > worst) { worst = e; worst_name = name; }
    n++;
  }
  CHECK(n == 4 + 12 * 2 + 4);
  MESSAGE("vit_small fp64: worst of " << n << " parameter gradients " << worst << " (" << worst_name << ")");
}

TEST_CASE("vit: torchvision's state_dict names and order; .pth, safetensors and pre-0.13 names load bit-exactly") {
  auto ref = weights::load_pth(test::fixture_dir() + "/vit_small.pth");  // torch's own order
  models::VisionTransformer m(small_config(), "vit_small");
  models::load_state_dict(m, ref, "vit_small.pth");
  auto sd = models::state_dict(m);
  REQUIRE(sd.size() == ref.size());
  for (size_t i = 0; i < sd.size(); i++) {
    CHECK_MESSAGE(sd[i].first == ref[i].first, i << ": " << sd[i].first << " vs " << ref[i].first);
    CHECK_MESSAGE(same_bytes(sd[i].second, ref[i].second), sd[i].first << " differs");
  }
  // torchvision < 0.13 names (the published vit_b_16 file): mlp.linear_1 / mlp.linear_2.
  models::NamedTensors legacy;
  for (auto& [n, t] : ref) {
    std::string k = n;
    for (auto [from, to] : {std::pair<std::string, std::string>{".mlp.0.", ".mlp.linear_1."}, {".mlp.3.", ".mlp.linear_2."}})
      if (k.find(from) != std::string::npos) k.replace(k.find(from), from.size(), to);
    legacy.emplace_back(k, t);
  }
  models::VisionTransformer m2(small_config(), "vit_small");
  models::load_state_dict(m2, legacy, "legacy");
  auto sd2 = models::state_dict(m2);
  for (size_t i = 0; i < sd.size(); i++) CHECK(same_bytes(sd2[i].second, sd[i].second));

  // Save -> load round trip through our safetensors file.
  const std::string path = "/tmp/ishscale_vit_roundtrip_" + std::to_string(getpid()) + ".safetensors";
  models::save_weights(m, path);
  models::VisionTransformer m3(small_config(), "vit_small");
  models::load_weights(m3, path);
  auto sd3 = models::state_dict(m3);
  for (size_t i = 0; i < sd.size(); i++) CHECK(same_bytes(sd3[i].second, sd[i].second));
  std::remove(path.c_str());
}

TEST_CASE("vit: strict loading names every bad key; bad input is one clear error") {
  auto ref = weights::load_pth(test::fixture_dir() + "/vit_small.pth");
  models::NamedTensors bad;
  for (auto& [n, t] : ref)
    if (n != "encoder.ln.bias") bad.emplace_back(n == "class_token" ? "cls_token" : n, t);
  bad.emplace_back("heads.head.weight.extra", ref[0].second);
  models::VisionTransformer m(small_config(), "vit_small");
  CHECK_THROWS_WITH_AS(models::load_state_dict(m, bad, "bad.pth"),
                       doctest::Contains("2 missing (class_token, encoder.ln.bias)"), Error);
  CHECK_THROWS_WITH_AS(models::load_state_dict(m, bad, "bad.pth"), doctest::Contains("2 unexpected (cls_token, heads.head.weight.extra)"), Error);
  models::ViTConfig c = small_config();
  c.hidden_dim = 64;
  models::VisionTransformer other(c, "vit_other");
  CHECK_THROWS_WITH_AS(models::load_state_dict(other, ref, "vit_small.pth"), doctest::Contains("shape mismatch"), Error);
  CHECK_THROWS_WITH_AS(m.forward(Tensor::zeros({1, 224, 224, 3})), doctest::Contains("[N,32,32,3]"), Error);
  CHECK_THROWS_WITH_AS(models::VisionTransformer::create("vit_b_17"), doctest::Contains("unknown vision transformer"), Error);
  c = small_config();
  c.num_heads = 5;
  CHECK_THROWS_AS(models::VisionTransformer(c, "vit_bad"), Error);
}

TEST_CASE("vit: the torchvision architectures' shapes and parameter counts") {
  // torchvision's documented parameter counts; init=false allocates zeros only.
  for (auto [arch, params] : {std::pair<const char*, int64_t>{"vit_b_16", 86567656}, {"vit-b-32", 88224232}}) {
    auto m = models::VisionTransformer::create(arch, -1, 0, false);
    int64_t n = 0;
    for (auto& [name, t] : m.named_parameters()) n += t.numel();
    CHECK_MESSAGE(n == params, arch << ": " << n << " parameters");
    CHECK(m.feature_dim() == 768);
    CHECK(m.num_classes() == 1000);
  }
  CHECK(models::is_vit_arch("vit-b-16"));
  CHECK_FALSE(models::is_vit_arch("resnet50"));
}
}

// Full-size parity, outside `make test` (tools/vit_full_parity.py writes the data; see its docstring).
TEST_CASE("vit: full-size vit_b_16 eval logits and features match torchvision" * doctest::skip()) {
  const char* dir = std::getenv("ISHSCALE_VIT_FULL");
  REQUIRE_MESSAGE(dir, "set ISHSCALE_VIT_FULL to the folder tools/vit_full_parity.py wrote");
  auto g = st::File::open(std::string(dir) + "/vit_b_16_golden.safetensors").load_all();
  auto m = models::load_vit("vit-b-16", std::string(dir) + "/vit_b_16.pth");
  NoGradGuard ng;
  auto out = m.forward(g.at("x"));
  const double el = check_rel(out.logits, g.at("logits"), 1e-4, "vit_b_16 logits");
  const double ef = check_rel(out.features, g.at("features"), 1e-4, "vit_b_16 features");
  MESSAGE("vit_b_16 fp32: logits rel err " << el << ", features rel err " << ef);
}
