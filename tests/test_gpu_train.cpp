// GPU parity, part 2: element-wise families, the multi-tensor SGD (vs the CPU twin in
// engine/cpu/cpu_ops.h), ISH shaping (vs its CPU twin), uint8 normalisation, the trainer's device
// statistics (vs the CPU twin), stream-ordered copies, and the caching allocator.
#ifdef ISHSCALE_CUDA
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/cpu/cpu_ops.h"
#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/ops.h"
#include "tests/test_gpu_util.h"
#include "train/ish.h"

using namespace ish;
using namespace ish::gputest;

TEST_SUITE("gpu") {

TEST_CASE("gpu element-wise: unary, binary, relu_bwd, axpy, scale_shift, clamp_max, fill vs host") {
  uint64_t seed = 800;
  for (int64_t n : {1, 255, 257, 100003}) {
    auto a = rand_uniform(n, seed++, -3.f, 3.f), b = rand_uniform(n, seed++, -3.f, 3.f);
    auto pos = rand_uniform(n, seed++, 0.01f, 10.f);
    a[0] = -0.f;  // relu keeps -0 as torch does (v < 0 is false)
    DevBuf<float> ga(a), gb(b), gp(pos), gy(n);
    auto host1 = [&](const std::vector<float>& x, auto f) {
      std::vector<float> r(x.size());
      for (size_t i = 0; i < x.size(); i++) r[i] = f(x[i]);
      return r;
    };
    auto host2 = [&](auto f) {
      std::vector<float> r(a.size());
      for (size_t i = 0; i < a.size(); i++) r[i] = f(a[i], b[i]);
      return r;
    };
    const std::string tag = " n=" + std::to_string(n);
    cuda::unary(cuda::Unary::Relu, n, ga.ptr(), gy.ptr());
    CHECK_MESSAGE(bitwise_equal(gy.get(), host1(a, [](float v) { return v < 0.f ? 0.f : v; })), "relu" << tag);
    cuda::unary(cuda::Unary::Neg, n, ga.ptr(), gy.ptr());
    CHECK_MESSAGE(bitwise_equal(gy.get(), host1(a, [](float v) { return -v; })), "neg" << tag);
    // CUDA expf/logf are within 2 ulp of the correctly rounded result.
    cuda::unary(cuda::Unary::Exp, n, ga.ptr(), gy.ptr());
    close(gy.get(), host1(a, [](float v) { return (float)std::exp((double)v); }), 3e-7, 0, "exp" + tag);
    cuda::unary(cuda::Unary::Log, n, gp.ptr(), gy.ptr());
    close(gy.get(), host1(pos, [](float v) { return (float)std::log((double)v); }), 3e-7, 3e-7, "log" + tag);
    cuda::binary(cuda::Binary::Add, n, ga.ptr(), gb.ptr(), gy.ptr());
    CHECK_MESSAGE(bitwise_equal(gy.get(), host2([](float p, float q) { return p + q; })), "add" << tag);
    cuda::binary(cuda::Binary::Sub, n, ga.ptr(), gb.ptr(), gy.ptr());
    CHECK_MESSAGE(bitwise_equal(gy.get(), host2([](float p, float q) { return p - q; })), "sub" << tag);
    cuda::binary(cuda::Binary::Mul, n, ga.ptr(), gb.ptr(), gy.ptr());
    CHECK_MESSAGE(bitwise_equal(gy.get(), host2([](float p, float q) { return p * q; })), "mul" << tag);
    cuda::relu_bwd(n, ga.ptr(), gb.ptr(), gy.ptr());
    CHECK_MESSAGE(bitwise_equal(gy.get(), host2([](float y, float d) { return y > 0.f ? d : 0.f; })), "relu_bwd" << tag);
    cuda::clamp_max(n, ga.ptr(), 0.5f, gy.ptr());
    CHECK_MESSAGE(bitwise_equal(gy.get(), host1(a, [](float v) { return v > 0.5f ? 0.5f : v; })), "clamp_max" << tag);
    // y = x*s + b may contract to one FMA on the GPU: 1 ulp of |x*s| + |b|.
    cuda::scale_shift(n, ga.ptr(), 1.7f, -0.3f, gy.ptr());
    close(gy.get(), host1(a, [](float v) { return v * 1.7f - 0.3f; }), 2e-7, 6e-7, "scale_shift" + tag);
    gy.upload(b);
    cuda::axpy(n, 0.25f, ga.ptr(), gy.ptr());
    close(gy.get(), host2([](float x, float y) { return y + 0.25f * x; }), 2e-7, 6e-7, "axpy" + tag);
    cuda::fill(n, 2.5f, gy.ptr());
    CHECK_MESSAGE(bitwise_equal(gy.get(), std::vector<float>((size_t)n, 2.5f)), "fill" << tag);
    CHECK_MESSAGE(gy.guards_ok(), "guard overwritten" << tag);
  }
}

TEST_CASE("gpu sgd_multi: one launch over many tensors matches torch.optim.SGD's CPU twin bitwise") {
  const int64_t sizes[] = {1, 100, 16385, 40000, 3};
  const float wds[] = {5e-4f, 0.f, 5e-5f, 1e-3f, 0.f};
  struct Cfg { float mom, damp; bool nesterov; };
  for (Cfg cfg : {Cfg{0.9f, 0.f, true}, Cfg{0.9f, 0.f, false}, Cfg{0.f, 0.f, false}}) {
    const std::string tag = std::string("sgd mom ") + std::to_string(cfg.mom) + (cfg.nesterov ? " nesterov" : "");
    std::vector<std::vector<float>> p, bufs;
    std::vector<std::unique_ptr<DevBuf<float>>> gp, gg, gm;
    uint64_t seed = 900;
    for (int64_t n : sizes) {
      p.push_back(rand_uniform(n, seed++));
      bufs.push_back(std::vector<float>((size_t)n, 0.f));
      gp.push_back(std::make_unique<DevBuf<float>>(p.back()));
      gm.push_back(std::make_unique<DevBuf<float>>(n));
      gg.push_back(std::make_unique<DevBuf<float>>(n));
    }
    const double lrs[] = {0.1, 0.05, 0.003};
    for (int step = 0; step < 3; step++) {
      std::vector<cuda::SgdTensor> ts;
      for (size_t t = 0; t < p.size(); t++) {
        auto g = rand_uniform(sizes[t], 1000 + step * 10 + t);
        gg[t]->upload(g);
        const ops::SgdHyper h{(float)lrs[step], cfg.mom, cfg.damp, cfg.nesterov};
        cpu::sgd_update<float>(sizes[t], p[t].data(), g.data(), cfg.mom != 0 ? bufs[t].data() : nullptr, wds[t], h,
                               step == 0);
        ts.push_back({gp[t]->ptr(), gg[t]->ptr(), cfg.mom != 0 ? gm[t]->ptr() : nullptr, sizes[t], wds[t]});
      }
      cuda::sgd_multi(ts.data(), (int)ts.size(), (float)lrs[step], cfg.mom, cfg.damp, cfg.nesterov, step == 0);
      for (size_t t = 0; t < p.size(); t++) {
        // Each product and sum rounded on its own on both sides: bitwise.
        CHECK_MESSAGE(bitwise_equal(gp[t]->get(), p[t]), tag << " step " << step << " param " << t);
        if (cfg.mom != 0) CHECK_MESSAGE(bitwise_equal(gm[t]->get(), bufs[t]), tag << " step " << step << " buf " << t);
        CHECK(gp[t]->guards_ok());
        CHECK(gm[t]->guards_ok());
      }
    }
  }
}

TEST_CASE("gpu ish_shape: top-k select + scale + scatter matches the CPU twin (3 strategies, ties)") {
  uint64_t seed = 1100;
  for (int64_t D : {7, 256, 2048, 2049})
    for (int64_t N : {1, 5, 64})
      for (int kind = 0; kind < 3; kind++) {
        // kind 0: post-ReLU features (zeros, positive); 1: signed; 2: few distinct values (many ties).
        std::vector<float> x;
        if (kind == 0) {
          x = rand_uniform(N * D, seed++, -1.f, 2.f);
          for (auto& v : x) v = v < 0 ? 0.f : v;
        } else if (kind == 1) {
          x = rand_uniform(N * D, seed++, -2.f, 2.f);
        } else {
          x = rand_int(N * D, seed++, -3, 3);
        }
        if (N > 1)
          for (int64_t j = 0; j < D; j++) x[j] = 0.f;  // an all-zero row: defined as zeros
        for (int strategy = 0; strategy < 3; strategy++)
          for (int64_t k : {train::ish_keep(D, 0.85), (int64_t)1, D}) {
            if (k < 1) continue;
            const std::string tag = "ish D" + std::to_string(D) + " N" + std::to_string(N) + " kind" +
                                    std::to_string(kind) + " s" + std::to_string(strategy) + " k" + std::to_string(k);
            std::vector<float> ref(N * D);
            cpu::ish_shape<float>(N, D, k, (ops::IshStrategy)strategy, x.data(), ref.data());
            DevBuf<float> gx(x), go(N * D);
            cuda::ish_shape(N, D, k, strategy, gx.ptr(), go.ptr());
            // Same kept set (ties to the lower index); s1, s2 in double in another order, the factor
            // rounded once to fp32: equal up to 1 ulp.
            close(go.get(), ref, 2.5e-7, 0, tag);
            CHECK_MESSAGE(go.guards_ok(), tag << ": guard overwritten");
          }
      }
}

TEST_CASE("gpu ish_shape: a non-finite row becomes NaN, as the CPU twin") {
  std::vector<float> x = rand_uniform(2 * 300, 1200, 0.f, 1.f);
  x[5] = NAN;
  x[300 + 7] = INFINITY;
  std::vector<float> ref(x.size());
  cpu::ish_shape<float>(2, 300, 45, ops::IshStrategy::MinkSampleExpScale, x.data(), ref.data());
  DevBuf<float> gx(x), go((int64_t)x.size());
  cuda::ish_shape(2, 300, 45, 0, gx.ptr(), go.ptr());
  close(go.get(), ref, 0, 0, "ish non-finite");
}

TEST_CASE("gpu normalize_u8: exact vs ToTensor+Normalize in fp32") {
  const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
  for (int64_t npx : {1, 333, 224 * 224 * 3}) {
    std::vector<uint8_t> in((size_t)npx * 3);
    std::mt19937 g(7);
    for (auto& v : in) v = (uint8_t)(g() & 255);
    std::vector<float> ref(in.size());
    for (size_t i = 0; i < in.size(); i++) ref[i] = ((float)in[i] / 255.f - mean[i % 3]) / stdv[i % 3];
    DevBuf<uint8_t> gi(in);
    DevBuf<float> go((int64_t)in.size());
    cuda::normalize_u8(npx, gi.ptr(), mean, stdv, go.ptr());
    // IEEE division and subtraction on both sides (no fast-math): bitwise.
    CHECK_MESSAGE(bitwise_equal(go.get(), ref), "normalize " << npx << " pixels");
    CHECK(go.guards_ok());
  }
}

TEST_CASE("gpu train_stats_: loss sum, correct count and first non-finite step match the CPU twin") {
  const int64_t N = 300, C = 10;  // more rows than the kernel's block
  auto v = rand_int(N * C, 901, -3, 3);  // small integers: many ties (the first maximum wins)
  v[5 * C + 2] = NAN;                    // a NaN wins its row, as in argmax_last
  std::vector<int64_t> y((size_t)N);
  for (int64_t i = 0; i < N; i++) y[(size_t)i] = (i * 7) % C;
  Tensor lc = Tensor::from_f32(v, {N, C}), yc = Tensor::from_i64(y, {N});
  Tensor lg = lc.to(Device::CUDA), yg = yc.to(Device::CUDA);
  Tensor sc = Tensor::zeros({ops::kTrainStats}, DType::F64);
  Tensor sg = Tensor::zeros({ops::kTrainStats}, DType::F64, Device::CUDA);
  const float losses[] = {0.5f, 1.2345678f, INFINITY, NAN};
  for (int k = 0; k < 4; k++) {
    ops::train_stats_(sc, Tensor::full({}, losses[k]), lc, yc, k + 1);
    ops::train_stats_(sg, Tensor::full({}, losses[k], DType::F32, Device::CUDA), lg, yg, k + 1);
    if (k == 1) CHECK(sg.to_f64_vector() == sc.to_f64_vector());  // finite so far: bitwise (same sums in double)
  }
  ops::train_stats_(sc, Tensor(), lc, yc, 9);
  ops::train_stats_(sg, Tensor(), lg, yg, 9);
  auto a = sg.to_f64_vector(), b = sc.to_f64_vector();
  CHECK(a[ops::kCorrect] == b[ops::kCorrect]);
  CHECK(a[ops::kBadStep] == 3);
  CHECK(b[ops::kBadStep] == 3);
  CHECK(std::isinf(a[ops::kBadLoss]));
  CHECK(std::isnan(a[ops::kLossSum]));
}

TEST_CASE("gpu copies: uploads and device-to-device copies queue on the stream; a download sees them all") {
  const int64_t n = 1 << 22;  // 16 MiB: long enough for a missing wait to show
  const auto h = rand_uniform(n, 902);
  Tensor d = Tensor::from_f32(h, {n}).to(Device::CUDA);  // the host tensor is freed at once
  Tensor c = d.clone();                                   // device to device, no wait
  ops::add_(c, d);                                        // c = 2h
  Tensor e = c.clone();
  c.fill_(0);                                             // must not reach e
  const auto got = e.to(Device::CPU).to_f32_vector();
  size_t bad = 0;
  for (int64_t i = 0; i < n; i++) bad += got[(size_t)i] != 2 * h[(size_t)i];
  CHECK(bad == 0);
}

TEST_CASE("gpu allocator: a warm repeat of the same allocations never calls cudaMalloc; counters balance") {
  const size_t sizes[] = {1, 511, 4096, 1 << 20, (1 << 20) + 1, 3 << 21, 50 << 20};
  const int64_t in_use0 = cuda::alloc_stats().bytes_in_use;
  for (int rep = 0; rep < 3; rep++) {
    const int64_t before = cuda::alloc_stats().cuda_mallocs;
    std::vector<std::pair<void*, size_t>> live;
    for (size_t s : sizes) live.push_back({dev::cuda_malloc(s), s});
    // Rounded sizes: 512 B below 1 MiB, 2 MiB above; a cached block may be up to 1/8 larger.
    const int64_t want = 512 + 512 + 4096 + (1 << 20) + (2 << 20) + (6 << 20) + (50 << 20);
    const int64_t got = cuda::alloc_stats().bytes_in_use - in_use0;
    CHECK_MESSAGE((got >= want && got <= want + want / 8), "bytes_in_use grew by " << got << ", want ~" << want);
    for (auto& [p, s] : live) dev::cuda_free(p, s);
    if (rep > 0) CHECK_MESSAGE(cuda::alloc_stats().cuda_mallocs == before, "rep " << rep << ": cudaMalloc while warm");
    CHECK(cuda::alloc_stats().bytes_in_use == in_use0);
  }
}

TEST_CASE("gpu allocator: device_try_alloc returns null when memory runs out; the caller can go on") {
  size_t free_b = 0, total_b = 0;
  REQUIRE(cudaMemGetInfo(&free_b, &total_b) == cudaSuccess);
  const int64_t mallocs = cuda::alloc_stats().cuda_mallocs;
  CHECK(cuda::device_try_alloc(total_b * 2) == nullptr);
  CHECK_THROWS_WITH_AS(dev::cuda_malloc(total_b * 2), doctest::Contains("out of GPU memory"), Error);
  CHECK(cuda::alloc_stats().cuda_mallocs == mallocs);
  void* p = dev::cuda_malloc(4096);  // no sticky error left behind
  CHECK(p != nullptr);
  dev::cuda_free(p, 4096);
}

// The fault is provoked in a child process (this test binary again, with ISHSCALE_FAULT_CHILD set):
// a faulting kernel leaves the CUDA context unusable for the rest of its process.
TEST_CASE("gpu allocator: after a kernel fault an allocation reports the fault and the last kernel, not OOM") {
  if (std::getenv("ISHSCALE_FAULT_CHILD")) {
    cuda::gap_fwd(1, 1, 1 << 20, reinterpret_cast<const float*>(0x100), reinterpret_cast<float*>(0x200));
    cudaDeviceSynchronize();  // the illegal address is now the context's sticky error
    try {
      dev::cuda_malloc((size_t)96 << 20);  // a size no cached block serves: a real cudaMalloc
      std::printf("FAULT-MESSAGE: none\n");
    } catch (const Error& e) {
      std::printf("FAULT-MESSAGE: exit %d: %s\n", e.code, e.what());
    }
    return;
  }
  const std::string cmd =
      "ISHSCALE_FAULT_CHILD=1 /proc/self/exe -ts=gpu -tc='gpu allocator: after a kernel fault*' 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  REQUIRE(f);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, f)) out += buf;
  pclose(f);
  const size_t at = out.find("FAULT-MESSAGE: ");
  REQUIRE_MESSAGE(at != std::string::npos, "child output:\n" << out);
  const std::string msg = out.substr(at, out.find('\n', at) - at);
  MESSAGE(msg);
  CHECK(msg.find("exit 3") != std::string::npos);
  CHECK(msg.find("kernel fault") != std::string::npos);
  CHECK(msg.find("gap_fwd") != std::string::npos);  // the last kernel launched
  CHECK(msg.find("out of GPU memory") == std::string::npos);
  CHECK(msg.find("--batch-size") == std::string::npos);
}

}  // TEST_SUITE
#endif
