// Gradients only where asked: conv2d with a frozen weight and/or bias computes the remaining
// gradients exactly as with everything trainable (same kernels, so bitwise) and leaves the frozen
// ones without a gradient. Also the CPU entry of the backend's eval-mode BN statistics.
#include <cmath>

#include "engine/backend.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "tests/util.h"

using namespace ish;

namespace {

Tensor rand_t(const Shape& s, uint64_t seed, DType dt) {
  Rng r(seed);
  std::vector<double> v((size_t)shape_numel(s));
  for (auto& e : v) e = r.uniform(-1, 1);
  return Tensor::from_f64(v, s).to(dt);
}

// Exactly equal values (f32 and f64 widen to double exactly).
bool same_bits(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined() || a.dtype() != b.dtype()) return false;
  return a.to_f64_vector() == b.to_f64_vector();
}

struct Grads { Tensor dx, dw, db; };

// One backward of sum(conv(x, w, b) * seed) with the chosen parameters trainable.
Grads conv_grads(DType dt, bool need_x, bool need_w, bool need_b) {
  const auto p = ops::Conv2dParams::make(2, 1, 1);
  Tensor x = rand_t({2, 7, 6, 3}, 11, dt), w = rand_t({4, 3, 3, 3}, 12, dt), b = rand_t({4}, 13, dt);
  x.set_requires_grad(need_x);
  w.set_requires_grad(need_w);
  b.set_requires_grad(need_b);
  Tensor y = ops::conv2d(x, w, b, p);
  REQUIRE(y.requires_grad());
  autograd::backward(y, rand_t(y.shape(), 14, dt));
  return {x.grad(), w.grad(), b.grad()};
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("conv2d backward: a frozen weight gets no dW, the other gradients are unchanged") {
  for (DType dt : {DType::F32, DType::F64}) {
    CAPTURE(dtype_name(dt));
    const Grads all = conv_grads(dt, true, true, true);
    REQUIRE(all.dx.defined());
    REQUIRE(all.dw.defined());
    REQUIRE(all.db.defined());
    SUBCASE("weight frozen") {
      const Grads g = conv_grads(dt, true, false, true);
      CHECK_FALSE(g.dw.defined());
      CHECK(same_bits(g.dx, all.dx));
      CHECK(same_bits(g.db, all.db));
    }
    SUBCASE("weight and bias frozen (feature extraction with input gradients, as ODIN)") {
      const Grads g = conv_grads(dt, true, false, false);
      CHECK_FALSE(g.dw.defined());
      CHECK_FALSE(g.db.defined());
      CHECK(same_bits(g.dx, all.dx));
    }
    SUBCASE("only the bias trainable") {
      const Grads g = conv_grads(dt, false, false, true);
      CHECK_FALSE(g.dx.defined());
      CHECK_FALSE(g.dw.defined());
      CHECK(same_bits(g.db, all.db));
    }
    SUBCASE("bias frozen, weight trainable") {
      const Grads g = conv_grads(dt, false, true, false);
      CHECK(same_bits(g.dw, all.dw));
      CHECK_FALSE(g.db.defined());
    }
  }
}

TEST_CASE("backend bn_eval_stats (CPU): running mean copied, 1/sqrt(var+eps) in double rounded once") {
  const double eps = 1e-5;
  const std::vector<double> rm = {0.5, -1.25, 3.0, 0.0, 1e-3}, rv = {1.0, 0.3, 7.5, 0.0, 1e-6};
  for (DType dt : {DType::F32, DType::F64}) {
    CAPTURE(dtype_name(dt));
    const int64_t C = (int64_t)rm.size();
    Tensor trm = Tensor::from_f64(rm, {C}).to(dt), trv = Tensor::from_f64(rv, {C}).to(dt);
    Tensor mean = Tensor::full({C}, 99, dt), invstd = Tensor::full({C}, 99, dt);
    cpu_backend().bn_eval_stats(C, trm, trv, eps, mean, invstd);
    const auto m = mean.to_f64_vector(), is = invstd.to_f64_vector(), rvd = trv.to_f64_vector(),
               rmd = trm.to_f64_vector();
    for (int64_t c = 0; c < C; c++) {
      CHECK(m[c] == rmd[c]);
      const double want = 1.0 / std::sqrt(rvd[c] + eps);
      if (dt == DType::F32) CHECK(is[c] == (double)(float)want);
      else CHECK(is[c] == want);
    }
  }
}
}  // TEST_SUITE
