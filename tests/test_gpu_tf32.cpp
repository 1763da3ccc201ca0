// GPU numerics under TF32, cuDNN's algorithm choice, and realistic ResNet-50 conv shapes:
//  - TF32 convolutions (fwd, dgrad, wgrad) and GEMMs against fp64 CPU results, within a bound
//    derived from TF32's 10-bit mantissa and the reduction length;
//  - under --tf32 on (the default), GEMMs stay strict fp32;
//  - deterministic mode picks only algorithms cuDNN reports as deterministic;
//  - conv 3x3 64->64 at N=32, 56x56 and 1x1 256->64, forward and both backwards, vs the CPU in fp32.
#ifdef ISHSCALE_CUDA
#include <cmath>

#include "engine/cpu/cpu_ops.h"
#include "engine/cuda/backend.h"
#include "engine/cuda/conv_algos.h"
#include "tests/test_gpu_util.h"

using namespace ish;
using namespace ish::gputest;

namespace {

struct Opts {  // device options for the duration of a test
  DeviceOptions saved = device_options();
  Opts(Tf32 t, bool det) { device_options() = DeviceOptions{t, det}; }
  ~Opts() { device_options() = saved; }
};

ConvDims conv_dims(int64_t N, int64_t H, int64_t W, int64_t C, int64_t K, int R, int S, int st, int pad) {
  ConvDims d{N, H, W, C, K, R, S, 0, 0, st, st, pad, pad, 1, 1};
  d.P = (H + 2 * pad - (R - 1) - 1) / st + 1;
  d.Q = (W + 2 * pad - (S - 1) - 1) / st + 1;
  return d;
}

std::vector<double> to_f64(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }
std::vector<double> abs_f64(const std::vector<float>& v) {
  std::vector<double> r(v.size());
  for (size_t i = 0; i < v.size(); i++) r[i] = std::fabs((double)v[i]);
  return r;
}

// A sum of K products a_i*b_i whose inputs are cut to TF32 (10 explicit mantissa bits: relative
// error below u = 2^-10 whether rounded or truncated) and accumulated in fp32 is off from the exact
// sum by at most (2u + u^2 + K * 2^-24) * sum |a_i b_i|, plus the final rounding to fp32. `mag`
// holds sum |a_i b_i| per output (the same reduction over |a|, |b| in fp64).
bool within_tf32_bound(const std::vector<float>& got, const std::vector<double>& exact, const std::vector<double>& mag,
                       int64_t K, const std::string& what) {
  const double u = std::ldexp(1.0, -10), e32 = std::ldexp(1.0, -24);
  const double coef = 2 * u + u * u + (double)K * e32;
  size_t bad = 0, first = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); i++) {
    const double err = std::fabs((double)got[i] - exact[i]);
    const double lim = coef * mag[i] + e32 * std::fabs(exact[i]);
    if (!(err <= lim)) {
      if (!bad) first = i;
      bad++;
    }
    if (mag[i] > 0) worst = std::max(worst, err / mag[i]);
  }
  MESSAGE(what << ": worst |err| / sum|ab| = " << worst << " (bound " << coef << ", K=" << K << ")");
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << got.size() << " outputs beyond the TF32 bound; first ["
                               << first << "] got " << got[first] << " want " << exact[first]);
  return bad == 0;
}

// conv fwd / dgrad / wgrad on the GPU under the current options vs the fp64 CPU, TF32 bound.
void tf32_conv_case(const ConvDims& d, uint64_t seed) {
  const std::string tag = "tf32 conv " + std::to_string(d.R) + "x" + std::to_string(d.S) + " C" +
                          std::to_string(d.C) + " K" + std::to_string(d.K) + " N" + std::to_string(d.N);
  const int64_t nx = d.N * d.H * d.W * d.C, nw = d.K * d.R * d.S * d.C, ny = d.N * d.P * d.Q * d.K;
  auto x = rand_uniform(nx, seed), w = rand_uniform(nw, seed + 1), dy = rand_uniform(ny, seed + 2);
  DevBuf<float> gx(x), gw(w), gdy(dy), gy(ny), gdx(nx), gdw(nw);
  cuda::conv2d_fwd(d, gx.ptr(), gw.ptr(), nullptr, gy.ptr());
  cuda::conv2d_bwd_data(d, gdy.ptr(), gw.ptr(), gdx.ptr());
  cuda::conv2d_bwd_filter(d, gx.ptr(), gdy.ptr(), gdw.ptr(), nullptr);
  auto x64 = to_f64(x), w64 = to_f64(w), dy64 = to_f64(dy), ax = abs_f64(x), aw = abs_f64(w), ady = abs_f64(dy);
  std::vector<double> y(ny), my(ny), dx(nx), mdx(nx), dw(nw), mdw(nw);
  cpu::conv2d_fwd<double>(d, x64.data(), w64.data(), nullptr, y.data());
  cpu::conv2d_fwd<double>(d, ax.data(), aw.data(), nullptr, my.data());
  cpu::conv2d_bwd_data<double>(d, dy64.data(), w64.data(), dx.data());
  cpu::conv2d_bwd_data<double>(d, ady.data(), aw.data(), mdx.data());
  cpu::conv2d_bwd_filter<double>(d, x64.data(), dy64.data(), dw.data(), nullptr);
  cpu::conv2d_bwd_filter<double>(d, ax.data(), ady.data(), mdw.data(), nullptr);
  within_tf32_bound(gy.get(), y, my, d.R * d.S * d.C, tag + " fwd");
  within_tf32_bound(gdx.get(), dx, mdx, d.R * d.S * d.K, tag + " dgrad");
  within_tf32_bound(gdw.get(), dw, mdw, d.N * d.P * d.Q, tag + " wgrad");
  CHECK_MESSAGE((gy.guards_ok() && gdx.guards_ok() && gdw.guards_ok()), tag << ": guard overwritten");
}

// Strict fp32 vs the CPU's fp32 at a realistic shape (tolerances as in test_gpu_ops.cpp).
void fp32_conv_case(const ConvDims& d, uint64_t seed) {
  const std::string tag = "conv " + std::to_string(d.R) + "x" + std::to_string(d.S) + " " + std::to_string(d.C) +
                          "->" + std::to_string(d.K) + " N" + std::to_string(d.N) + " " + std::to_string(d.H) + "x" +
                          std::to_string(d.W);
  const int64_t nx = d.N * d.H * d.W * d.C, nw = d.K * d.R * d.S * d.C, ny = d.N * d.P * d.Q * d.K;
  auto x = rand_uniform(nx, seed), w = rand_uniform(nw, seed + 1), dy = rand_uniform(ny, seed + 2);
  std::vector<float> y(ny), dx(nx), dw(nw);
  cpu::conv2d_fwd<float>(d, x.data(), w.data(), nullptr, y.data());
  cpu::conv2d_bwd_data<float>(d, dy.data(), w.data(), dx.data());
  cpu::conv2d_bwd_filter<float>(d, x.data(), dy.data(), dw.data(), nullptr);
  DevBuf<float> gx(x), gw(w), gdy(dy), gy(ny), gdx(nx), gdw(nw);
  cuda::conv2d_fwd(d, gx.ptr(), gw.ptr(), nullptr, gy.ptr());
  cuda::conv2d_bwd_data(d, gdy.ptr(), gw.ptr(), gdx.ptr());
  cuda::conv2d_bwd_filter(d, gx.ptr(), gdy.ptr(), gdw.ptr(), nullptr);
  // fp32 sums in two orders on U(-1,1) data: error ~ sqrt(terms) * 2^-24 * |term|; 1e-5*sqrt(terms)
  // leaves two orders of magnitude.
  close(gy.get(), y, 1e-5, 1e-5 * std::sqrt((double)(d.R * d.S * d.C)), tag + " fwd");
  close(gdx.get(), dx, 1e-5, 1e-5 * std::sqrt((double)(d.R * d.S * d.K)), tag + " dgrad");
  close(gdw.get(), dw, 1e-5, 1e-5 * std::sqrt((double)(d.N * d.P * d.Q)), tag + " wgrad");
  CHECK_MESSAGE((gy.guards_ok() && gdx.guards_ok() && gdw.guards_ok()), tag << ": guard overwritten");
}

}  // namespace

TEST_SUITE("gpu") {

TEST_CASE("gpu tf32: conv fwd, dgrad and wgrad within the TF32 bound of fp64 (ResNet shapes)") {
  Opts o(Tf32::On, false);
  tf32_conv_case(conv_dims(4, 28, 28, 64, 64, 3, 3, 1, 1), 10);
  tf32_conv_case(conv_dims(4, 14, 14, 256, 64, 1, 1, 1, 0), 20);
  tf32_conv_case(conv_dims(2, 29, 29, 3, 16, 7, 7, 2, 3), 30);
}

TEST_CASE("gpu tf32: GEMM under --tf32 all within the TF32 bound of fp64") {
  Opts o(Tf32::All, false);
  const int64_t M = 256, N = 1000, K = 2048;  // the fc layer of ResNet-50 at batch 256
  auto A = rand_uniform(M * K, 40), B = rand_uniform(K * N, 41);
  DevBuf<float> gA(A), gB(B), gC(M * N);
  cuda::gemm(false, false, M, N, K, 1.f, gA.ptr(), K, gB.ptr(), N, 0.f, gC.ptr(), N);
  auto A64 = to_f64(A), B64 = to_f64(B), aA = abs_f64(A), aB = abs_f64(B);
  std::vector<double> C(M * N), mag(M * N);
  cpu::gemm<double>(false, false, M, N, K, 1.0, A64.data(), K, B64.data(), N, 0.0, C.data(), N);
  cpu::gemm<double>(false, false, M, N, K, 1.0, aA.data(), K, aB.data(), N, 0.0, mag.data(), N);
  within_tf32_bound(gC.get(), C, mag, K, "tf32 gemm 256x1000x2048");
  CHECK(gC.guards_ok());
}

// 1 + 2^-12 needs 13 mantissa bits: TF32 would round or cut it to 1, fp32 keeps it. With K = 8
// the fp32 result 8 * (1 + 2^-12) is exact; any TF32 use shows.
TEST_CASE("gpu tf32: under --tf32 on (the default) GEMMs stay strict fp32; convs under --tf32 off too") {
  const float v = 1.f + std::ldexp(1.f, -12);
  const int64_t M = 64, N = 64, K = 8;
  std::vector<float> A((size_t)(M * K), v), B((size_t)(K * N), 1.f);
  {
    Opts o(Tf32::On, false);
    DevBuf<float> gA(A), gB(B), gC(M * N);
    cuda::gemm(false, false, M, N, K, 1.f, gA.ptr(), K, gB.ptr(), N, 0.f, gC.ptr(), N);
    CHECK(bitwise_equal(gC.get(), std::vector<float>((size_t)(M * N), 8.f * v)));
  }
  {
    Opts o(Tf32::Off, false);
    // 1x1 conv with C = 8 ones: the same exact sum per output.
    const ConvDims d = conv_dims(2, 8, 8, K, 16, 1, 1, 1, 0);
    std::vector<float> x((size_t)(d.N * d.H * d.W * d.C), v), w((size_t)(d.K * d.C), 1.f);
    DevBuf<float> gx(x), gw(w), gy(d.N * d.P * d.Q * d.K);
    cuda::conv2d_fwd(d, gx.ptr(), gw.ptr(), nullptr, gy.ptr());
    CHECK(bitwise_equal(gy.get(), std::vector<float>((size_t)(d.N * d.P * d.Q * d.K), 8.f * v)));
  }
}

TEST_CASE("gpu cudnn: deterministic mode runs only algorithms cuDNN reports as deterministic") {
  Opts o(Tf32::On, true);
  const ConvDims shapes[] = {conv_dims(4, 17, 17, 32, 48, 3, 3, 1, 1), conv_dims(2, 23, 23, 3, 16, 7, 7, 2, 3),
                             conv_dims(4, 14, 14, 64, 128, 1, 1, 2, 0)};
  uint64_t seed = 50;
  for (const ConvDims& d : shapes) {
    auto x = rand_uniform(d.N * d.H * d.W * d.C, seed++), w = rand_uniform(d.K * d.R * d.S * d.C, seed++),
         dy = rand_uniform(d.N * d.P * d.Q * d.K, seed++);
    DevBuf<float> gx(x), gw(w), gdy(dy), gy((int64_t)dy.size()), gdx((int64_t)x.size()), gdw((int64_t)w.size());
    cuda::conv2d_fwd(d, gx.ptr(), gw.ptr(), nullptr, gy.ptr());
    cuda::conv2d_bwd_data(d, gdy.ptr(), gw.ptr(), gdx.ptr());
    cuda::conv2d_bwd_filter(d, gx.ptr(), gdy.ptr(), gdw.ptr(), nullptr);
  }
  int det_plans = 0;
  for (const cuda::ConvPlanInfo& p : cuda::conv_plans()) {
    if (!p.deterministic_mode) continue;
    det_plans++;
    CHECK_MESSAGE(p.current.deterministic, "op " << (int)p.op << " C" << p.dims.C << " K" << p.dims.K << " "
                                                 << p.dims.R << "x" << p.dims.S << ": algorithm " << p.current.algo
                                                 << " is not deterministic");
  }
  CHECK(det_plans >= 9);  // 3 shapes x 3 ops, at least
}

TEST_CASE("gpu conv2d: realistic ResNet-50 shapes (3x3 64->64 and 1x1 256->64 at N=32, 56x56) vs CPU fp32") {
  Opts o(Tf32::Off, false);
  fp32_conv_case(conv_dims(32, 56, 56, 64, 64, 3, 3, 1, 1), 60);
  fp32_conv_case(conv_dims(32, 56, 56, 256, 64, 1, 1, 1, 0), 70);
}

TEST_CASE("gpu tf32: realistic ResNet-50 shapes within the TF32 bound of fp64") {
  Opts o(Tf32::On, false);
  tf32_conv_case(conv_dims(32, 56, 56, 64, 64, 3, 3, 1, 1), 80);
  tf32_conv_case(conv_dims(32, 56, 56, 256, 64, 1, 1, 1, 0), 90);
}

}  // TEST_SUITE
#endif
