// `ishscale bench --cpu [--arch resnet50] [--batch-size 8] [--threads N] [--repeat 5] [--json FILE]`
// Eval forward (no grad) and training step (forward, cross-entropy, backward, SGD momentum 0.9) of a
// ResNet or a vision transformer (vit_*, swin_*) on random weights and input, fp32, NHWC. Wall-clock median
// of the repeats after warm-up; the GFLOP/s implied by the conv, linear and attention-matmul FLOPs of
// the model (counted from its shapes). Same JSON keys as tools/torch_cpu_baseline.py.
#include "bench/cpu.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/threads.h"
#include "models/resnet.h"
#include "models/swin.h"
#include "models/vit.h"
#include "models/zoo.h"
#include "train/sgd.h"

namespace ish::bench {
namespace {

struct Flops {
  double fwd = 0;    // forward multiply-adds x 2
  double train = 0;  // forward + input grads (none for the first conv) + weight grads
};

// Conv and linear FLOPs of a ResNet on an H x W input (torchvision v1.5 layout, as models/resnet.cpp).
Flops count_flops(const models::ResNetConfig& c, int64_t H, int64_t W) {
  Flops f;
  auto conv = [&](int64_t& h, int64_t& w, int64_t cin, int64_t cout, int k, int s, int p, bool first = false) {
    h = (h + 2 * p - k) / s + 1;
    w = (w + 2 * p - k) / s + 1;
    const double fl = 2.0 * h * w * cout * k * k * cin;
    f.fwd += fl;
    f.train += first ? 2 * fl : 3 * fl;
  };
  int64_t h = H, w = W;
  if (c.cifar_stem) {
    conv(h, w, c.in_channels, c.width, 3, 1, 1, true);
  } else {
    conv(h, w, c.in_channels, c.width, 7, 2, 3, true);
    h = (h + 2 - 3) / 2 + 1, w = (w + 2 - 3) / 2 + 1;  // max pool 3/2/1
  }
  const int exp = c.bottleneck ? 4 : 1;
  int64_t inplanes = c.width;
  for (int s = 0; s < 4; s++) {
    const int64_t planes = (int64_t)c.width << s;
    for (int i = 0; i < c.layers[(size_t)s]; i++) {
      const int st = (i == 0 && s > 0) ? 2 : 1;
      int64_t h1 = h, w1 = w;
      if (c.bottleneck) {
        conv(h1, w1, inplanes, planes, 1, 1, 0);
        conv(h1, w1, planes, planes, 3, st, 1);
        conv(h1, w1, planes, planes * exp, 1, 1, 0);
      } else {
        conv(h1, w1, inplanes, planes, 3, st, 1);
        conv(h1, w1, planes, planes, 3, 1, 1);
      }
      if (st != 1 || inplanes != planes * exp) {
        int64_t h2 = h, w2 = w;
        conv(h2, w2, inplanes, planes * exp, 1, st, 0);
      }
      h = h1, w = w1, inplanes = planes * exp;
    }
  }
  const double fc = 2.0 * inplanes * c.num_classes;
  f.fwd += fc;
  f.train += 3 * fc;
  return f;
}

// Matmul FLOPs of a torchvision ViT on its own image size: patch conv, per layer the packed q/k/v
// projection, q k^T and attn v, out_proj and the MLP, then the head. Element-wise work is not counted.
Flops count_flops(const models::ViTConfig& c) {
  const double G = c.image_size / c.patch_size, L = G * G + 1, D = c.hidden_dim, M = c.mlp_dim;
  const double conv = 2.0 * G * G * D * c.patch_size * c.patch_size * 3;
  const double layer = 2.0 * L * D * 3 * D + 2.0 * 2 * L * L * D + 2.0 * L * D * D + 2.0 * 2 * L * D * M;
  const double head = 2.0 * D * c.num_classes;
  Flops f;
  f.fwd = conv + c.num_layers * layer + head;
  f.train = 2 * conv + 3 * (c.num_layers * layer + head);
  return f;
}

// Matmul FLOPs of a torchvision Swin on an H x W input: the 4x4 patch conv; per block, on the map padded
// to window multiples (torchvision attends on the padded map, then crops), the qkv projection, q k^T and
// attn v inside each window, the output projection, then the MLP on the unpadded map; the PatchMerging
// reductions (4C -> 2C) and the head.
Flops count_flops(const models::SwinConfig& c, int64_t H, int64_t W) {
  const auto up = [](int64_t v, int64_t m) { return (v + m - 1) / m * m; };
  int64_t h = H / c.patch_size, w = W / c.patch_size;
  double C = c.embed_dim, conv = 2.0 * h * w * C * c.patch_size * c.patch_size * 3, rest = 0;
  const double N = (double)c.window_h * c.window_w;
  for (size_t s = 0; s < c.depths.size(); s++) {
    const double T = (double)h * w, Tp = (double)up(h, c.window_h) * up(w, c.window_w);
    const double hidden = (double)(int64_t)(C * c.mlp_ratio);
    const double block = 2.0 * Tp * C * 3 * C + 2.0 * 2 * Tp * N * C + 2.0 * Tp * C * C + 2.0 * 2 * T * C * hidden;
    rest += c.depths[s] * block;
    if (s + 1 < c.depths.size()) {
      h = (h + 1) / 2, w = (w + 1) / 2;
      rest += 2.0 * h * w * 4 * C * 2 * C;
      C *= 2;
    }
  }
  rest += 2.0 * C * c.num_classes;
  Flops f;
  f.fwd = conv + rest;
  f.train = 2 * conv + 3 * rest;
  return f;
}

// The benched model behind one interface (ResNet or ViT).
struct Model {
  std::unique_ptr<models::Net> net;  // models/zoo.h, any family
  Flops flops;
};

Model make_model(const std::string& arch, int64_t size) {
  // FLOPs from the family's config; its lookup also gives a misspelt vit_* / swin_* that family's list.
  Flops fl;
  if (models::is_vit_arch(arch) || arch.rfind("vit", 0) == 0) {
    const models::ViTConfig c = models::vit_config_for(arch);
    ISH_CHECK(size == c.image_size, "bench: ", arch, " takes --image-size ", c.image_size, ", got ", size);
    fl = count_flops(c);
  } else if (models::is_swin_arch(arch) || arch.rfind("swin", 0) == 0) {
    fl = count_flops(models::swin_config_for(arch), size, size);
  } else {
    fl = count_flops(models::config_for(arch), size, size);
  }
  return {models::zoo::create(arch, -1, 1), fl};
}

double cpu_seconds() {  // user + system time of the whole process
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_sec +
         1e-6 * (double)u.ru_stime.tv_usec;
}

struct Timing {
  double wall_s, cpu_s;  // medians per run
};
// Medians of `iters` timed runs after `warmup` untimed ones: wall clock, and the process's CPU time
// (steadier than wall time when other jobs share the cores).
Timing median_s(const std::function<void()>& fn, int warmup, int iters) {
  for (int i = 0; i < warmup; i++) fn();
  std::vector<double> s, c;
  for (int i = 0; i < iters; i++) {
    const double c0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    c.push_back(cpu_seconds() - c0);
  }
  std::sort(s.begin(), s.end());
  std::sort(c.begin(), c.end());
  return {s[s.size() / 2], c[c.size() / 2]};
}

// fp32 AVX2 FMA peak of one core in GFLOP/s: 2 FMA pipes x 8 lanes x 2 FLOP per cycle times the clock the
// kernel reports (nominal in a VM; boost clocks can pass it). *avx512 tells whether the CPU has AVX-512:
// cores with 512-bit FMA units (Zen 5, Intel server parts) then peak at twice this.
double core_peak_gflops(bool* avx512) {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  double mhz = 0;
  *avx512 = false;
  while (std::getline(f, line)) {
    if (mhz == 0 && line.rfind("cpu MHz", 0) == 0) {
      const auto p = line.find(':');
      if (p != std::string::npos) mhz = std::atof(line.c_str() + p + 1);
    } else if (line.rfind("flags", 0) == 0) {
      *avx512 = line.find(" avx512f") != std::string::npos;
      if (mhz > 0) break;
    }
  }
  return 32.0 * mhz / 1000.0;
}

}  // namespace

int bench_cpu(int argc, char** argv) {
  cli::Args a(argc, argv, {"--cpu", "--no-train", "--no-eval"});
  a.flag("--cpu");
  const std::string arch = a.get("--arch", "resnet50"), json_path = a.get("--json");
  const long long bs = a.get_int("--batch-size", 8), threads = a.get_int("--threads", 0);
  const long long repeat = a.get_int("--repeat", 5), warmup = a.get_int("--warmup", 1);
  const long long size = a.get_int("--image-size", 224);
  const bool no_train = a.flag("--no-train"), no_eval = a.flag("--no-eval");
  a.finish();
  ISH_CHECK(bs >= 1 && bs <= 4096, "bench: --batch-size must be in [1, 4096], got ", bs);
  ISH_CHECK(threads >= 0 && threads <= 1024, "bench: --threads must be in [0, 1024], got ", threads);
  ISH_CHECK(repeat >= 1 && warmup >= 0, "bench: --repeat must be >= 1 and --warmup >= 0");
  ISH_CHECK(size >= 32 && size <= 1024, "bench: --image-size must be in [32, 1024], got ", size);
  set_threads((int)threads);

  Model m = make_model(arch, size);
  const Flops fl = m.flops;
  bool avx512 = false;
  const double peak = core_peak_gflops(&avx512) * ish::threads();
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  nlohmann::json out = {{"engine", "ishscale"}, {"arch", arch},       {"batch_size", bs},
                        {"threads", ish::threads()}, {"image_size", size}, {"repeat", repeat},
                        {"layout", "NHWC"},          {"gflop_per_img_fwd", fl.fwd / 1e9},
                        {"gflop_per_img_train", fl.train / 1e9}, {"peak_gflops", peak}, {"cpu_avx512", avx512},
                        {"openblas_coretype", coretype ? coretype : ""}};
  std::printf("ishscale bench --cpu: %s, batch %lld, %lldx%lld, %d threads, AVX2 FMA peak ~%.0f GFLOP/s\n",
              arch.c_str(), bs, size, size, ish::threads(), peak);
  if (avx512)
    std::printf("  note: this CPU has AVX-512; with 512-bit FMA units (Zen 5, Intel server parts) its peak is twice that\n");
  // The variable is read when OpenBLAS loads: it picks the GEMM kernels of every sgemm in this process (and
  // of PyTorch's linear layers, not of its oneDNN convolutions), so it decides much of the comparison.
  if (coretype && *coretype)
    std::printf("  note: OPENBLAS_CORETYPE=%s pins OpenBLAS's kernels (docs/perf-notes.md: what it costs)\n", coretype);
  auto report = [&](const std::string& key, Timing t, double flop_per_img) {
    const double ips = (double)bs / t.wall_s, gf = ips * flop_per_img / 1e9;
    out[key + "_img_s"] = ips;
    out[key + "_ms"] = t.wall_s * 1e3;
    out[key + "_cpu_s_per_img"] = t.cpu_s / (double)bs;
    out[key + "_gflops"] = gf;
    std::printf("  %-6s %8.1f ms  %7.2f img/s  %6.1f GFLOP/s (%.0f%% of peak)  %.3f CPU s/img\n", key.c_str(),
                t.wall_s * 1e3, ips, gf, peak > 0 ? 100 * gf / peak : 0.0, t.cpu_s / (double)bs);
    std::fflush(stdout);
  };
  Tensor x = ops::randn({bs, size, size, 3}, 5);
  if (!no_eval) {
    m.net->eval();
    NoGradGuard ng;
    report("eval", median_s([&] { m.net->forward(x); }, (int)warmup, (int)repeat), fl.fwd);
  }
  if (!no_train) {
    m.net->train(true);
    train::ParamGroup grp;
    for (auto& np : m.net->named_parameters()) grp.params.push_back(np);
    grp.opt.lr = 0.01;
    grp.opt.momentum = 0.9;
    train::SGD opt({grp});
    std::vector<int64_t> l((size_t)bs);
    for (int64_t i = 0; i < bs; i++) l[(size_t)i] = (i * 389 + 17) % m.net->num_classes();
    Tensor y = Tensor::from_i64(l, {bs});
    auto step = [&] {
      opt.zero_grad();
      ops::cross_entropy(m.net->forward(x).logits, y).backward();
      opt.step();
    };
    report("train", median_s(step, (int)warmup, (int)repeat), fl.train);
  }
  if (!json_path.empty()) {
    std::ofstream f(json_path);
    ISH_CHECK(f.good(), "bench: cannot write ", json_path);
    f << out.dump(2) << "\n";
  }
  return 0;
}

}  // namespace ish::bench
