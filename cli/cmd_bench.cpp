// `ishscale bench [--pipeline] ...`: flags of the CPU pipeline bench or the GPU bench (bench/bench.h).
#include <cstdio>

#include <cstring>

#include "bench/bench.h"
#include "bench/cpu.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "engine/error.h"

namespace ish::cli {
namespace {

const char* kHelp =
    "usage: ishscale bench [--quick] [--iters N] [--no-models] [--no-kernels] [--deterministic] [--json FILE]\n"
    "       ishscale bench --pipeline [--images DIR|FILE]... [FILE...] [--threads N] [--repeat R] [--rounds K]\n"
    "                      [--resize S] [--crop C] [--no-baseline] [--baseline-script PY] [--python EXE] [--json FILE]\n"
    "       ishscale bench --cpu [--arch A] [--batch-size N] [--threads N] [--repeat R] [--warmup W] [--image-size S]\n"
    "                      [--no-train] [--no-eval] [--json FILE]\n"
    "GPU (CUDA builds only): ResNet-50 inference at batch 1/32/256 and a training step at batch 128 in fp32 and\n"
    "TF32 (img/s), then GB/s of every hand-written kernel against the device-to-device copy roof.\n"
    "--pipeline (any build): CPU read + decode + Resize + CenterCrop + normalise per image, next to\n"
    "PIL + torchvision (tools/pipeline_baseline.py) on the same files in the same run; the best of K rounds.\n"
    "--cpu (any build): eval forward and train step img/s and GFLOP/s on the CPU backend of --arch resnet18/34/\n"
    "50/101/152, vit_b_16/b_32/l_16/l_32/h_14 (--image-size 224 only) or swin_t/s/b; make bench-cpu runs it beside\n"
    "PyTorch (tools/torch_cpu_baseline.py) and prints the ratio table.\n";

}  // namespace

int cmd_bench(int argc, char** argv) {
  if (wants_help(argc, argv)) {  // one help for the three modes
    std::fputs(kHelp, stdout);
    return 0;
  }
  for (int i = 0; i < argc; i++)  // bench --cpu parses its own flags (bench/cpu.h)
    if (!std::strcmp(argv[i], "--cpu")) return ish::bench::bench_cpu(argc, argv);
  Args a(argc, argv, {"--pipeline", "--no-baseline", "--quick", "--no-models", "--no-kernels", "--deterministic"});
  if (a.flag("--pipeline")) {
    bench::PipelineOptions o;
    o.threads = (int)a.get_int("--threads", o.threads);
    o.repeat = (int)a.get_int("--repeat", o.repeat);
    o.rounds = (int)a.get_int("--rounds", o.rounds);
    o.resize = (int)a.get_int("--resize", o.resize);
    o.crop = (int)a.get_int("--crop", o.crop);
    o.json = a.get("--json");
    o.baseline = !a.flag("--no-baseline");
    o.baseline_script = a.get("--baseline-script");
    o.python = a.get("--python", o.python);
    o.files = a.all("--images");
    for (const auto& p : a.positional()) o.files.push_back(p);
    a.finish();
    ISH_CHECK(o.threads >= 1 && o.threads <= 1024, "bench: --threads must be in [1, 1024], got ", o.threads);
    ISH_CHECK(o.repeat >= 1 && o.rounds >= 1, "bench: --repeat and --rounds must be >= 1");
    ISH_CHECK(o.crop >= 1 && o.resize >= 1, "bench: --resize and --crop must be >= 1");
    return bench::run_pipeline(o);
  }
  bench::GpuOptions o;
  o.json = a.get("--json");
  o.iters = (int)a.get_int("--iters", o.iters);
  o.quick = a.flag("--quick");
  o.models = !a.flag("--no-models");
  o.kernels = !a.flag("--no-kernels");
  o.deterministic = a.flag("--deterministic");
  ISH_CHECK(a.positional().empty(), "bench: unexpected argument '", a.positional().empty() ? "" : a.positional()[0],
            "' (image files go with --pipeline)");
  a.finish();
  ISH_CHECK(o.iters >= 1, "bench: --iters must be >= 1, got ", o.iters);
  return bench::run_gpu(o);
}

}  // namespace ish::cli
