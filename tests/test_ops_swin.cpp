// Swin's window machinery against PyTorch/torchvision goldens (tools/fixtures_transformer.py) and by
// finite differences: roll, window partition/merge, PatchMerging's gather, the relative position bias
// gather and index, and whole shifted-window attention blocks composed from engine ops, compared
// with torchvision's shifted_window_attention (shifts 0, (2,2) and (0,2): the mask on one axis).
#include <cmath>
#include <cstring>
#include <functional>

#include "engine/ops.h"
#include "engine/rng.h"
#include "tests/gradcheck.h"
#include "tests/util.h"

using namespace ish;

namespace {

using test::Fn;
using test::rand_d;


// Shifted-window multi-head self-attention on x [B,H,W,C] (H, W multiples of the window), the
// computation of torchvision's shifted_window_attention.
Tensor swin_attention(const Tensor& x, const Tensor& qkv_w, const Tensor& qkv_b, const Tensor& proj_w,
                      const Tensor& proj_b, const Tensor& table, int wh, int ww, int heads, int sh, int sw) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3), N = (int64_t)wh * ww, hd = C / heads;
  if (wh >= H) sh = 0;
  if (ww >= W) sw = 0;
  Tensor h = ops::roll(ops::roll(x, 1, -sh), 2, -sw);
  Tensor w = ops::window_partition(h, wh, ww);
  const int64_t Bw = w.size(0), nW = Bw / B;
  Tensor qkv = ops::permute(ops::reshape(ops::linear(w, qkv_w, qkv_b), {Bw, N, 3, heads, hd}), {2, 0, 3, 1, 4});
  auto part = [&](int i) { return ops::reshape(ops::select(qkv, 0, i), {Bw * heads, N, hd}); };
  Tensor attn = ops::bmm(ops::mul_scalar(part(0), std::pow((double)hd, -0.5)), part(1), false, true);
  Tensor bias = ops::permute(ops::reshape(ops::index_select0(table, ops::relative_position_index(wh, ww).to(x.device())),
                                          {N, N, heads}), {2, 0, 1});
  attn = ops::add_broadcast(ops::reshape(attn, {Bw, heads, N, N}), ops::reshape(bias, {1, heads, N, N}));
  if (sh || sw) {
    Tensor m = ops::shifted_window_mask(H, W, wh, ww, sh, sw, x.dtype());  // [nW,N,N], one per head below
    m = ops::permute(ops::reshape(ops::expand0(ops::reshape(m, {1, nW * N * N}), heads), {heads, nW, N, N}), {1, 0, 2, 3});
    attn = ops::add_broadcast(ops::reshape(attn, {B, nW, heads, N, N}), ops::reshape(m.to(x.device()), {1, nW, heads, N, N}));
  }
  attn = ops::softmax_last(ops::reshape(attn, {Bw * heads, N, N}));
  Tensor o = ops::reshape(ops::permute(ops::reshape(ops::bmm(attn, part(2)), {Bw, heads, N, hd}), {0, 2, 1, 3}), {Bw, N, C});
  h = ops::window_merge(ops::linear(o, proj_w, proj_b), B, H, W, wh, ww);
  return ops::roll(ops::roll(h, 1, sh), 2, sw);
}

void golden(const std::string& name, const std::vector<std::string>& inputs, const Fn& f, double tol = 1e-5) {
  CAPTURE(name);
  auto fx = test::load_fixture("tf_" + name + ".safetensors");
  std::vector<Tensor> in;
  for (auto& k : inputs) in.push_back(fx.at(k).set_requires_grad(true));
  Tensor y = f(in);
  REQUIRE(y.shape() == fx.at("y").shape());
  const double ey = test::rel_error(y, fx.at("y"));
  CHECK_MESSAGE(ey <= tol, name << " y rel err " << ey);
  autograd::backward(y, fx.at("gy"));
  for (size_t i = 0; i < inputs.size(); i++) {
    REQUIRE_MESSAGE(in[i].grad().defined(), name << " d" << inputs[i] << " missing");
    const double e = test::rel_error(in[i].grad(), fx.at("d" + inputs[i]));
    CHECK_MESSAGE(e <= tol, name << " d" << inputs[i] << " rel err " << e);
  }
}

void gradcheck(const std::string& name, const Fn& f, std::vector<Tensor> inputs, int samples = 30) {
  test::gradcheck(name, f, std::move(inputs), samples);
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("swin ops: roll, window partition, patch merging gather and the bias gather match torch") {
  golden("roll", {"x"}, [](auto& v) { return ops::roll(ops::roll(v[0], 1, -2), 2, 3); }, 0);
  golden("window_partition", {"x"}, [](auto& v) { return ops::window_partition(v[0], 3, 2); }, 0);
  golden("patch_merge_gather", {"x"}, [](auto& v) { return ops::patch_merge_gather(v[0]); }, 0);
  auto fx = test::load_fixture("tf_index_select0.safetensors");
  Tensor idx = fx.at("idx");
  golden("index_select0", {"t"}, [=](auto& v) { return ops::index_select0(v[0], idx); });
  // window_merge undoes window_partition exactly.
  Tensor x = ops::randn({2, 6, 4, 3}, 1);
  CHECK(test::compare(ops::window_merge(ops::window_partition(x, 3, 2), 2, 6, 4, 3, 2), x, 0, 0).ok);
}

TEST_CASE("swin ops: the relative position index equals torchvision's buffer") {
  for (auto [wh, ww] : {std::pair<int, int>{7, 7}, {3, 4}}) {
    Tensor ref = test::load_fixture("tf_swin_rpi_" + std::to_string(wh) + "x" + std::to_string(ww) + ".safetensors").at("idx");
    Tensor ours = ops::relative_position_index(wh, ww);
    REQUIRE(ours.shape() == ref.shape());
    CHECK(std::memcmp(ours.raw(), ref.raw(), ours.nbytes()) == 0);
  }
}

TEST_CASE("swin ops: shifted-window attention blocks match torchvision (forward and every gradient)") {
  for (auto [sh, sw] : {std::pair<int, int>{0, 0}, {2, 2}, {0, 2}}) {
    golden("swin_attn_" + std::to_string(sh) + std::to_string(sw), {"x", "qkv_w", "qkv_b", "proj_w", "proj_b", "table"},
           [sh = sh, sw = sw](auto& v) { return swin_attention(v[0], v[1], v[2], v[3], v[4], v[5], 4, 4, 3, sh, sw); });
  }
}

TEST_CASE("finite differences: swin ops") {
  gradcheck("roll", [](auto& v) { return ops::roll(v[0], 1, 2); }, {rand_d({2, 5, 3}, 1)});
  gradcheck("roll negative, last dim", [](auto& v) { return ops::roll(v[0], -1, -4); }, {rand_d({2, 3, 5}, 2)});
  gradcheck("window_partition", [](auto& v) { return ops::window_partition(v[0], 2, 3); }, {rand_d({2, 4, 6, 2}, 3)});
  gradcheck("window_merge", [](auto& v) { return ops::window_merge(v[0], 1, 4, 6, 2, 3); }, {rand_d({4, 6, 2}, 4)});
  gradcheck("patch_merge_gather", [](auto& v) { return ops::patch_merge_gather(v[0]); }, {rand_d({2, 4, 2, 3}, 5)});
  Tensor idx = Tensor::from_i64({0, 3, 3, 1, 0, 4, 3}, {7});
  gradcheck("index_select0 (repeated rows)", [=](auto& v) { return ops::index_select0(v[0], idx); }, {rand_d({5, 3}, 6)});
  gradcheck("shifted-window attention", [](auto& v) {
    return swin_attention(v[0], v[1], v[2], v[3], v[4], v[5], 2, 2, 2, 1, 1);
  }, {rand_d({1, 4, 4, 4}, 7), rand_d({12, 4}, 8), rand_d({12}, 9), rand_d({4, 4}, 10), rand_d({4}, 11), rand_d({9, 2}, 12)});
}

TEST_CASE("swin ops: the mask of a shift separates the regions torchvision separates; bad sizes are refused") {
  // 4x4 map, 2x2 windows, shift 1: the last window (bottom right) mixes 4 regions, the first is one region.
  Tensor m = ops::shifted_window_mask(4, 4, 2, 2, 1, 1);
  REQUIRE(m.shape() == Shape({4, 4, 4}));
  auto v = m.to_f64_vector();
  for (int i = 0; i < 16; i++) CHECK(v[(size_t)i] == 0.0);  // window 0: all in region 0
  int cross = 0;
  for (int i = 0; i < 16; i++) cross += v[(size_t)(48 + i)] == -100.0;
  CHECK(cross == 12);  // 4 tokens, each in its own region: only the diagonal is 0
  CHECK_THROWS_AS(ops::window_partition(Tensor::zeros({1, 5, 4, 2}), 2, 2), Error);
  CHECK_THROWS_AS(ops::patch_merge_gather(Tensor::zeros({1, 3, 4, 2})), Error);
  CHECK_THROWS_WITH_AS(ops::index_select0(Tensor::zeros({3, 2}), Tensor::from_i64({0, 3}, {2})),
                       doctest::Contains("out of range"), Error);
  CHECK_THROWS_AS(ops::shifted_window_mask(4, 4, 2, 2, 2, 0), Error);
}
}
