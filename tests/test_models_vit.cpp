// models/vit: torchvision's VisionTransformer in a reduced configuration (tools/fixtures_transformer.py:
// 2 layers, width 48, 4 heads, MLP 96, patch 8 on 32x32, 10 classes, every parameter random) against
// torchvision 0.14: eval logits and features in fp32 (relative error <= 1e-4), every parameter gradient of
// a cross-entropy backward in fp64 (<= 1e-6); torchvision's names, order and layout in and out (.pth,
// safetensors, the pre-0.13 MLP names), strict loading, and the full-size architectures' shapes.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "models/vit.h"
#include "tests/model_check.h"
#include "weights/load.h"
#include "weights/safetensors.h"

using namespace ish;

TEST_SUITE("cpu") {
TEST_CASE("vit: reduced config eval logits and features match torchvision (fp32)") {
  auto m = test::vit_small();
  test::check_eval(m, test::load_fixture("vit_small_golden.safetensors"), "vit_small");
}

TEST_CASE("vit: reduced config, every parameter gradient matches torchvision in fp64") {
  auto m = test::vit_small();
  const int n = test::check_fp64_grads(m, test::load_fixture("vit_small_golden.safetensors"), "vit_small",
                                       "conv_proj.weight");
  CHECK(n == 4 + 12 * 2 + 4);
}

TEST_CASE("vit: torchvision's state_dict names and order; .pth, safetensors and pre-0.13 names load bit-exactly") {
  auto ref = weights::load_pth(test::fixture_dir() + "/vit_small.pth");  // torch's own order
  models::VisionTransformer m(test::vit_small_config(), "vit_small");
  models::load_state_dict(m, ref, "vit_small.pth");
  auto sd = models::state_dict(m);
  test::check_same_state(sd, ref, "vit_small.pth");
  // torchvision < 0.13 names (the published vit_b_16 file): mlp.linear_1 / mlp.linear_2.
  models::NamedTensors legacy;
  for (auto& [n, t] : ref) {
    std::string k = n;
    for (auto [from, to] : {std::pair<std::string, std::string>{".mlp.0.", ".mlp.linear_1."}, {".mlp.3.", ".mlp.linear_2."}})
      if (k.find(from) != std::string::npos) k.replace(k.find(from), from.size(), to);
    legacy.emplace_back(k, t);
  }
  models::VisionTransformer m2(test::vit_small_config(), "vit_small");
  models::load_state_dict(m2, legacy, "legacy");
  test::check_same_state(models::state_dict(m2), sd, "pre-0.13 names");

  // Save -> load round trip through our safetensors file.
  const std::string path = "/tmp/ishscale_vit_roundtrip_" + std::to_string(getpid()) + ".safetensors";
  models::save_weights(m, path);
  models::VisionTransformer m3(test::vit_small_config(), "vit_small");
  models::load_weights(m3, path);
  test::check_same_state(models::state_dict(m3), sd, "round trip");
  std::remove(path.c_str());
}

TEST_CASE("vit: strict loading names every bad key; bad input is one clear error") {
  auto ref = weights::load_pth(test::fixture_dir() + "/vit_small.pth");
  models::NamedTensors bad;
  for (auto& [n, t] : ref)
    if (n != "encoder.ln.bias") bad.emplace_back(n == "class_token" ? "cls_token" : n, t);
  bad.emplace_back("heads.head.weight.extra", ref[0].second);
  models::VisionTransformer m(test::vit_small_config(), "vit_small");
  CHECK_THROWS_WITH_AS(models::load_state_dict(m, bad, "bad.pth"),
                       doctest::Contains("2 missing (class_token, encoder.ln.bias)"), Error);
  CHECK_THROWS_WITH_AS(models::load_state_dict(m, bad, "bad.pth"), doctest::Contains("2 unexpected (cls_token, heads.head.weight.extra)"), Error);
  models::ViTConfig c = test::vit_small_config();
  c.hidden_dim = 64;
  models::VisionTransformer other(c, "vit_other");
  CHECK_THROWS_WITH_AS(models::load_state_dict(other, ref, "vit_small.pth"), doctest::Contains("shape mismatch"), Error);
  CHECK_THROWS_WITH_AS(m.forward(Tensor::zeros({1, 224, 224, 3})), doctest::Contains("[N,32,32,3]"), Error);
  CHECK_THROWS_WITH_AS(models::VisionTransformer::create("vit_b_17"), doctest::Contains("unknown vision transformer"), Error);
  c = test::vit_small_config();
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
  auto m = models::VisionTransformer::create("vit-b-16", 1000, 0, /*init=*/false);
  models::load_weights(m, std::string(dir) + "/vit_b_16.pth");
  test::check_eval(m, g, "vit_b_16");
}
