// Finite-difference checks, in double, of every backward rule in the op layer, plus the
// autograd tape on a graph with shared subexpressions and accumulation into parameters.
// Central differences with h=1e-6: truncation ~h^2, round-off ~1e-16/h, so agreement to
// |num-ana| <= 1e-7 + 1e-6*|ana| is expected for smooth functions.
#include <functional>

#include "engine/ops.h"
#include "engine/rng.h"
#include "tests/gradcheck.h"
#include "tests/util.h"

using namespace ish;

namespace {

using test::Fn;
using test::rand_d;



void gradcheck(const std::string& name, const Fn& f, std::vector<Tensor> inputs, int samples = 24) {
  test::gradcheck(name, f, std::move(inputs), samples);
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("finite differences: conv2d (stride, padding, dilation, bias)") {
  struct C { int stride, pad, dil, R; bool bias; };
  for (C c : {C{1, 1, 1, 3, false}, C{2, 3, 1, 7, true}, C{2, 0, 1, 1, false}, C{1, 2, 2, 3, true}, C{3, 1, 1, 2, true}}) {
    Tensor b = c.bias ? rand_d({4}, 3) : Tensor();
    std::vector<Tensor> in = {rand_d({2, 9, 8, 3}, 1), rand_d({4, c.R, c.R, 3}, 2)};
    if (c.bias) in.push_back(b);
    gradcheck("conv2d R=" + std::to_string(c.R) + " s=" + std::to_string(c.stride), [c](const std::vector<Tensor>& v) {
      return ops::conv2d(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), ops::Conv2dParams::make(c.stride, c.pad, c.dil));
    }, in);
  }
}

TEST_CASE("finite differences: batch_norm train/eval with fused residual and relu") {
  for (bool training : {true, false})
    for (bool res : {false, true})
      for (bool relu : {false, true}) {
        std::vector<Tensor> in = {rand_d({3, 4, 2, 5}, 11, -2, 2), rand_d({5}, 12, 0.5, 1.5), rand_d({5}, 13)};
        if (res) in.push_back(rand_d({3, 4, 2, 5}, 14));
        Tensor rm0 = rand_d({5}, 15, -0.2, 0.2), rv0 = rand_d({5}, 16, 0.5, 1.5);
        gradcheck(std::string("bn train=") + (training ? "1" : "0") + " res=" + (res ? "1" : "0") + " relu=" + (relu ? "1" : "0"),
                  [=](const std::vector<Tensor>& v) {
                    ops::BNParams p;
                    p.training = training;
                    p.relu = relu;
                    return ops::batch_norm(v[0], v[1], v[2], rm0.clone(), rv0.clone(), p, v.size() > 3 ? v[3] : Tensor());
                  }, in);
      }
}

TEST_CASE("finite differences: pools, relu, add, linear, cross_entropy") {
  gradcheck("max_pool2d 3x3/2/1", [](auto& v) { return ops::max_pool2d(v[0], ops::Pool2dParams::make(3, 2, 1)); },
            {rand_d({2, 7, 6, 3}, 21)});
  gradcheck("max_pool2d 2x2/1/0 d2", [](auto& v) { return ops::max_pool2d(v[0], ops::Pool2dParams::make(2, 1, 0, 2)); },
            {rand_d({1, 6, 5, 2}, 22)});
  gradcheck("global_avg_pool", [](auto& v) { return ops::global_avg_pool(v[0]); }, {rand_d({2, 3, 4, 5}, 23)});
  gradcheck("relu", [](auto& v) { return ops::relu(v[0]); }, {rand_d({4, 6}, 24)});
  gradcheck("add", [](auto& v) { return ops::add(v[0], v[1]); }, {rand_d({3, 5}, 25), rand_d({3, 5}, 26)});
  gradcheck("linear", [](auto& v) { return ops::linear(v[0], v[1], v[2]); },
            {rand_d({4, 6}, 27), rand_d({3, 6}, 28), rand_d({3}, 29)});
  gradcheck("matmul", [](auto& v) { return ops::matmul(v[0], v[1]); }, {rand_d({4, 6}, 30), rand_d({6, 3}, 31)});
  Tensor labels = Tensor::from_i64({0, 3, 2, 3, 1}, {5});
  for (double ls : {0.0, 0.2})
    gradcheck("cross_entropy ls=" + std::to_string(ls), [=](auto& v) { return ops::cross_entropy(v[0], labels, ls); },
              {rand_d({5, 4}, 32, -3, 3)});
}

TEST_CASE("finite differences: element-wise and reduction ops") {
  gradcheck("sub", [](auto& v) { return ops::sub(v[0], v[1]); }, {rand_d({3, 4}, 41), rand_d({3, 4}, 42)});
  gradcheck("mul", [](auto& v) { return ops::mul(v[0], v[1]); }, {rand_d({3, 4}, 43), rand_d({3, 4}, 44)});
  gradcheck("mul_scalar", [](auto& v) { return ops::mul_scalar(v[0], -1.7); }, {rand_d({3, 4}, 45)});
  gradcheck("add_scalar", [](auto& v) { return ops::add_scalar(v[0], 0.3); }, {rand_d({3, 4}, 46)});
  gradcheck("exp", [](auto& v) { return ops::exp(v[0]); }, {rand_d({3, 4}, 47)});
  gradcheck("log", [](auto& v) { return ops::log(v[0]); }, {rand_d({3, 4}, 48, 0.5, 2)});
  gradcheck("clamp_max", [](auto& v) { return ops::clamp_max(v[0], 0.25); }, {rand_d({4, 5}, 49)});
  gradcheck("reshape", [](auto& v) { return ops::reshape(v[0], {6, 2}); }, {rand_d({3, 4}, 52)});
  gradcheck("sum", [](auto& v) { return ops::sum(v[0]); }, {rand_d({3, 4}, 53)});
  gradcheck("mean", [](auto& v) { return ops::mean(v[0]); }, {rand_d({3, 4}, 54)});
  gradcheck("sum_last", [](auto& v) { return ops::sum_last(v[0]); }, {rand_d({3, 4}, 55)});
  gradcheck("max_last", [](auto& v) { return ops::max_last(v[0]); }, {rand_d({3, 6}, 56)});
  gradcheck("logsumexp_last", [](auto& v) { return ops::logsumexp_last(v[0]); }, {rand_d({3, 6}, 57, -4, 4)});
  gradcheck("softmax_last", [](auto& v) { return ops::softmax_last(v[0]); }, {rand_d({3, 6}, 58, -3, 3)});
  gradcheck("log_softmax_last", [](auto& v) { return ops::log_softmax_last(v[0]); }, {rand_d({3, 6}, 59, -3, 3)});
}

TEST_CASE("autograd: shared subexpressions, diamond graphs and leaf accumulation") {
  // f(x, w) = sum(exp(a) * a + a) with a = x*w used three times; df/da = exp(a)(1+a) + 1.
  Fn f = [](const std::vector<Tensor>& v) {
    Tensor a = ops::mul(v[0], v[1]);
    Tensor b = ops::add(ops::mul(ops::exp(a), a), a);
    Tensor c = ops::softmax_last(ops::reshape(b, {2, 6}));
    return ops::add(ops::sum(ops::mul(c, ops::reshape(a, {2, 6}))), ops::sum(b));
  };
  gradcheck("shared subexpressions", f, {rand_d({3, 4}, 61), rand_d({3, 4}, 62)});

  // Closed form on a diamond: y = sum((x+x)*x) = 2 sum(x^2) -> dy/dx = 4x; a second backward accumulates.
  Tensor x = rand_d({5}, 63).set_requires_grad(true);
  for (int pass = 1; pass <= 2; pass++) {
    Tensor y = ops::sum(ops::mul(ops::add(x, x), x));
    y.backward();
    auto g = x.grad().to_f64_vector(), xv = x.to_f64_vector();
    for (size_t i = 0; i < g.size(); i++) CHECK(g[i] == doctest::Approx(4 * pass * xv[i]).epsilon(1e-12));
  }
  // Tensors that do not require grad get none; no-grad mode records nothing.
  Tensor c = rand_d({5}, 64);
  Tensor y = ops::sum(ops::mul(x, c));
  CHECK(y.requires_grad());
  y.backward();
  CHECK_FALSE(c.grad().defined());
  {
    NoGradGuard ng;
    CHECK_FALSE(ops::mul(x, c).requires_grad());
  }
}

TEST_CASE("linear's wgrad_input replaces only grad_W (the ISH hook)") {
  Tensor x = rand_d({4, 6}, 71).set_requires_grad(true), W = rand_d({3, 6}, 72).set_requires_grad(true),
         b = rand_d({3}, 73).set_requires_grad(true), xt = rand_d({4, 6}, 74);
  Tensor x2 = x.detach().clone().set_requires_grad(true), W2 = W.detach().clone().set_requires_grad(true),
         b2 = b.detach().clone().set_requires_grad(true);
  Tensor g = rand_d({4, 3}, 75);
  autograd::backward(ops::linear(x, W, b, xt), g);
  autograd::backward(ops::linear(x2, W2, b2), g);
  // grad_W = g^T xt exactly; grad_x and grad_b as in a plain linear layer.
  Tensor want = ops::matmul(Tensor::from_f64([&] {
    auto gv = g.to_f64_vector();
    std::vector<double> t(12);
    for (int i = 0; i < 4; i++) for (int j = 0; j < 3; j++) t[j * 4 + i] = gv[i * 3 + j];
    return t; }(), {3, 4}), xt);
  CHECK(test::compare(W.grad(), want, 1e-14, 1e-14).ok);
  CHECK(test::compare(x.grad(), x2.grad(), 0, 0).ok);
  CHECK(test::compare(b.grad(), b2.grad(), 0, 0).ok);
  CHECK_FALSE(test::compare(W.grad(), W2.grad(), 1e-6, 1e-6).ok);
}
}
