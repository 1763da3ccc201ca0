// The demo's configuration: what is trained and evaluated, at which sizes. Three profiles:
//   full  (a GPU is present): resnet18_cifar at width 64, every ID training image, 3 seeds;
//   cpu   (the default without a GPU): 3 seeds sized to finish `make demo` in <= 12 minutes on 2 cores,
//         build included;
//   quick (--quick, for tests): seconds; numbers are meaningless.
// `cuts` lists, in words, what a profile gives up against `full`.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "demo/data.h"

namespace ish::demo {

struct TrainPhase {
  int64_t epochs = 1;
  double lr = 0.1;
  int64_t images = -1;  // the first `images` of the (shuffled) ID training set; -1: all of it
};

struct DemoConfig {
  std::string profile = "full";
  std::string out = "build/demo";
  std::string device = "cpu";  // "cpu" | "cuda"
  DataPaths paths;
  DemoSizes sizes;
  uint64_t data_seed = 0;      // the splits (the same for every training seed)
  int seeds = 3;               // training seeds 0..seeds-1
  std::string arch = "resnet18_cifar";
  int width = 64;              // stem width of the ResNet
  int64_t batch_size = 128;
  bool augment = true;         // mild RandomResizedCrop + flip (see demo_model.cpp)
  TrainPhase scratch{15, 0.1};    // CE from scratch
  TrainPhase finetune{5, 0.01};   // CE and ISH fine-tunes of the scratch model (same schedule)
  double ish_percentile = 0.85;
  std::string ish_strategy = "minksample_expscale";
  bool odin_aps = true;        // ODIN's 8-point APS grid needs a forward+backward per point
  int64_t odin_max = -1;       // ODIN scores at most this many images per test set (-1: all, 0: ODIN not run)
  int64_t eval_batch = 256;
  int threads = 0;             // CPU threads; 0: every core, or 1 when the machine is already busy
  std::vector<std::string> cuts;  // what this profile gives up against `full`
};

// profile: "full", "cpu" or "quick". The device is set by the caller.
DemoConfig demo_profile(const std::string& profile);

// The configuration as JSON (for results.json) and as a few printable lines.
std::string config_json(const DemoConfig& c);
std::string describe(const DemoConfig& c);

}  // namespace ish::demo
