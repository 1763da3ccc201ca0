// The transformer ops against PyTorch goldens (tools/fixtures_transformer.py: forward and every input
// gradient, relative error <= 1e-5 in fp32) and by central finite differences in double (the pattern
// of tests/test_gradcheck.cpp), plus their input validation.
#include <functional>

#include "engine/ops.h"
#include "engine/rng.h"
#include "tests/gradcheck.h"
#include "tests/util.h"

using namespace ish;

namespace {

constexpr double kRel = 1e-5;
using test::Fn;
using test::rand_d;

void expect_rel(const Tensor& got, const Tensor& ref, const std::string& what) {
  REQUIRE_MESSAGE(got.defined(), what << " missing");
  REQUIRE_MESSAGE(got.shape() == ref.shape(), what << " shape " << shape_str(got.shape()) << " vs " << shape_str(ref.shape()));
  const double e = test::rel_error(got, ref);
  CHECK_MESSAGE(e <= kRel, what << " rel err " << e);
}

// Loads tf_<name>, runs f on the named inputs (as leaves), checks y and d<input> for every input.
void golden(const std::string& name, const std::vector<std::string>& inputs, const Fn& f) {
  CAPTURE(name);
  auto fx = test::load_fixture("tf_" + name + ".safetensors");
  std::vector<Tensor> in;
  for (auto& k : inputs) in.push_back(fx.at(k).set_requires_grad(true));
  Tensor y = f(in);
  expect_rel(y, fx.at("y"), name + " y");
  autograd::backward(y, fx.at("gy"));
  for (size_t i = 0; i < inputs.size(); i++) expect_rel(in[i].grad(), fx.at("d" + inputs[i]), name + " d" + inputs[i]);
}


void gradcheck(const std::string& name, const Fn& f, std::vector<Tensor> inputs, int samples = 30) {
  test::gradcheck(name, f, std::move(inputs), samples);
}

double eps_of(const std::map<std::string, Tensor>& f) { return f.at("eps").item(); }

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("transformer ops: layer_norm, gelu, softmax match torch (forward and gradients)") {
  for (const char* n : {"ln_a", "ln_b", "ln_c"}) {
    const double eps = eps_of(test::load_fixture(std::string("tf_") + n + ".safetensors"));
    golden(n, {"x", "w", "b"}, [=](auto& v) { return ops::layer_norm(v[0], v[1], v[2], eps); });
  }
  golden("gelu", {"x"}, [](auto& v) { return ops::gelu(v[0]); });
  golden("softmax", {"x"}, [](auto& v) { return ops::softmax_last(v[0]); });
  golden("softmax_wide", {"x"}, [](auto& v) { return ops::softmax_last(v[0]); });
}

TEST_CASE("transformer ops: bmm (every transpose), permute, narrow, cat, expand0, add_broadcast, linear [..., K]") {
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      golden("bmm_" + std::to_string(ta) + std::to_string(tb), {"a", "b"},
             [=](auto& v) { return ops::bmm(v[0], v[1], ta, tb); });
  golden("permute_a", {"x"}, [](auto& v) { return ops::permute(v[0], {0, 2, 1, 3}); });
  golden("permute_b", {"x"}, [](auto& v) { return ops::permute(v[0], {3, 1, 0, 2}); });
  golden("permute_qkv", {"x"}, [](auto& v) { return ops::permute(v[0], {2, 0, 3, 1, 4}); });
  golden("narrow", {"x"}, [](auto& v) { return ops::narrow(v[0], 1, 1, 3); });
  golden("cat", {"a", "b"}, [](auto& v) { return ops::cat({v[0], v[1]}, 1); });
  golden("expand0", {"b"}, [](auto& v) { return ops::expand0(v[0], 4); });
  golden("add_broadcast", {"x", "p"}, [](auto& v) { return ops::add_broadcast(v[0], v[1]); });
  golden("linear3d", {"x", "w", "b"}, [](auto& v) { return ops::linear(v[0], v[1], v[2]); });
}

TEST_CASE("finite differences: transformer ops") {
  for (double eps : {1e-6, 1e-5})
    gradcheck("layer_norm eps=" + std::to_string(eps), [=](auto& v) { return ops::layer_norm(v[0], v[1], v[2], eps); },
              {rand_d({2, 3, 7}, 1, -2, 2), rand_d({7}, 2, 0.5, 1.5), rand_d({7}, 3)});
  gradcheck("gelu", [](auto& v) { return ops::gelu(v[0]); }, {rand_d({5, 8}, 4, -4, 4)});
  gradcheck("softmax_last 3-d", [](auto& v) { return ops::softmax_last(v[0]); }, {rand_d({2, 3, 6}, 5, -3, 3)});
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      gradcheck("bmm " + std::to_string(ta) + std::to_string(tb), [=](auto& v) { return ops::bmm(v[0], v[1], ta, tb); },
                {rand_d(ta ? Shape{3, 4, 2} : Shape{3, 2, 4}, 6), rand_d(tb ? Shape{3, 5, 4} : Shape{3, 4, 5}, 7)});
  gradcheck("permute", [](auto& v) { return ops::permute(v[0], {1, 3, 0, 2}); }, {rand_d({2, 3, 4, 2}, 8)});
  gradcheck("narrow", [](auto& v) { return ops::narrow(v[0], -1, 2, 2); }, {rand_d({3, 2, 5}, 9)});
  gradcheck("select", [](auto& v) { return ops::select(v[0], 1, -1); }, {rand_d({3, 2, 5}, 22)});
  gradcheck("cat", [](auto& v) { return ops::cat({v[0], v[1], v[2]}, 1); },
            {rand_d({2, 1, 3}, 10), rand_d({2, 4, 3}, 11), rand_d({2, 2, 3}, 12)});
  gradcheck("expand0", [](auto& v) { return ops::expand0(v[0], 3); }, {rand_d({1, 2, 4}, 13)});
  gradcheck("add_broadcast", [](auto& v) { return ops::add_broadcast(v[0], v[1]); },
            {rand_d({3, 2, 4}, 14), rand_d({1, 2, 4}, 15)});
  gradcheck("linear [..., K]", [](auto& v) { return ops::linear(v[0], v[1], v[2]); },
            {rand_d({2, 3, 5}, 16), rand_d({4, 5}, 17), rand_d({4}, 18)});
  // The attention pattern the ViT runs: softmax(q k^T * s) v over heads folded into the batch.
  gradcheck("attention", [](auto& v) {
    Tensor a = ops::softmax_last(ops::mul_scalar(ops::bmm(v[0], v[1], false, true), 0.5));
    return ops::bmm(a, v[2]);
  }, {rand_d({2, 3, 4}, 19), rand_d({2, 3, 4}, 20), rand_d({2, 3, 4}, 21)});
}

TEST_CASE("transformer ops refuse bad shapes with one clear error") {
  Tensor x = Tensor::zeros({2, 3, 4});
  CHECK_THROWS_WITH_AS(ops::layer_norm(x, Tensor::zeros({3}), Tensor::zeros({4}), 1e-6), doctest::Contains("layer_norm"), Error);
  CHECK_THROWS_WITH_AS(ops::bmm(x, Tensor::zeros({2, 3, 4})), doctest::Contains("do not chain"), Error);
  CHECK_THROWS_WITH_AS(ops::permute(x, {0, 0, 1}), doctest::Contains("permutation"), Error);
  CHECK_THROWS_WITH_AS(ops::narrow(x, 1, 2, 2), doctest::Contains("outside dim"), Error);
  CHECK_THROWS_WITH_AS(ops::narrow(x, 3, 0, 1), doctest::Contains("out of range"), Error);
  CHECK_THROWS_WITH_AS(ops::select(x, 1, 3), doctest::Contains("out of range"), Error);
  CHECK(ops::select(x, -1, 0).shape() == Shape({2, 3}));
  CHECK_THROWS_WITH_AS(ops::cat({x, Tensor::zeros({2, 3, 5})}, 1), doctest::Contains("outside dim"), Error);
  CHECK_THROWS_WITH_AS(ops::add_broadcast(x, Tensor::zeros({2, 3, 4, 1})), doctest::Contains("broadcast"), Error);
  CHECK_THROWS_WITH_AS(ops::add_broadcast(x, Tensor::zeros({1, 2, 4})), doctest::Contains("broadcast"), Error);
  CHECK_THROWS_WITH_AS(ops::expand0(x, 2), doctest::Contains("expand0"), Error);
  // A 1-row broadcast of the full trailing shape and of the last dim alone are fine.
  CHECK(ops::add_broadcast(x, Tensor::zeros({4})).shape() == x.shape());
  CHECK(ops::add_broadcast(x, Tensor::zeros({1, 3, 4})).shape() == x.shape());
}

TEST_CASE("transformer ops: the fused attention_softmax matches torch (scale, bias, window mask; gradients)") {
  const auto fx = test::load_fixture("tf_attn_softmax.safetensors");
  const double scale = fx.at("scale").item();
  const Tensor mask = fx.at("mask");
  golden("attn_softmax", {"x", "bias"}, [=](auto& v) { return ops::attention_softmax(v[0], scale, v[1], mask); });
  // A ViT row: 197 scores (the vector loop and its tail), neither bias nor mask.
  golden("attn_softmax_vit", {"x"}, [](auto& v) { return ops::attention_softmax(v[0], 0.125); });
  // The same numbers as the unfused ops it replaces, in fp64 (reordering only).
  const Tensor m = ops::shifted_window_mask(2, 6, 2, 3, 1, 1, DType::F64);
  REQUIRE(m.shape() == Shape({2, 6, 6}));
  Tensor x6 = rand_d({4, 3, 6, 6}, 33, -3, 3), b6 = rand_d({3, 6, 6}, 34);
  Tensor fused = ops::attention_softmax(x6, 0.7, b6, m);
  Tensor z = ops::add(ops::mul_scalar(x6, 0.7), ops::reshape(ops::expand0(ops::reshape(b6, {1, 3, 6, 6}), 4), {4, 3, 6, 6}));
  Tensor mz = ops::reshape(ops::expand0(ops::reshape(m, {1, 2, 1, 6, 6}), 2), {2, 2, 1, 6, 6});
  mz = ops::reshape(ops::cat({mz, mz, mz}, 2), {4, 3, 6, 6});
  CHECK(test::rel_error(fused, ops::softmax_last(ops::add(z, mz))) <= 1e-14);
}

TEST_CASE("finite differences: attention_softmax (scale, bias, mask)") {
  const Tensor m = ops::shifted_window_mask(2, 6, 2, 3, 1, 1, DType::F64);  // [2,6,6], 0 / -100
  gradcheck("attention_softmax bias+mask", [=](auto& v) { return ops::attention_softmax(v[0], 0.6, v[1], m); },
            {rand_d({4, 3, 6, 6}, 35, -2, 2), rand_d({3, 6, 6}, 36)});
  gradcheck("attention_softmax plain", [](auto& v) { return ops::attention_softmax(v[0], 1.3); },
            {rand_d({2, 2, 3, 5}, 37, -2, 2)});
}

TEST_CASE("attention_softmax refuses bad shapes with one clear error") {
  Tensor x = Tensor::zeros({4, 3, 5, 6});
  CHECK_THROWS_WITH_AS(ops::attention_softmax(Tensor::zeros({3, 5, 6}), 1.0), doctest::Contains("[B,H,Nq,Nk]"), Error);
  CHECK_THROWS_WITH_AS(ops::attention_softmax(x, 1.0, Tensor::zeros({3, 6, 5})), doctest::Contains("bias"), Error);
  CHECK_THROWS_WITH_AS(ops::attention_softmax(x, 1.0, Tensor(), Tensor::zeros({3, 5, 6})),
                       doctest::Contains("nW dividing the batch 4"), Error);
  CHECK_THROWS_WITH_AS(ops::attention_softmax(x, 1.0, Tensor(), Tensor::zeros({2, 5, 6}).set_requires_grad(true)),
                       doctest::Contains("constant"), Error);
  CHECK_THROWS_WITH_AS(ops::attention_softmax(x, NAN), doctest::Contains("not finite"), Error);
  CHECK_THROWS_WITH_AS(ops::attention_softmax(x, 1.0, Tensor::zeros({3, 5, 6}, DType::F64)), doctest::Contains("dtype"),
                       Error);
}
}
