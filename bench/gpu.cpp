// `ishscale bench` (GPU): ResNet-50 inference at batch 1/32/256 and a training step at batch 128
// (SGD momentum 0.9), in fp32 (TF32 off) and TF32, as img/s; ISH's cost in a training step (not with
// --quick); then GB/s of each hand-written kernel
// at a ResNet-50-sized problem against the device-to-device copy roof. CUDA-event timing after
// warm-up, median of the repeats. --json FILE writes the same keys as tools/torch_baseline.py.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench.h"
#include "engine/error.h"
#include "engine/autograd.h"
#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"
#include "engine/device.h"
#include "engine/ops.h"
#include "models/resnet.h"
#include "train/ish.h"
#include "train/sgd.h"
#include "util/fs.h"

namespace ish::bench {
namespace {

// Median milliseconds of `iters` runs of fn after `warmup` runs, timed with events on our stream.
double time_ms(const std::function<void()>& fn, int warmup, int iters) {
  for (int i = 0; i < warmup; i++) fn();
  CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
  cudaEvent_t a, b;
  CUDA_CHECK(cudaEventCreate(&a));
  CUDA_CHECK(cudaEventCreate(&b));
  std::vector<double> ms;
  for (int i = 0; i < iters; i++) {
    CUDA_CHECK(cudaEventRecord(a, cuda::stream()));
    fn();
    CUDA_CHECK(cudaEventRecord(b, cuda::stream()));
    CUDA_CHECK(cudaEventSynchronize(b));
    float t = 0;
    CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  CUDA_CHECK(cudaEventDestroy(a));
  CUDA_CHECK(cudaEventDestroy(b));
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// --json FILE is rewritten after every row, so a run stopped by a time limit still leaves its rows.
std::string g_json_path;
void save_json(const nlohmann::json& out) {
  if (g_json_path.empty()) return;
  util::atomic_write(g_json_path, out.dump(2) + "\n");
}

Tensor labels(int64_t n) {
  std::vector<int64_t> l((size_t)n);
  for (int64_t i = 0; i < n; i++) l[i] = (i * 389 + 17) % 1000;
  return Tensor::from_i64(l, {n}).to(Device::CUDA);
}

void bench_models(nlohmann::json& out, int iters, bool quick) {
  const Tf32 saved = cuda::options().tf32;
  for (bool tf32 : {false, true}) {
    // fp32: TF32 off everywhere; tf32: convolutions and GEMMs (torch_baseline.py sets both flags).
    cuda::options().tf32 = tf32 ? Tf32::All : Tf32::Off;
    const std::string prec = tf32 ? "tf32" : "fp32";
    auto m = models::ResNet::create("resnet50", -1, 1);
    m.to(Device::CUDA);
    m.eval();
    for (int64_t bs : {1, 32, 256}) {
      if (quick && bs == 256) continue;
      Tensor x = ops::randn({bs, 224, 224, 3}, 5).to(Device::CUDA);
      NoGradGuard ng;
      const double ms = time_ms([&] { m.forward(x); }, 3, iters);
      const std::string key = "infer_bs" + std::to_string(bs) + "_" + prec;
      out[key + "_ms"] = ms;
      out[key + "_img_s"] = bs / (ms / 1000.0);
      std::printf("%-22s %9.3f ms  %9.1f img/s\n", key.c_str(), ms, bs / (ms / 1000.0));
      std::fflush(stdout);
      save_json(out);
    }
    const int64_t bs = quick ? 32 : 128;
    m.train();
    train::ParamGroup grp;
    for (auto& np : m.named_parameters()) grp.params.push_back(np);
    grp.opt.lr = 0.01;
    grp.opt.momentum = 0.9;
    train::SGD opt({grp});
    Tensor x = ops::randn({bs, 224, 224, 3}, 6).to(Device::CUDA), y = labels(bs);
    auto step = [&] {
      opt.zero_grad();
      auto o = m.forward(x);
      ops::cross_entropy(o.logits, y).backward();
      opt.step();
    };
    cuda::reset_peak_bytes();
    const double ms = time_ms(step, 3, std::max(3, iters / 2));
    const std::string key = "train_bs" + std::to_string(bs) + "_" + prec;
    out[key + "_ms"] = ms;
    out[key + "_img_s"] = bs / (ms / 1000.0);
    out[key + "_peak_GiB"] = cuda::alloc_stats().peak_bytes_in_use / 1073741824.0;
    std::printf("%-22s %9.3f ms  %9.1f img/s  peak %.2f GiB\n", key.c_str(), ms, bs / (ms / 1000.0),
                cuda::alloc_stats().peak_bytes_in_use / 1073741824.0);
    std::fflush(stdout);
    save_json(out);
  }
  cuda::options().tf32 = saved;
}

// ISH's extra cost in a ResNet-50 training step (forward + backward, batch 64, TF32 as set): the
// fc weight gradient from the shaped features instead of the raw ones. Plain and ISH steps are
// interleaved so clock drift hits both alike; ish_step_ratio = median ISH / median plain.
void bench_ish_step(nlohmann::json& out, int iters) {
  auto m = models::ResNet::create("resnet50", 1000, 1);
  m.to(Device::CUDA);
  m.train();
  const int64_t B = 64;
  Tensor x = ops::randn({B, 224, 224, 3}, 5).to(Device::CUDA), y = labels(B);
  auto step = [&](bool ish) {
    m.fc_wgrad_hook = ish ? std::function<Tensor(const Tensor&)>([](const Tensor& f) {
      return train::ish_shape(f, train::IshStrategy::MinkSampleExpScale, 0.85);
    })
                          : nullptr;
    m.zero_grad();
    ops::cross_entropy(m.forward(x).logits, y).backward();
  };
  for (int i = 0; i < 3; i++) step(i % 2 == 0);  // warm-up: allocator, cuDNN plans
  std::vector<double> plain, ish;
  for (int i = 0; i < std::max(3, iters / 2); i++)
    for (bool on : {false, true}) (on ? ish : plain).push_back(time_ms([&] { step(on); }, 0, 1));
  std::sort(plain.begin(), plain.end());
  std::sort(ish.begin(), ish.end());
  const double p = plain[plain.size() / 2], q = ish[ish.size() / 2];
  out["train_bs64_plain_ms"] = p;
  out["train_bs64_ish_ms"] = q;
  out["ish_step_ratio"] = q / p;
  std::printf("%-22s %9.3f ms  plain %9.3f ms  ratio %.3f (target <= 1.02)\n", "train_bs64_ish", q, p, q / p);
  std::fflush(stdout);
  save_json(out);
}

struct Buf {
  void* p;
  size_t n;
  explicit Buf(size_t bytes) : p(dev::cuda_malloc(bytes)), n(bytes) { CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda::stream())); }
  ~Buf() { dev::cuda_free(p, n); }
  float* f() { return (float*)p; }
  template <class T> T* as() { return (T*)p; }
};

// Fills with small non-zero values (never time zeros).
void fill(Buf& b, float v) {
  std::vector<float> h(b.n / sizeof(float), v);
  for (size_t i = 0; i < h.size(); i++) h[i] = v * (float)(1 + (i * 7919) % 13) - 0.3f * v;
  dev::copy(b.p, Device::CUDA, h.data(), Device::CPU, h.size() * sizeof(float));
}

void bench_kernels(nlohmann::json& out, int iters) {
  auto report = [&](const std::string& name, double bytes, const std::function<void()>& fn) {
    const double ms = time_ms(fn, 3, iters);
    const double gbs = bytes / (ms * 1e-3) / 1e9;
    out["kernel_" + name + "_GBps"] = gbs;
    out["kernel_" + name + "_ms"] = ms;
    std::printf("%-26s %9.3f ms  %8.1f GB/s  (%.0f MB moved)\n", name.c_str(), ms, gbs, bytes / 1e6);
    std::fflush(stdout);
    save_json(out);
  };
  {  // the roof: device-to-device copy of 1 GiB (read + write)
    const size_t n = size_t(1) << 30;
    Buf a(n), b(n);
    report("copy", 2.0 * n, [&] { CUDA_CHECK(cudaMemcpyAsync(b.p, a.p, n, cudaMemcpyDeviceToDevice, cuda::stream())); });
    out["copy_GBps"] = out["kernel_copy_GBps"];
  }
  {  // layer1 BN: [128,56,56,256]
    const int64_t M = 128 * 56 * 56, C = 256;
    const double e = 4.0 * M * C;
    Buf x(e), y(e), r(e), dy(e), dx(e), g(4 * C), bt(4 * C), sm(4 * C), si(4 * C), rm(4 * C), rv(4 * C), dg(4 * C),
        db(4 * C);
    fill(x, 1.f), fill(r, 0.5f), fill(dy, 0.1f), fill(g, 1.f), fill(bt, 0.1f), fill(rv, 1.f);
    report("bn_train_fwd_relu", 3 * e, [&] {
      cuda::bn_train_fwd(M, C, x.f(), g.f(), bt.f(), nullptr, true, 1e-5, 0.1, y.f(), sm.f(), si.f(), rm.f(), rv.f());
    });
    report("bn_train_fwd_add_relu", 4 * e, [&] {
      cuda::bn_train_fwd(M, C, x.f(), g.f(), bt.f(), r.f(), true, 1e-5, 0.1, y.f(), sm.f(), si.f(), rm.f(), rv.f());
    });
    report("bn_eval_fwd_relu", 2 * e, [&] {
      cuda::bn_eval_fwd(M, C, x.f(), g.f(), bt.f(), nullptr, true, 1e-5, rm.f(), rv.f(), y.f());
    });
    report("bn_bwd_relu", 7 * e, [&] {
      cuda::bn_bwd(M, C, true, dy.f(), y.f(), x.f(), g.f(), sm.f(), si.f(), dx.f(), dg.f(), db.f(), nullptr);
    });
    report("bn_bwd_relu_dres", 8 * e, [&] {
      cuda::bn_bwd(M, C, true, dy.f(), y.f(), x.f(), g.f(), sm.f(), si.f(), dx.f(), dg.f(), db.f(), r.f());
    });
    report("add", 3 * e, [&] { cuda::binary(cuda::Binary::Add, M * C, x.f(), r.f(), y.f()); });
  }
  {  // stem max pool: [128,112,112,64] -> [128,56,56,64]
    PoolDims d{128, 112, 112, 64, 56, 56, 3, 3, 2, 2, 1, 1, 1, 1};
    const double ex = 4.0 * d.N * d.H * d.W * d.C, ey = 4.0 * d.N * d.P * d.Q * d.C;
    Buf x(ex), y(ey), idx(2 * ey), dy(ey), dx(ex);
    fill(x, 1.f), fill(dy, 0.1f);
    report("maxpool_fwd", ex + ey + 2 * ey, [&] { cuda::maxpool_fwd(d, x.f(), y.f(), idx.as<int64_t>()); });
    report("maxpool_bwd", 2 * ey + ey + ex, [&] { cuda::maxpool_bwd(d, dy.f(), idx.as<int64_t>(), dx.f()); });
  }
  {  // head: GAP [128,7,7,2048], CE [256,1000], ISH [256,2048]
    const int64_t N = 128, HW = 49, C = 2048;
    Buf x(4.0 * N * HW * C), y(4.0 * N * C);
    fill(x, 1.f);
    report("gap_fwd", 4.0 * N * HW * C + 4.0 * N * C, [&] { cuda::gap_fwd(N, HW, C, x.f(), y.f()); });
    report("gap_bwd", 4.0 * N * HW * C + 4.0 * N * C, [&] { cuda::gap_bwd(N, HW, C, y.f(), x.f()); });
    Buf z(4.0 * 256 * 1000), p(4.0 * 256 * 1000), loss(4), gout(4), dz(4.0 * 256 * 1000);
    fill(z, 1.f), fill(gout, 1.f);
    Tensor lab = labels(256);
    report("ce_fwd", 8.0 * 256 * 1000, [&] {
      cuda::cross_entropy_fwd(256, 1000, z.f(), lab.data<int64_t>(), 0.0, p.f(), loss.f());
    });
    report("ce_bwd", 8.0 * 256 * 1000, [&] {
      cuda::cross_entropy_bwd(256, 1000, p.f(), lab.data<int64_t>(), 0.0, gout.f(), dz.f());
    });
    Buf f(4.0 * 256 * 2048), s(4.0 * 256 * 2048);
    fill(f, 1.f);
    report("ish_shape", 8.0 * 256 * 2048, [&] { cuda::ish_shape(256, 2048, 307, 0, f.f(), s.f()); });
  }
  {  // SGD over ResNet-50's 25.6M parameters in 161 tensors (one launch)
    const int64_t total = 25557032, nt = 161;
    Buf p(4.0 * total), g(4.0 * total), m(4.0 * total);
    fill(p, 0.01f), fill(g, 0.001f);
    std::vector<cuda::SgdTensor> ts;
    int64_t off = 0;
    for (int64_t t = 0; t < nt; t++) {
      const int64_t n = t + 1 < nt ? total / nt : total - off;
      ts.push_back({p.f() + off, g.f() + off, m.f() + off, n, 5e-4f});
      off += n;
    }
    report("sgd_multi", 5.0 * 4 * total, [&] { cuda::sgd_multi(ts.data(), (int)ts.size(), 0.01f, 0.9f, 0.f, true, false); });
  }
  {  // input normalisation: 256 images of 224x224x3 uint8 -> float
    const int64_t px = 256LL * 224 * 224;
    Buf in(3.0 * px), o(12.0 * px);
    const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    report("normalize_u8", 15.0 * px, [&] { cuda::normalize_u8(px, in.as<uint8_t>(), mean, sd, o.f()); });
  }
}

}  // namespace

int run_gpu(const GpuOptions& o) {
  g_json_path = o.json;
  const int iters = o.iters;
  const bool quick = o.quick, no_models = !o.models, no_kernels = !o.kernels;
  cuda::options().deterministic = o.deterministic;
  ISH_CHECK(iters >= 1, "bench: --iters must be >= 1");
  ISH_CHECK(dev::cuda_available(), "bench: no GPU: ", dev::cuda_unavailable_reason());
  cudaDeviceProp prop{};
  int devi = 0;
  CUDA_CHECK(cudaGetDevice(&devi));
  CUDA_CHECK(cudaGetDeviceProperties(&prop, devi));
  nlohmann::json out;
  out["engine"] = "ishscale";
  out["device"] = prop.name;
  out["deterministic"] = cuda::options().deterministic;
  out["tf32_default"] = tf32_name(cuda::options().tf32);
  std::printf("ishscale bench on %s (%d SMs)\n", prop.name, prop.multiProcessorCount);
  save_json(out);
  if (!no_models) bench_models(out, iters, quick);
  if (!no_models && !quick) bench_ish_step(out, iters);
  if (!no_kernels) bench_kernels(out, iters);
  const auto st = cuda::alloc_stats();
  out["allocator_cuda_mallocs"] = st.cuda_mallocs;
  save_json(out);
  return 0;
}

}  // namespace ish::bench
