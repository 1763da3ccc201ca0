// The vectorised float exp and erf of engine/cpu/vec_math.h against double libm, and the fp32 kernels built
// on them (GELU, the fused attention softmax) against their fp64 twins over dense sweeps, so that the
// clone the loader picks on this machine (AVX2 or baseline) is the one checked.
#include <cmath>
#include <vector>

#include "engine/cpu/transformer.h"
#include "engine/cpu/vec_math.h"
#include "engine/rng.h"
#include "tests/util.h"

using namespace ish;

namespace {
double ulps(float got, double ref) {
  const float r = (float)ref;
  const double ulp = std::nextafter(std::fabs(r), INFINITY) - std::fabs(r);
  return std::fabs((double)got - ref) / ulp;
}
}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("vec_math: exp_f within 2 ulp, erf_f within 3 ulp of double, specials kept") {
  double worst_exp = 0, worst_erf = 0;
  for (int i = -870000; i <= 880000; i++) {
    const float x = (float)i * 1e-4f;
    if (std::exp((double)x) >= 1.2e-38) worst_exp = std::max(worst_exp, ulps(cpu::exp_f(x), std::exp((double)x)));
  }
  for (int i = -600000; i <= 600000; i++) {
    const float x = (float)i * 1e-5f;
    if (x != 0) worst_erf = std::max(worst_erf, ulps(cpu::erf_f(x), std::erf((double)x)));
  }
  for (float x = 1e-30f; x < 1; x *= 1.01f) worst_erf = std::max(worst_erf, ulps(cpu::erf_f(x), std::erf((double)x)));
  CHECK_MESSAGE(worst_exp <= 2, "exp_f worst " << worst_exp << " ulp");
  CHECK_MESSAGE(worst_erf <= 3, "erf_f worst " << worst_erf << " ulp");
  CHECK(cpu::exp_f(0) == 1.f);
  CHECK(cpu::exp_f(-INFINITY) == 0.f);
  CHECK(cpu::exp_f(-100.f) == 0.f);
  CHECK(std::isnan(cpu::exp_f(NAN)));
  CHECK(cpu::erf_f(0) == 0.f);
  CHECK(cpu::erf_f(5.f) == 1.f);
  CHECK(cpu::erf_f(-INFINITY) == -1.f);
  CHECK(std::isnan(cpu::erf_f(NAN)));
}

TEST_CASE("vec_math kernels: fp32 GELU and attention softmax track their fp64 twins") {
  // GELU over [-8, 8]: x/2 (1 + erf(x/sqrt 2)) in float is within |x| 2^-21 of the exact value (a few ulp
  // of erf plus the roundings of 1 + erf and the products); a wrong erf (even 1e-6 off) fails.
  const int64_t n = 1600001;
  std::vector<float> x((size_t)n), y((size_t)n);
  for (int64_t i = 0; i < n; i++) x[(size_t)i] = -8.f + 1e-5f * (float)i;
  cpu::gelu<float>(n, x.data(), y.data());
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    const double v = x[(size_t)i], ref = 0.5 * v * (1.0 + std::erf(v * M_SQRT1_2));
    worst = std::max(worst, std::fabs(y[(size_t)i] - ref) / std::max(std::fabs(v), 1e-30));
  }
  CHECK_MESSAGE(worst <= std::ldexp(1.0, -21), "gelu worst |err|/|x| " << worst);
  // Attention rows of 197, 49 and 3 (vector loop and tail), bias and a 0/-100 mask: each probability
  // within 1e-6 relative (plus the input rounding below, plus 1e-12) of the fp64 kernel on the same inputs.
  for (int64_t Nk : {197, 49, 3}) {
    const int64_t B = 4, H = 3, Nq = 7, nW = 2;
    Rng r(7);
    std::vector<float> xs((size_t)(B * H * Nq * Nk)), bs((size_t)(H * Nq * Nk)), ms((size_t)(nW * Nq * Nk)),
        ys(xs.size());
    for (auto& v : xs) v = (float)r.uniform(-6, 6);
    for (auto& v : bs) v = (float)r.uniform(-1, 1);
    for (auto& v : ms) v = r.uniform(0, 1) < 0.3 ? -100.f : 0.f;
    std::vector<double> xd(xs.begin(), xs.end()), bd(bs.begin(), bs.end()), md(ms.begin(), ms.end()), yd(xs.size());
    cpu::attn_softmax<float>(B, H, Nq, Nk, xs.data(), 0.5, bs.data(), ms.data(), nW, ys.data());
    cpu::attn_softmax<double>(B, H, Nq, Nk, xd.data(), 0.5, bd.data(), md.data(), nW, yd.data());
    // Rounding the float sum x*s + b + m costs ulp(|z|) in the exponent: a fully masked row (all near -100)
    // is only good to 2^-22 * 100 relative, as in torch's fp32; hence the |z| term.
    double bad = 0;
    for (int64_t row = 0; row < B * H * Nq; row++) {
      const int64_t q = row % Nq, h = (row / Nq) % H, w = (row / (Nq * H)) % nW;
      double zabs = 0;
      for (int64_t j = 0; j < Nk; j++)
        zabs = std::max(zabs, std::fabs(0.5 * xd[(size_t)(row * Nk + j)]) + std::fabs(bd[(size_t)((h * Nq + q) * Nk + j)]) +
                                  std::fabs(md[(size_t)((w * Nq + q) * Nk + j)]));
      for (int64_t j = 0; j < Nk; j++) {
        const size_t i = (size_t)(row * Nk + j);
        bad = std::max(bad, std::fabs(ys[i] - yd[i]) / ((1e-6 + std::ldexp(zabs, -22)) * yd[i] + 1e-12));
      }
    }
    CHECK_MESSAGE(bad <= 1, "attn_softmax Nk=" << Nk << ": worst error " << bad << " x the bound");
  }
}
}
