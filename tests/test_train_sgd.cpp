// SGD (torch.optim.SGD), OpenOOD's cosine LambdaLR and the ISH shaping against tools/fixtures_train.py.
#include <cmath>

#include "tests/util.h"
#include "train/ish.h"
#include "train/schedule.h"
#include "train/sgd.h"

using namespace ish;
using namespace ish::train;

namespace {

// Three steps of one config (two groups: a.* and b.*) from the fixture's start and gradients.
void sgd_trajectory(const std::string& cname, SgdGroupOptions o0, SgdGroupOptions o1) {
  auto f = test::load_fixture("train_sgd.safetensors");
  const char* names[] = {"a.w", "a.b", "b.w", "b.b"};
  std::map<std::string, Tensor> ps;
  for (auto n : names) ps[n] = f.at(std::string("init.") + n).clone().set_requires_grad(true);
  ParamGroup g0{{{"a.w", ps["a.w"]}, {"a.b", ps["a.b"]}}, o0}, g1{{{"b.w", ps["b.w"]}, {"b.b", ps["b.b"]}}, o1};
  SGD opt({g0, g1});
  for (int s = 0; s < 3; s++) {
    for (auto n : names) ps[n].grad() = f.at(str("grad", s, ".", n)).clone();
    opt.step();
    // fp32 update chains of 3 steps: only rounding-order differences from torch remain.
    for (auto n : names) test::check_close(ps[n], f.at(str(cname, ".step", s, ".", n)), 1e-5, 1e-7, str(cname, " step ", s, " ", n));
  }
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("train: SGD Nesterov with two weight-decay groups matches torch.optim.SGD over 3 steps") {
  sgd_trajectory("nest", {0.1, 0.9, 0.0, 5e-4, true}, {0.05, 0.9, 0.0, 5e-5, true});
}

TEST_CASE("train: SGD with dampening, and a group without momentum, matches torch.optim.SGD") {
  sgd_trajectory("damp", {0.1, 0.8, 0.3, 1e-2, false}, {0.2, 0.0, 0.0, 0.0, false});
}

TEST_CASE("train: SGD state round-trips and skips parameters without a gradient") {
  Tensor p = Tensor::from_f32({1, 2, 3}, {3}).set_requires_grad(true);
  Tensor q = Tensor::from_f32({4, 5}, {2}).set_requires_grad(true);
  SGD opt({ParamGroup{{{"p", p}, {"q", q}}, {0.1, 0.9, 0.0, 0.0, true}}});
  p.grad() = Tensor::from_f32({1, 1, 1}, {3});
  opt.step();
  CHECK(q.to_f32_vector() == std::vector<float>{4, 5});  // no grad: untouched, no buffer
  auto st = opt.state();
  REQUIRE(st.size() == 1);
  CHECK(st[0].first == "optim.p.momentum_buffer");
  CHECK(st[0].second.to_f32_vector() == std::vector<float>{1, 1, 1});
  // A second optimizer restored from the state continues identically.
  Tensor p2 = p.clone().set_requires_grad(true);
  SGD opt2({ParamGroup{{{"p", p2}, {"q", q}}, {0.1, 0.9, 0.0, 0.0, true}}});
  opt2.load_state({{st[0].first, st[0].second}});
  p.grad() = Tensor::from_f32({0.5f, -1, 2}, {3});
  p2.grad() = p.grad().clone();
  opt.step();
  opt2.step();
  CHECK(p.to_f32_vector() == p2.to_f32_vector());
  CHECK_THROWS_AS(opt2.load_state({{"optim.zz.momentum_buffer", Tensor::zeros({3})}}), Error);
  CHECK_THROWS_AS(opt2.load_state({{"optim.p.momentum_buffer", Tensor::zeros({4})}}), Error);
  CHECK_THROWS_AS(SGD({ParamGroup{{{"p", p}}, {0.1, 0.0, 0.0, 0.0, true}}}), Error);  // Nesterov w/o momentum
}

TEST_CASE("train: cosine LR matches OpenOOD's LambdaLR, first update at the base lr") {
  auto f = test::load_fixture("train_cosine.safetensors");
  auto lrs = f.at("lrs").to_f64_vector();
  CosineLR s(0.003, (int64_t)lrs.size());
  CHECK(s.lr(0) == 0.003);
  for (size_t i = 0; i < lrs.size(); i++) {
    INFO("update " << i);
    CHECK(std::fabs(s.lr((int64_t)i) - lrs[i]) <= 1e-15 + 1e-12 * lrs[i]);  // double vs numpy double
  }
  CHECK(std::fabs(s.lr(10) - 1e-6) < 1e-18);
}

TEST_CASE("train: ISH shaping per strategy matches the reference semantics") {
  auto f = test::load_fixture("train_ish_rows.safetensors");
  const Tensor& x = f.at("x");
  CHECK(ish_keep(40, 0.85) == 6);
  CHECK(ish_keep(2048, 0.85) == 307);
  CHECK(ish_keep(512, 0.85) == 76);
  for (auto s : {IshStrategy::MinkSampleExpScale, IshStrategy::ExpScale, IshStrategy::MinkSampleLnScale}) {
    Tensor y = ish_shape(x, s, 0.85);
    // Sums in double here vs float32 in torch: a few ulps, amplified by exp(s1/s2).
    test::check_close(y, f.at(ish_strategy_name(s)), 1e-5, 1e-6, ish_strategy_name(s));
    Tensor y64 = ish_shape(x.to(DType::F64), s, 0.85);
    test::check_close(y64, f.at(ish_strategy_name(s)), 1e-5, 1e-6, str(ish_strategy_name(s), " f64"));
  }
  CHECK_THROWS_AS(ish_keep(10, 0.95), Error);  // keeps nothing
  CHECK_THROWS_AS(ish_keep(10, 85), Error);    // a percent, not a fraction
  CHECK_THROWS_AS(ish_strategy_from_name("topk"), Error);
}

TEST_CASE("train: ISH ties keep the lower index") {
  Tensor x = Tensor::from_f32({1, 2, 2, 2, 0}, {1, 5});
  // n=5, p=0.5 -> k=2: |x| = 2 at indices 1,2,3 -> keep 1 and 2; s1 = 7, s2 = 4.
  Tensor y = ish_shape(x, IshStrategy::MinkSampleLnScale, 0.5);
  CHECK(y.to_f32_vector() == std::vector<float>{0, 2 * 1.75f, 2 * 1.75f, 0, 0});
}
}
