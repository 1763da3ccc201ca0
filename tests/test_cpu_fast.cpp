// The tiled, threaded CPU kernels (engine/cpu/conv.cpp, gemm.cpp, batchnorm.cpp) against plain loops
// written here in double: f64 to round-off, f32 to a bound on fp32 dot-product error, at 1 and 2
// threads, and bit-identical on a repeat at the same thread count (bit-exact resume relies on it).
#include <omp.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "engine/cpu/cpu_ops.h"
#include "engine/ops_fused.h"
#include "engine/rng.h"
#include "tests/util.h"

using namespace ish;

namespace {

std::vector<double> rnd(size_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<double> v(n);
  for (auto& e : v) e = r.uniform(-1, 1);
  return v;
}
std::vector<float> to_f(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

struct ThreadScope {  // omp threads for this scope
  int saved = omp_get_max_threads();
  explicit ThreadScope(int n) { omp_set_num_threads(n); }
  ~ThreadScope() { omp_set_num_threads(saved); }
};

ConvDims dims(int64_t N, int64_t H, int64_t W, int64_t C, int64_t K, int R, int stride, int pad, int dil = 1) {
  ConvDims d{N, H, W, C, K, R, R, 0, 0, stride, stride, pad, pad, dil, dil};
  d.P = (H + 2 * pad - dil * (R - 1) - 1) / stride + 1;
  d.Q = (W + 2 * pad - dil * (R - 1) - 1) / stride + 1;
  return d;
}

// Visits every (output, input, weight) index triple of the convolution.
template <class F>
void each_term(const ConvDims& d, F&& f) {
  for (int64_t n = 0; n < d.N; n++)
    for (int64_t p = 0; p < d.P; p++)
      for (int64_t q = 0; q < d.Q; q++)
        for (int64_t r = 0; r < d.R; r++)
          for (int64_t s = 0; s < d.S; s++) {
            const int64_t h = p * d.sh - d.ph + r * d.dh, w = q * d.sw - d.pw + s * d.dw;
            if (h < 0 || h >= d.H || w < 0 || w >= d.W) continue;
            for (int64_t k = 0; k < d.K; k++)
              for (int64_t c = 0; c < d.C; c++)
                f(((n * d.P + p) * d.Q + q) * d.K + k, ((n * d.H + h) * d.W + w) * d.C + c,
                  ((k * d.R + r) * d.S + s) * d.C + c);
          }
}

// got vs ref where each ref element is a sum of terms whose magnitudes sum to mag: an fp32 sum is
// within a few eps * mag (one misplaced term moves it by ~mag / terms, far above that).
void check_sum(const std::vector<float>& got, const std::vector<double>& ref, const std::vector<double>& mag,
               double rtol, const char* what) {
  CAPTURE(what);
  REQUIRE(got.size() == ref.size());
  for (size_t i = 0; i < ref.size(); i++)
    if (!(std::fabs(got[i] - ref[i]) <= rtol * mag[i] + 1e-30)) {
      FAIL_CHECK(what << ": element " << i << " got " << got[i] << " want " << ref[i] << " (term mass " << mag[i]
                      << ")");
      return;
    }
}
void check_sum(const std::vector<double>& got, const std::vector<double>& ref, const std::vector<double>& mag,
               double rtol, const char* what) {
  check_sum(to_f(got), ref, mag, 1e-5, what);  // coarse: same indexing check
  for (size_t i = 0; i < ref.size(); i++)
    if (!(std::fabs(got[i] - ref[i]) <= rtol * mag[i] + 1e-300)) {
      FAIL_CHECK(what << " (f64): element " << i << " off by " << got[i] - ref[i]);
      return;
    }
}

void check_conv(const ConvDims& d, int threads) {
  INFO("conv N", d.N, " H", d.H, " W", d.W, " C", d.C, " K", d.K, " R", d.R, " stride", d.sh, " pad", d.ph, " dil",
       d.dh, " threads ", threads);
  ThreadScope ts(threads);
  const size_t nx = (size_t)(d.N * d.H * d.W * d.C), nw = (size_t)(d.K * d.R * d.S * d.C),
               ny = (size_t)(d.N * d.P * d.Q * d.K);
  const auto x = rnd(nx, 1), w = rnd(nw, 2), dy = rnd(ny, 3);
  std::vector<double> y(ny, 0), ym(ny, 0), dx(nx, 0), dxm(nx, 0), dw(nw, 0), dwm(nw, 0);
  each_term(d, [&](int64_t yi, int64_t xi, int64_t wi) {
    y[yi] += x[xi] * w[wi], ym[yi] += std::fabs(x[xi] * w[wi]);
    dx[xi] += dy[yi] * w[wi], dxm[xi] += std::fabs(dy[yi] * w[wi]);
    dw[wi] += dy[yi] * x[xi], dwm[wi] += std::fabs(dy[yi] * x[xi]);
  });
  {  // f64: the same sums to round-off
    std::vector<double> gy(ny), gdx(nx, 7.0), gdw(nw, 7.0);  // stale values must be overwritten
    cpu::conv2d_fwd<double>(d, x.data(), w.data(), nullptr, gy.data());
    cpu::conv2d_bwd_data<double>(d, dy.data(), w.data(), gdx.data());
    cpu::conv2d_bwd_filter<double>(d, x.data(), dy.data(), gdw.data(), nullptr);
    check_sum(gy, y, ym, 1e-13, "fwd");
    check_sum(gdx, dx, dxm, 1e-13, "bwd_data");
    check_sum(gdw, dw, dwm, 1e-13, "bwd_filter");
  }
  const auto xf = to_f(x), wf = to_f(w), dyf = to_f(dy);
  std::vector<float> gy(ny), gdx(nx, 7.f), gdw(nw, 7.f), gy2(ny), gdx2(nx), gdw2(nw);
  cpu::conv2d_fwd<float>(d, xf.data(), wf.data(), nullptr, gy.data());
  cpu::conv2d_bwd_data<float>(d, dyf.data(), wf.data(), gdx.data());
  cpu::conv2d_bwd_filter<float>(d, xf.data(), dyf.data(), gdw.data(), nullptr);
  check_sum(gy, y, ym, 1e-5, "fwd f32");
  check_sum(gdx, dx, dxm, 1e-5, "bwd_data f32");
  check_sum(gdw, dw, dwm, 1e-5, "bwd_filter f32");
  cpu::conv2d_fwd<float>(d, xf.data(), wf.data(), nullptr, gy2.data());
  cpu::conv2d_bwd_data<float>(d, dyf.data(), wf.data(), gdx2.data());
  cpu::conv2d_bwd_filter<float>(d, xf.data(), dyf.data(), gdw2.data(), nullptr);
  CHECK(std::memcmp(gy.data(), gy2.data(), ny * 4) == 0);
  CHECK(std::memcmp(gdx.data(), gdx2.data(), nx * 4) == 0);
  CHECK(std::memcmp(gdw.data(), gdw2.data(), nw * 4) == 0);
}

}  // namespace

TEST_CASE("cpu fast conv: tiled im2col, pointwise GEMM and threaded backward match plain loops") {
  for (int t : {1, 2, 3}) {
    check_conv(dims(3, 9, 7, 5, 6, 3, 1, 1), t);       // 3x3 pad 1
    check_conv(dims(2, 8, 8, 4, 8, 1, 1, 0), t);       // pointwise: plain GEMM, no columns
    check_conv(dims(2, 9, 9, 6, 5, 1, 2, 0), t);       // 1x1 stride 2 (downsample)
    check_conv(dims(2, 19, 17, 3, 4, 7, 2, 3), t);     // the stem's 7x7/2/3
    check_conv(dims(2, 10, 10, 3, 4, 3, 1, 2, 2), t);  // dilation 2
    check_conv(dims(1, 6, 6, 4, 3, 3, 2, 1), t);       // one image, fewer than the threads
    check_conv(dims(2, 15, 15, 256, 8, 3, 1, 1), t);   // column tiles (256 rows) cross an image
    check_conv(dims(5, 3, 3, 2, 3, 3, 1, 0), t);       // 1x1 output: more threads than rows per image
  }
}

TEST_CASE("cpu fast gemm: row and column splits, every transpose, against plain loops") {
  for (int t : {1, 2}) {
    ThreadScope ts(t);
    for (auto mnk : {std::vector<int64_t>{300, 40, 70}, {6, 900, 500}, {1, 1, 1}, {257, 129, 3}})
      for (bool ta : {false, true})
        for (bool tb : {false, true}) {
          const int64_t M = mnk[0], N = mnk[1], K = mnk[2];
          INFO("gemm M", M, " N", N, " K", K, " tA ", ta, " tB ", tb, " threads ", t);
          const auto A = rnd((size_t)(M * K), 4), B = rnd((size_t)(K * N), 5), C0 = rnd((size_t)(M * N), 6);
          std::vector<double> ref(C0), mag((size_t)(M * N), 0);
          for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
              double s = 0, m = std::fabs(0.5 * C0[(size_t)(i * N + j)]);
              for (int64_t k = 0; k < K; k++) {
                const double a = ta ? A[(size_t)(k * M + i)] : A[(size_t)(i * K + k)];
                const double b = tb ? B[(size_t)(j * K + k)] : B[(size_t)(k * N + j)];
                s += a * b, m += std::fabs(2 * a * b);
              }
              ref[(size_t)(i * N + j)] = 2 * s + 0.5 * C0[(size_t)(i * N + j)];
              mag[(size_t)(i * N + j)] = m;
            }
          std::vector<float> Cf = to_f(C0);
          const auto Af = to_f(A), Bf = to_f(B);
          cpu::gemm<float>(ta, tb, M, N, K, 2.f, Af.data(), ta ? M : K, Bf.data(), tb ? K : N, 0.5f, Cf.data(), N);
          check_sum(Cf, ref, mag, 1e-5, "sgemm");
          std::vector<double> Cd(C0);
          cpu::gemm<double>(ta, tb, M, N, K, 2.0, A.data(), ta ? M : K, B.data(), tb ? K : N, 0.5, Cd.data(), N);
          check_sum(Cd, ref, mag, 1e-13, "dgemm");
        }
  }
}

TEST_CASE("cpu fast batchnorm: threaded statistics agree across thread counts and repeat bit for bit") {
  const int64_t M = 3000, C = 37;
  const auto x = to_f(rnd((size_t)(M * C), 8)), res = to_f(rnd((size_t)(M * C), 9)), dy = to_f(rnd((size_t)(M * C), 10));
  std::vector<float> gamma((size_t)C), beta((size_t)C);
  for (int64_t c = 0; c < C; c++) gamma[(size_t)c] = 0.5f + 0.01f * (float)c, beta[(size_t)c] = -0.2f + 0.02f * (float)c;
  struct Out {
    std::vector<float> y, mean, invstd, rm, rv, dx, dg, db, dres;
  };
  auto run = [&](int t) {
    ThreadScope ts(t);
    Out o{std::vector<float>((size_t)(M * C)), std::vector<float>((size_t)C), std::vector<float>((size_t)C),
          std::vector<float>((size_t)C, 0.f), std::vector<float>((size_t)C, 1.f), std::vector<float>((size_t)(M * C)),
          std::vector<float>((size_t)C), std::vector<float>((size_t)C), std::vector<float>((size_t)(M * C))};
    cpu::bn_train_fwd<float>(M, C, x.data(), gamma.data(), beta.data(), res.data(), true, 1e-5, 0.1, o.y.data(),
                             o.mean.data(), o.invstd.data(), o.rm.data(), o.rv.data());
    cpu::bn_bwd<float>(M, C, true, dy.data(), o.y.data(), x.data(), gamma.data(), o.mean.data(), o.invstd.data(),
                       o.dx.data(), o.dg.data(), o.db.data(), o.dres.data());
    return o;
  };
  const Out a = run(1), b = run(2), b2 = run(2);
  auto near = [](const std::vector<float>& u, const std::vector<float>& v, const char* what) {
    CAPTURE(what);
    for (size_t i = 0; i < u.size(); i++) REQUIRE(std::fabs(u[i] - v[i]) <= 1e-5f * (1 + std::fabs(v[i])));
  };
  near(b.y, a.y, "y"), near(b.mean, a.mean, "mean"), near(b.invstd, a.invstd, "invstd"), near(b.rv, a.rv, "rv");
  near(b.dx, a.dx, "dx"), near(b.dg, a.dg, "dgamma"), near(b.db, a.db, "dbeta"), near(b.dres, a.dres, "dres");
  for (auto [u, v] : {std::make_pair(&b.y, &b2.y), {&b.dx, &b2.dx}, {&b.dg, &b2.dg}, {&b.mean, &b2.mean}})
    CHECK(std::memcmp(u->data(), v->data(), u->size() * sizeof(float)) == 0);
  for (size_t i = 0; i < a.dres.size(); i++)  // the residual's grad is dy masked by the ReLU
    REQUIRE(a.dres[i] == (a.y[i] > 0 ? dy[i] : 0.f));
}

TEST_CASE("cpu fused eval conv+BN+residual+ReLU equals conv2d then batch_norm") {
  auto t = [](const Shape& s, uint64_t seed) { return Tensor::from_f64(rnd((size_t)shape_numel(s), seed), s).to(DType::F32); };
  for (int threads : {1, 2})
    for (auto cfg : {std::vector<int>{1, 1, 0}, {3, 1, 1}, {1, 2, 0}, {3, 2, 1}, {7, 2, 3}})
      for (bool with_res : {false, true}) {
        ThreadScope ts(threads);
        const int R = cfg[0], stride = cfg[1], pad = cfg[2];
        INFO("R ", R, " stride ", stride, " pad ", pad, " residual ", with_res, " threads ", threads);
        Tensor x = t({3, 11, 10, 6}, 20), w = t({9, R, R, 6}, 21), g = t({9}, 22), b = t({9}, 23), rm = t({9}, 24);
        Tensor rv = Tensor::from_f64(rnd(9, 25), {9}).to(DType::F32);
        for (int64_t c = 0; c < 9; c++) rv.data<float>()[c] = 0.5f + std::fabs(rv.data<float>()[c]);
        ops::BNParams p;
        p.relu = true;
        const auto cp = ops::Conv2dParams::make(stride, pad);
        Tensor ref = ops::conv2d(x, w, Tensor(), cp);
        Tensor res = with_res ? t(ref.shape(), 26) : Tensor();
        ref = ops::batch_norm(ref, g, b, rm, rv, p, res);
        Tensor got = ops::conv2d_bn(x, w, cp, g, b, rm, rv, p, res);
        REQUIRE(got.shape() == ref.shape());
        // Same float operations in the same order: bit-identical.
        CHECK(std::memcmp(got.data<float>(), ref.data<float>(), (size_t)ref.numel() * sizeof(float)) == 0);
      }
}
