// models/swin: torchvision's SwinTransformer in a reduced configuration (tools/fixtures_swin.py: embed 16,
// depths 2-2-2, heads 2-2-4, a 4x3 window, 10 classes, 40x52 inputs that exercise the window padding,
// PatchMerging's odd-size padding and a map the window covers along one axis; every parameter random)
// against torchvision 0.14: eval logits and features in fp32 (relative error <= 1e-4), every parameter
// gradient of a cross-entropy backward in fp64 (<= 1e-6); torchvision's names, order and layout in and
// out (.pth, safetensors, the I64 relative_position_index buffers), strict loading, and the full-size
// architectures' parameter counts.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "engine/ops.h"
#include "models/swin.h"
#include "tests/model_check.h"
#include "weights/load.h"
#include "weights/safetensors.h"

using namespace ish;

namespace {

// The .pth state dict with `key` replaced by `t`.
models::NamedTensors with(const models::NamedTensors& sd, const std::string& key, const Tensor& t) {
  models::NamedTensors out;
  for (auto& [n, v] : sd) out.emplace_back(n, n == key ? t : v);
  return out;
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("swin: reduced config eval logits and features match torchvision (fp32)") {
  auto g = test::load_fixture("swin_small_golden.safetensors");
  auto m = test::swin_small();
  auto out = test::check_eval(m, g, "swin_small");
  // A second forward (cached shift masks) gives the same bits.
  NoGradGuard ng;
  CHECK(test::compare(m.forward(g.at("x")).logits, out.logits, 0, 0).ok);
}

TEST_CASE("swin: reduced config, every parameter gradient matches torchvision in fp64") {
  auto m = test::swin_small();
  const int n = test::check_fp64_grads(m, test::load_fixture("swin_small_golden.safetensors"), "swin_small",
                                       "features.0.0.weight");
  // patch embedding 4, 6 blocks x 13, 2 merges x 3, norm 2, head 2.
  CHECK(n == 4 + 6 * 13 + 2 * 3 + 2 + 2);
}

TEST_CASE("swin: torchvision's state_dict names and order; .pth and safetensors load bit-exactly, I64 indices") {
  auto ref = weights::load_pth(test::fixture_dir() + "/swin_small.pth");  // torch's own order
  models::SwinTransformer m(test::swin_small_config(), "swin_small");
  models::load_state_dict(m, ref, "swin_small.pth");
  auto sd = models::state_dict(m);
  test::check_same_state(sd, ref, "swin_small.pth");
  int indices = 0;
  for (auto& [n, t] : sd)
    if (n.find("relative_position_index") != std::string::npos) {
      CHECK(t.dtype() == DType::I64);
      indices++;
    }
  CHECK(indices == 6);
  // Not trainable: the index buffers are no parameters.
  for (auto& [n, t] : m.named_parameters()) CHECK_MESSAGE(n.find("relative_position_index") == std::string::npos, n);

  // Save -> load round trip through our safetensors file; the file holds torch's names with I64 indices
  // and loads back into torch's order.
  const std::string path = "/tmp/ishscale_swin_roundtrip_" + std::to_string(getpid()) + ".safetensors";
  models::save_weights(m, path, {{"note", "test"}});
  auto file = weights::load_any(path);
  REQUIRE(file.size() == ref.size());
  for (auto& [n, t] : file)
    if (n.find("relative_position_index") != std::string::npos) CHECK(t.dtype() == DType::I64);
  models::SwinTransformer m3(test::swin_small_config(), "swin_small");
  models::load_weights(m3, path);
  test::check_same_state(models::state_dict(m3), sd, "round trip");
  std::remove(path.c_str());
  // The same weights in F64 give the same fp32 export.
  m3.to(DType::F64);
  test::check_same_state(models::state_dict(m3), sd, "F64 export");
}

TEST_CASE("swin: strict loading names every bad key, including a foreign relative_position_index") {
  auto ref = weights::load_pth(test::fixture_dir() + "/swin_small.pth");
  models::SwinTransformer m(test::swin_small_config(), "swin_small");
  const Tensor head0 = models::state_dict(m)[models::state_dict(m).size() - 2].second;  // head.weight
  models::NamedTensors bad;
  for (auto& [n, t] : ref)
    if (n != "norm.bias" && n != "features.3.1.attn.relative_position_index")
      bad.emplace_back(n == "head.bias" ? "fc.bias" : n, t);
  CHECK_THROWS_WITH_AS(models::load_state_dict(m, bad, "bad.pth"),
                       doctest::Contains("3 missing (features.3.1.attn.relative_position_index, norm.bias, head.bias)"),
                       Error);
  CHECK_THROWS_WITH_AS(models::load_state_dict(m, bad, "bad.pth"), doctest::Contains("1 unexpected (fc.bias)"), Error);

  const std::string key = "features.5.0.attn.relative_position_index";
  Tensor idx;
  for (auto& [n, t] : ref)
    if (n == key) idx = t.clone();
  REQUIRE(idx.defined());
  // Another window's index (4x4 instead of 4x3): a shape mismatch naming the key.
  CHECK_THROWS_WITH_AS(models::load_state_dict(m, with(ref, key, ops::relative_position_index(4, 4)), "w.pth"),
                       doctest::Contains((("shape mismatch (file vs model) (" + key + " [256] vs [144])").c_str())), Error);
  // Same shape, other values: refused, naming the key.
  Tensor tampered = idx.clone();
  std::swap(tampered.data<int64_t>()[0], tampered.data<int64_t>()[5]);
  try {
    models::load_state_dict(m, with(ref, key, tampered), "t.pth");
    FAIL("a tampered index loaded");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("t.pth") != std::string::npos);
    CHECK(msg.find("1 index buffer differs from torchvision's I64 one (" + key + ")") != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  }
  // The right values stored as floats: refused too (torchvision's buffer is I64).
  CHECK_THROWS_WITH_AS(models::load_state_dict(m, with(ref, key, idx.to(DType::F32)), "f.pth"),
                       doctest::Contains((("index buffer differs from torchvision's I64 one (" + key + " F32)").c_str())), Error);
  // Nothing was written by the failed loads: the fresh model still has its random head.
  CHECK(test::same_bytes(models::state_dict(m)[models::state_dict(m).size() - 2].second, head0));
  models::load_state_dict(m, with(ref, key, idx), "good.pth");

  models::SwinConfig c = test::swin_small_config();
  c.embed_dim = 24;
  models::SwinTransformer other(c, "swin_other");
  CHECK_THROWS_WITH_AS(models::load_state_dict(other, ref, "swin_small.pth"), doctest::Contains("shape mismatch"), Error);
}

TEST_CASE("swin: bad configs, names and inputs are one clear error") {
  CHECK_THROWS_WITH_AS(models::SwinTransformer::create("swin_x"), doctest::Contains("unknown swin transformer 'swin_x'"),
                       Error);
  models::SwinConfig c = test::swin_small_config();
  c.num_heads = {2, 3, 4};  // 32 channels do not split into 3 heads
  CHECK_THROWS_WITH_AS(models::SwinTransformer(c, "swin_bad"), doctest::Contains("swin_bad: bad config"), Error);
  c = test::swin_small_config();
  c.num_heads = {2, 2};
  CHECK_THROWS_AS(models::SwinTransformer(c, "swin_bad"), Error);
  models::SwinTransformer m(test::swin_small_config(), "swin_small");
  CHECK_THROWS_WITH_AS(m.forward(Tensor::zeros({1, 3, 32, 32})), doctest::Contains("[N,H,W,3]"), Error);
  CHECK_THROWS_WITH_AS(m.forward(Tensor::zeros({1, 3, 32, 3})), doctest::Contains("H, W >= 4"), Error);
  CHECK_THROWS_WITH_AS(m.forward(Tensor::zeros({1, 8, 8, 3}, DType::F64)), doctest::Contains("must be F32"), Error);
  CHECK_THROWS_AS(m.to(DType::I64), Error);
  // The smallest input: one patch, every map 1x1 (padded to one window, no shift anywhere).
  NoGradGuard ng;
  auto out = m.forward(ops::randn({2, 4, 4, 3}, 3));
  CHECK(out.logits.shape() == Shape({2, 10}));
  CHECK(out.features.shape() == Shape({2, 64}));
}

TEST_CASE("swin: the torchvision architectures' shapes and parameter counts") {
  // torchvision's documented parameter counts (Swin_*_Weights meta num_params); init=false allocates zeros only.
  for (auto [arch, params, feat] : {std::tuple<const char*, int64_t, int>{"swin_t", 28288354, 768},
                                    {"swin-s", 49606258, 768}, {"swin_b", 87768224, 1024}}) {
    auto m = models::SwinTransformer::create(arch, -1, 0, false);
    int64_t n = 0;
    for (auto& [name, t] : m.named_parameters()) n += t.numel();
    CHECK_MESSAGE(n == params, arch << ": " << n << " parameters");
    CHECK(m.feature_dim() == feat);
    CHECK(m.num_classes() == 1000);
  }
  auto m = models::SwinTransformer::create("swin-t", 7, 1, false);
  CHECK(m.arch() == "swin_t");
  CHECK(m.num_classes() == 7);
  CHECK(models::swin_archs() == std::vector<std::string>{"swin_t", "swin_s", "swin_b"});
  CHECK(models::is_swin_arch("swin-b"));
  CHECK_FALSE(models::is_swin_arch("vit_b_16"));
  // The random init is torchvision's scheme: head and linears ~N(0, 0.02), biases and the index exact.
  auto r = models::SwinTransformer::create("swin_t", 10, 5, true);
  for (auto& [n, t] : models::state_dict(r)) {
    if (n == "head.weight") {
      auto v = t.to_f64_vector();
      double ss = 0;
      for (double x : v) ss += x * x;
      CHECK(std::abs(std::sqrt(ss / (double)v.size()) - 0.02) < 0.002);
    }
    if (n == "features.1.0.attn.relative_position_index") CHECK(test::same_bytes(t, ops::relative_position_index(7, 7)));
    if (n == "features.1.0.attn.qkv.bias") CHECK(t.to_f64_vector() == std::vector<double>((size_t)t.numel(), 0.0));
  }
}
}

// Full-size parity, outside `make test` (tools/swin_full_parity.py writes the data; see its docstring).
TEST_CASE("swin: full-size swin_t eval logits and features match torchvision" * doctest::skip()) {
  const char* dir = std::getenv("ISHSCALE_SWIN_FULL");
  REQUIRE_MESSAGE(dir, "set ISHSCALE_SWIN_FULL to the folder tools/swin_full_parity.py wrote");
  auto g = st::File::open(std::string(dir) + "/swin_t_golden.safetensors").load_all();
  auto m = models::SwinTransformer::create("swin-t", 1000, 0, /*init=*/false);
  models::load_weights(m, std::string(dir) + "/swin_t.pth");
  test::check_eval(m, g, "swin_t");
}
