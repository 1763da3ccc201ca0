// GPU parity, part 1: cuBLAS gemm, cuDNN convs, BN, pooling and cross-entropy against the CPU
// reference (engine/cpu) on fresh random inputs, at shapes that are not multiples of the block
// sizes, with guard elements around every output. TF32 stays off (strict fp32).
#ifdef ISHSCALE_CUDA
#include <cmath>

#include "engine/cpu/cpu_ops.h"
#include "engine/cuda/backend.h"
#include "engine/error.h"
#include "tests/test_gpu_util.h"

using namespace ish;
using namespace ish::gputest;

namespace {

struct Fp32Mode {  // strict fp32 for the duration of a test
  cuda::Options saved = cuda::options();
  explicit Fp32Mode(bool det = false) { cuda::options() = DeviceOptions{Tf32::Off, det}; }
  ~Fp32Mode() { cuda::options() = saved; }
};

ConvDims conv_dims(int64_t N, int64_t H, int64_t W, int64_t C, int64_t K, int R, int S, int st, int pad, int dil) {
  ConvDims d{N, H, W, C, K, R, S, 0, 0, st, st, pad, pad, dil, dil};
  d.P = (H + 2 * pad - dil * (R - 1) - 1) / st + 1;
  d.Q = (W + 2 * pad - dil * (S - 1) - 1) / st + 1;
  return d;
}

void run_conv(const ConvDims& d, bool bias, uint64_t seed) {
  const std::string tag = "conv N" + std::to_string(d.N) + " " + std::to_string(d.H) + "x" + std::to_string(d.W) +
                          " C" + std::to_string(d.C) + " K" + std::to_string(d.K) + " " + std::to_string(d.R) + "x" +
                          std::to_string(d.S) + "/" + std::to_string(d.sh) + " p" + std::to_string(d.ph) + " d" +
                          std::to_string(d.dh);
  const int64_t nx = d.N * d.H * d.W * d.C, nw = d.K * d.R * d.S * d.C, ny = d.N * d.P * d.Q * d.K;
  auto x = rand_uniform(nx, seed), w = rand_uniform(nw, seed + 1), b = rand_uniform(d.K, seed + 2),
       dy = rand_uniform(ny, seed + 3);
  std::vector<float> y_ref(ny), dx_ref(nx), dw_ref(nw), db_ref(d.K);
  cpu::conv2d_fwd<float>(d, x.data(), w.data(), bias ? b.data() : nullptr, y_ref.data());
  cpu::conv2d_bwd_data<float>(d, dy.data(), w.data(), dx_ref.data());
  cpu::conv2d_bwd_filter<float>(d, x.data(), dy.data(), dw_ref.data(), bias ? db_ref.data() : nullptr);

  DevBuf<float> gx(x), gw(w), gb(b), gdy(dy), gy(ny), gdx(nx), gdw(nw), gdb(d.K);
  cuda::conv2d_fwd(d, gx.ptr(), gw.ptr(), bias ? gb.ptr() : nullptr, gy.ptr());
  cuda::conv2d_bwd_data(d, gdy.ptr(), gw.ptr(), gdx.ptr());
  cuda::conv2d_bwd_filter(d, gx.ptr(), gdy.ptr(), gdw.ptr(), bias ? gdb.ptr() : nullptr);
  // fp32 sums in another order (and Winograd/FFT transforms): error ~ sqrt(terms) * eps * |term| on
  // U(-1,1) data; 1e-5 * sqrt(terms) leaves two orders of magnitude of margin.
  const double afwd = 1e-5 * std::sqrt((double)(d.R * d.S * d.C)), abwd = 1e-5 * std::sqrt((double)(d.R * d.S * d.K));
  const double afil = 1e-5 * std::sqrt((double)(d.N * d.P * d.Q));
  close(gy.get(), y_ref, 1e-5, afwd, tag + " fwd");
  close(gdx.get(), dx_ref, 1e-5, abwd, tag + " bwd data");
  close(gdw.get(), dw_ref, 1e-5, afil, tag + " bwd filter");
  if (bias) close(gdb.get(), db_ref, 1e-5, afil, tag + " bwd bias");
  CHECK_MESSAGE((gy.guards_ok() && gdx.guards_ok() && gdw.guards_ok() && gdb.guards_ok()), tag << ": guard overwritten");
}

}  // namespace

TEST_SUITE("gpu") {

TEST_CASE("gpu gemm: cuBLAS row-major wrapper is exact on small integers, every transpose") {
  Fp32Mode fp32;
  const int64_t shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {33, 65, 129}, {128, 1000, 257}};
  uint64_t seed = 100;
  for (auto& s : shapes)
    for (int t = 0; t < 4; t++) {
      const int64_t M = s[0], N = s[1], K = s[2];
      const bool tA = t & 1, tB = t & 2;
      // Padded leading dimensions catch lda/ldb/ldc mix-ups.
      const int64_t lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 2, ldc = N + 5;
      const int64_t ra = tA ? K : M, rb = tB ? N : K;
      auto A = rand_int(ra * lda, seed++, -3, 3), B = rand_int(rb * ldb, seed++, -3, 3), C = rand_int(M * ldc, seed++, -3, 3);
      std::vector<float> ref = C;
      cpu::gemm<float>(tA, tB, M, N, K, 2.f, A.data(), lda, B.data(), ldb, 0.5f, ref.data(), ldc);
      DevBuf<float> gA(A), gB(B), gC(C);
      cuda::gemm(tA, tB, M, N, K, 2.f, gA.ptr(), lda, gB.ptr(), ldb, 0.5f, gC.ptr(), ldc);
      // Integer data and power-of-two scalars: every partial sum is exact in fp32.
      CHECK_MESSAGE(bitwise_equal(gC.get(), ref), "gemm M" << M << " N" << N << " K" << K << " tA" << tA << " tB" << tB);
      CHECK(gC.guards_ok());
    }
}

TEST_CASE("gpu conv2d: fwd, bwd data, bwd filter and bias vs CPU (ResNet shapes and odd ones)") {
  Fp32Mode fp32;
  run_conv(conv_dims(2, 23, 19, 3, 8, 7, 7, 2, 3, 1), false, 1);    // stem 7x7/2
  run_conv(conv_dims(3, 9, 11, 5, 7, 3, 3, 1, 1, 1), true, 2);      // 3x3/1 with bias
  run_conv(conv_dims(2, 14, 14, 16, 24, 3, 3, 2, 1, 1), false, 3);  // 3x3/2
  run_conv(conv_dims(2, 13, 13, 33, 12, 1, 1, 2, 0, 1), true, 4);   // 1x1/2 downsample
  run_conv(conv_dims(1, 12, 10, 4, 6, 3, 3, 1, 2, 2), false, 5);    // dilation 2
  run_conv(conv_dims(4, 7, 7, 64, 256, 1, 1, 1, 0, 1), false, 6);   // bottleneck expand
}

TEST_CASE("gpu conv2d: backward filter with no weight gradient computes only the bias gradient") {
  Fp32Mode fp32;
  const ConvDims d = conv_dims(3, 9, 11, 5, 7, 3, 3, 1, 1, 1);
  auto x = rand_uniform(d.N * d.H * d.W * d.C, 31), dy = rand_uniform(d.N * d.P * d.Q * d.K, 32);
  std::vector<float> dw_ref(d.K * d.R * d.S * d.C), db_ref(d.K);
  cpu::conv2d_bwd_filter<float>(d, x.data(), dy.data(), dw_ref.data(), db_ref.data());
  DevBuf<float> gx(x), gdy(dy), gdb(d.K);
  cuda::conv2d_bwd_filter(d, gx.ptr(), gdy.ptr(), nullptr, gdb.ptr());
  close(gdb.get(), db_ref, 1e-5, 1e-5 * std::sqrt((double)(d.N * d.P * d.Q)), "conv bias-only bwd");
  CHECK(gdb.guards_ok());
}

TEST_CASE("gpu conv2d: deterministic mode repeats bitwise") {
  Fp32Mode det(true);
  const ConvDims d = conv_dims(4, 17, 17, 32, 48, 3, 3, 1, 1, 1);
  auto x = rand_uniform(d.N * d.H * d.W * d.C, 7), w = rand_uniform(d.K * d.R * d.S * d.C, 8),
       dy = rand_uniform(d.N * d.P * d.Q * d.K, 9);
  DevBuf<float> gx(x), gw(w), gdy(dy), gdx(x.size()), gdw(w.size());
  std::vector<float> dx1, dw1;
  for (int rep = 0; rep < 2; rep++) {
    cuda::conv2d_bwd_data(d, gdy.ptr(), gw.ptr(), gdx.ptr());
    cuda::conv2d_bwd_filter(d, gx.ptr(), gdy.ptr(), gdw.ptr(), nullptr);
    if (rep == 0) {
      dx1 = gdx.get();
      dw1 = gdw.get();
    } else {
      CHECK(bitwise_equal(gdx.get(), dx1));
      CHECK(bitwise_equal(gdw.get(), dw1));
    }
  }
}

TEST_CASE("gpu batch_norm: train fwd (batch + running stats), fused residual/ReLU, vs CPU") {
  const int64_t shapes[][2] = {{2, 3}, {37, 5}, {1000, 64}, {513, 33}, {4099, 256}, {3, 1030}};
  uint64_t seed = 200;
  for (auto& s : shapes)
    for (int mode = 0; mode < 4; mode++) {
      const int64_t M = s[0], C = s[1];
      const bool relu = mode & 1, res = mode & 2;
      const std::string tag = "bn train M" + std::to_string(M) + " C" + std::to_string(C) + (relu ? " relu" : "") +
                              (res ? " +res" : "");
      auto x = rand_uniform(M * C, seed++, 1.f, 4.f);  // offset mean: exercises the variance
      auto g = rand_uniform(C, seed++, 0.5f, 1.5f), b = rand_uniform(C, seed++), r = rand_uniform(M * C, seed++);
      auto rm = rand_uniform(C, seed++), rv = rand_uniform(C, seed++, 0.5f, 2.f);
      std::vector<float> y(M * C), sm(C), si(C), rm_ref = rm, rv_ref = rv;
      cpu::bn_train_fwd<float>(M, C, x.data(), g.data(), b.data(), res ? r.data() : nullptr, relu, 1e-5, 0.1,
                               y.data(), sm.data(), si.data(), rm_ref.data(), rv_ref.data());
      DevBuf<float> gx(x), gg(g), gb(b), gr(r), grm(rm), grv(rv), gy(M * C), gsm(C), gsi(C);
      cuda::bn_train_fwd(M, C, gx.ptr(), gg.ptr(), gb.ptr(), res ? gr.ptr() : nullptr, relu, 1e-5, 0.1, gy.ptr(),
                         gsm.ptr(), gsi.ptr(), grm.ptr(), grv.ptr());
      // Statistics in double on both sides (different order): ~1e-7 after rounding to fp32;
      // outputs are O(1): a few fp32 ulps from the different folding of mean/invstd/gamma.
      close(gsm.get(), sm, 1e-6, 1e-7, tag + " save_mean");
      close(gsi.get(), si, 1e-6, 0, tag + " save_invstd");
      close(grm.get(), rm_ref, 1e-6, 1e-7, tag + " running_mean");
      close(grv.get(), rv_ref, 1e-5, 1e-7, tag + " running_var");
      close(gy.get(), y, 1e-5, 1e-5, tag + " y");
      CHECK_MESSAGE((gy.guards_ok() && gsm.guards_ok() && gsi.guards_ok() && grm.guards_ok() && grv.guards_ok()),
                    tag << ": guard overwritten");
    }
}

TEST_CASE("gpu batch_norm: eval fwd folded, fused residual/ReLU, vs CPU") {
  const int64_t shapes[][2] = {{1, 3}, {37, 5}, {1000, 64}, {4099, 257}};
  uint64_t seed = 300;
  for (auto& s : shapes)
    for (int mode = 0; mode < 4; mode++) {
      const int64_t M = s[0], C = s[1];
      const bool relu = mode & 1, res = mode & 2;
      const std::string tag = "bn eval M" + std::to_string(M) + " C" + std::to_string(C) + (relu ? " relu" : "") +
                              (res ? " +res" : "");
      auto x = rand_uniform(M * C, seed++, -2.f, 3.f), g = rand_uniform(C, seed++, 0.5f, 1.5f),
           b = rand_uniform(C, seed++), r = rand_uniform(M * C, seed++), rm = rand_uniform(C, seed++),
           rv = rand_uniform(C, seed++, 0.5f, 2.f);
      std::vector<float> y(M * C);
      cpu::bn_eval_fwd<float>(M, C, x.data(), g.data(), b.data(), res ? r.data() : nullptr, relu, 1e-5, rm.data(),
                              rv.data(), y.data());
      DevBuf<float> gx(x), gg(g), gb(b), gr(r), grm(rm), grv(rv), gy(M * C);
      cuda::bn_eval_fwd(M, C, gx.ptr(), gg.ptr(), gb.ptr(), res ? gr.ptr() : nullptr, relu, 1e-5, grm.ptr(), grv.ptr(),
                        gy.ptr());
      // O(1) outputs; CPU folds into scale/shift, GPU into mean/scale/shift: a few ulps apart.
      close(gy.get(), y, 1e-5, 1e-5, tag + " y");
      CHECK_MESSAGE(gy.guards_ok(), tag << ": guard overwritten");
    }
}

TEST_CASE("gpu batch_norm: backward (train and eval, ReLU mask, dresidual) vs CPU") {
  const int64_t shapes[][2] = {{2, 3}, {37, 5}, {1000, 64}, {4099, 129}};
  uint64_t seed = 400;
  for (auto& s : shapes)
    for (int mode = 0; mode < 8; mode++) {
      const int64_t M = s[0], C = s[1];
      const bool relu = mode & 1, res = mode & 2, training = mode & 4;
      const std::string tag = std::string("bn bwd ") + (training ? "train" : "eval") + " M" + std::to_string(M) +
                              " C" + std::to_string(C) + (relu ? " relu" : "") + (res ? " +res" : "");
      auto x = rand_uniform(M * C, seed++, -1.f, 3.f), g = rand_uniform(C, seed++, 0.5f, 1.5f),
           dy = rand_uniform(M * C, seed++), y = rand_uniform(M * C, seed++);  // y only feeds the mask
      auto mean = rand_uniform(C, seed++, 0.5f, 1.5f), invstd = rand_uniform(C, seed++, 0.5f, 2.f);
      std::vector<float> dx(M * C), dg(C), db(C), dr(M * C);
      cpu::bn_bwd<float>(M, C, training, dy.data(), relu ? y.data() : nullptr, x.data(), g.data(), mean.data(),
                         invstd.data(), dx.data(), dg.data(), db.data(), res ? dr.data() : nullptr);
      DevBuf<float> gx(x), gg(g), gdy(dy), gy(y), gm(mean), gi(invstd), gdx(M * C), gdg(C), gdb(C), gdr(M * C);
      cuda::bn_bwd(M, C, training, gdy.ptr(), relu ? gy.ptr() : nullptr, gx.ptr(), gg.ptr(), gm.ptr(), gi.ptr(),
                   gdx.ptr(), gdg.ptr(), gdb.ptr(), res ? gdr.ptr() : nullptr);
      // Reductions in double on both sides; dx mixes O(1) terms: a few fp32 ulps of slack.
      const double sq = std::sqrt((double)M);
      close(gdb.get(), db, 1e-6, 1e-6 * sq, tag + " dbeta");
      close(gdg.get(), dg, 1e-5, 1e-6 * sq, tag + " dgamma");
      close(gdx.get(), dx, 1e-5, 2e-5, tag + " dx");
      if (res) CHECK_MESSAGE(bitwise_equal(gdr.get(), dr), tag << " dresidual");
      CHECK_MESSAGE((gdx.guards_ok() && gdg.guards_ok() && gdb.guards_ok() && gdr.guards_ok()), tag << ": guard overwritten");
    }
}

TEST_CASE("gpu batch_norm: eval statistics for the backward on the device equal the CPU's fold bitwise") {
  const int64_t C = 1030;
  auto rm = rand_uniform(C, 450), rv = rand_uniform(C, 451, 0.f, 3.f);
  rv[0] = 0.f;  // invstd = 1/sqrt(eps)
  std::vector<float> mean(C), invstd(C);
  for (int64_t c = 0; c < C; c++) {
    mean[c] = rm[c];
    invstd[c] = (float)(1.0 / std::sqrt((double)rv[c] + 1e-5));  // as the op layer's CPU path
  }
  DevBuf<float> grm(rm), grv(rv), gm(C), gi(C);
  cuda::bn_eval_stats(C, grm.ptr(), grv.ptr(), 1e-5, gm.ptr(), gi.ptr());
  CHECK(bitwise_equal(gm.get(), mean));
  CHECK(bitwise_equal(gi.get(), invstd));
  CHECK((gm.guards_ok() && gi.guards_ok()));
}

TEST_CASE("gpu max_pool2d: fwd values+argmax and gather bwd are exact vs CPU (ties included)") {
  struct P { int64_t N, H, W, C; int k, s, p, d; };
  // The last two: padding up to half the dilated kernel (2*pad > kernel), which the op layer
  // accepts; the very last has windows that hold no input at all (-inf, argmax -1).
  const P cases[] = {{2, 13, 11, 5, 3, 2, 1, 1}, {1, 8, 8, 64, 2, 2, 0, 1}, {3, 9, 7, 3, 3, 1, 1, 2},
                     {2, 112, 112, 7, 3, 2, 1, 1}, {1, 5, 6, 33, 3, 3, 1, 1}, {2, 9, 10, 6, 3, 2, 2, 2},
                     {1, 1, 4, 3, 2, 1, 2, 3}};
  uint64_t seed = 500;
  for (auto& c : cases) {
    PoolDims d{c.N, c.H, c.W, c.C, 0, 0, c.k, c.k, c.s, c.s, c.p, c.p, c.d, c.d};
    d.P = (c.H + 2 * c.p - c.d * (c.k - 1) - 1) / c.s + 1;
    d.Q = (c.W + 2 * c.p - c.d * (c.k - 1) - 1) / c.s + 1;
    const std::string tag = "maxpool " + std::to_string(c.H) + "x" + std::to_string(c.W) + " k" + std::to_string(c.k) +
                            "/" + std::to_string(c.s) + " p" + std::to_string(c.p) + " d" + std::to_string(c.d);
    const int64_t nx = d.N * d.H * d.W * d.C, ny = d.N * d.P * d.Q * d.C;
    auto x = rand_int(nx, seed++, -4, 4);  // many ties: the first maximum must win on both sides
    auto dy = rand_uniform(ny, seed++);
    std::vector<float> y(ny), dx(nx);
    std::vector<int64_t> idx(ny);
    cpu::maxpool_fwd<float>(d, x.data(), y.data(), idx.data());
    cpu::maxpool_bwd<float>(d, dy.data(), idx.data(), dx.data());
    DevBuf<float> gx(x), gy(ny), gdy(dy), gdx(nx);
    DevBuf<int64_t> gi(ny);
    cuda::maxpool_fwd(d, gx.ptr(), gy.ptr(), gi.ptr());
    cuda::maxpool_bwd(d, gdy.ptr(), gi.ptr(), gdx.ptr());
    CHECK_MESSAGE(bitwise_equal(gy.get(), y), tag << " y");
    CHECK_MESSAGE(bitwise_equal(gi.get(), idx), tag << " argmax");
    // Same summation order as the CPU scatter (ascending output index): exact.
    CHECK_MESSAGE(bitwise_equal(gdx.get(), dx), tag << " dx");
    CHECK_MESSAGE((gy.guards_ok() && gi.guards_ok() && gdx.guards_ok()), tag << ": guard overwritten");
  }
}

TEST_CASE("gpu global_avg_pool: fwd and bwd exact vs CPU") {
  const int64_t shapes[][3] = {{1, 1, 1}, {2, 49, 2048}, {3, 50, 33}, {5, 7, 1000}};
  uint64_t seed = 600;
  for (auto& s : shapes) {
    const int64_t N = s[0], HW = s[1], C = s[2];
    auto x = rand_uniform(N * HW * C, seed++), dy = rand_uniform(N * C, seed++);
    std::vector<float> y(N * C), dx(N * HW * C);
    cpu::gap_fwd<float>(N, HW, C, x.data(), y.data());
    cpu::gap_bwd<float>(N, HW, C, dy.data(), dx.data());
    DevBuf<float> gx(x), gy(N * C), gdy(dy), gdx(N * HW * C);
    cuda::gap_fwd(N, HW, C, gx.ptr(), gy.ptr());
    cuda::gap_bwd(N, HW, C, gdy.ptr(), gdx.ptr());
    // Both accumulate in double in hw order, then round once: bitwise.
    CHECK_MESSAGE(bitwise_equal(gy.get(), y), "gap fwd N" << N << " HW" << HW << " C" << C);
    CHECK_MESSAGE(bitwise_equal(gdx.get(), dx), "gap bwd N" << N << " HW" << HW << " C" << C);
    CHECK((gy.guards_ok() && gdx.guards_ok()));
  }
}

TEST_CASE("gpu cross_entropy: fwd (loss, probs) and bwd, with label smoothing, vs CPU") {
  const int64_t shapes[][2] = {{1, 1}, {3, 10}, {257, 1000}, {64, 1001}};
  uint64_t seed = 700;
  for (auto& s : shapes)
    for (double eps : {0.0, 0.1}) {
      const int64_t N = s[0], C = s[1];
      const std::string tag = "ce N" + std::to_string(N) + " C" + std::to_string(C) + " eps" + std::to_string(eps);
      auto z = rand_uniform(N * C, seed++, -8.f, 8.f);
      std::vector<int64_t> lab(N);
      std::mt19937_64 g(seed++);
      for (auto& l : lab) l = (int64_t)(g() % (uint64_t)C);
      std::vector<float> probs(N * C), dz(N * C);
      const float loss = cpu::cross_entropy_fwd<float>(N, C, z.data(), lab.data(), eps, probs.data());
      cpu::cross_entropy_bwd<float>(N, C, probs.data(), lab.data(), eps, 0.75f, dz.data());
      DevBuf<float> gz(z), gp(N * C), gl(1), gg(std::vector<float>{0.75f}), gdz(N * C);
      DevBuf<int64_t> glab(lab);
      cuda::cross_entropy_fwd(N, C, gz.ptr(), glab.ptr(), eps, gp.ptr(), gl.ptr());
      cuda::cross_entropy_bwd(N, C, gp.ptr(), glab.ptr(), eps, gg.ptr(), gdz.ptr());
      // Both in double up to the final rounding (different summation order): ~1 ulp.
      close(gl.get(), std::vector<float>{loss}, 1e-6, 0, tag + " loss");
      close(gp.get(), probs, 1e-6, 1e-9, tag + " probs");
      // GPU works in fp32 (gout/N, target and p - target each rounded): ~4 ulps of 1, times gout/N.
      close(gdz.get(), dz, 1e-6, 4 * 6e-8 * 0.75 / (double)N, tag + " dlogits");
      CHECK_MESSAGE((gp.guards_ok() && gl.guards_ok() && gdz.guards_ok()), tag << ": guard overwritten");
    }
}

TEST_CASE("gpu launchers reject bad preconditions with ish::Error") {
  DevBuf<float> a(16), b(16);
  CHECK_THROWS_AS(cuda::ish_shape(1, 16, 0, 0, a.ptr(), b.ptr()), Error);
  CHECK_THROWS_AS(cuda::ish_shape(1, 16, 4, 7, a.ptr(), b.ptr()), Error);
  CHECK_THROWS_AS(cuda::bn_train_fwd(1, 16, a.ptr(), nullptr, nullptr, nullptr, false, 1e-5, 0.1, b.ptr(), a.ptr(),
                                     a.ptr(), nullptr, nullptr), Error);
  PoolDims bad{1, 4, 4, 1, 2, 2, 3, 3, 2, 2, 2, 2, 1, 1};  // padding 2 > effective kernel 3 / 2
  CHECK_THROWS_AS(cuda::maxpool_fwd(bad, a.ptr(), b.ptr(), nullptr), Error);
  PoolDims bad_dil{1, 4, 4, 1, 2, 2, 2, 2, 1, 1, 3, 3, 3, 3};  // padding 3 > effective kernel 4 / 2
  CHECK_THROWS_AS(cuda::maxpool_fwd(bad_dil, a.ptr(), b.ptr(), nullptr), Error);
}

}  // TEST_SUITE
#endif
