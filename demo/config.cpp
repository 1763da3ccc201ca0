#include "demo/config.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace ish::demo {

namespace {
// The reduced profiles' set sizes, in DemoSizes' field order (demo/data.h).
//                               train id_val id_fit id_test  near mnist letters noise ood_val
constexpr DemoSizes kCpuSizes{    6000,   300,  1200,   1500, 1000, 1000,    520,  300,    300};
constexpr DemoSizes kQuickSizes{   512,   128,   256,    192,  128,  100,    104,   64,     64};
}  // namespace

DemoConfig demo_profile(const std::string& profile) {
  DemoConfig c;
  c.profile = profile;
  if (profile == "full") {
    c.sizes.train = 1 << 30;  // every ID training image not held out (35,000)
    c.sizes.id_fit = 10000;
    c.scratch = {15, 0.1};
    c.finetune = {5, 0.01};
    return c;
  }
  if (profile == "cpu") {
    // Three seeds sized for `make demo` in <= 12 minutes on 2 CPU cores, build included (see the README):
    // about 750 CPU seconds for the run, two thirds of it training.
    c.seeds = 3;
    c.width = 16;
    c.batch_size = 64;  // twice the steps of 128 for the same images: better accuracy after 2 epochs
    c.sizes = kCpuSizes;
    c.scratch = {2, 0.1};
    c.finetune = {1, 0.01, 3000};
    c.augment = false;  // 2 epochs are too few for augmentation to pay off
    c.odin_aps = false;
    c.odin_max = 0;     // ODIN not run (see its cut)
    c.cuts = {"resnet18_cifar at width 16 instead of 64, batch 64",
              "6,000 of the 35,000 ID training images; 2 scratch epochs instead of 15; fine-tunes 1 epoch of 3,000 images "
              "instead of 5 epochs of all; no augmentation",
              "test sets subsampled: ID 1,500 of 6,000, near 1,000 of 4,000, mnist 1,000 of 10,000, letters 520 of 2,600, "
              "noise 300 of 1,000; APS val sets 300 of 1,000 each; knn/vim/mds fit on 1,200 of 10,000 training images",
              "ODIN not run (a forward and a backward per image and grid point; use ishscale eval)"};
    return c;
  }
  if (profile == "quick") {
    c.seeds = 1;
    c.width = 8;
    c.sizes = kQuickSizes;
    c.batch_size = 64;
    c.augment = false;
    c.scratch = {1, 0.05};
    c.finetune = {1, 0.01};
    c.odin_aps = false;
    c.odin_max = 64;
    c.eval_batch = 128;
    c.cuts = {"--quick: a smoke-test configuration; the numbers mean nothing"};
    return c;
  }
  fail("unknown demo profile '", profile, "' (known: full, cpu, quick)");
}

std::string config_json(const DemoConfig& c) {
  nlohmann::ordered_json j;
  j["profile"] = c.profile;
  j["device"] = c.device;
  j["arch"] = c.arch;
  j["width"] = c.width;
  j["in_channels"] = 1;
  j["num_classes"] = 6;
  j["seeds"] = c.seeds;
  j["data_seed"] = c.data_seed;
  j["batch_size"] = c.batch_size;
  j["augment"] = c.augment;
  j["optimizer"] = "SGD momentum 0.9 Nesterov, wd 5e-4 (fc 5e-5), per-step cosine to 1e-6";
  j["scratch"] = {{"epochs", c.scratch.epochs}, {"lr", c.scratch.lr}, {"images", c.scratch.images}};
  j["finetune"] = {{"epochs", c.finetune.epochs}, {"lr", c.finetune.lr}, {"images", c.finetune.images}};
  j["ish"] = {{"strategy", c.ish_strategy}, {"percentile", c.ish_percentile}};
  j["odin_aps"] = c.odin_aps;
  j["odin_max_images"] = c.odin_max;
  j["sizes"] = {{"train", c.sizes.train},   {"id_val", c.sizes.id_val}, {"id_fit", c.sizes.id_fit},
                {"id_test", c.sizes.id_test}, {"near", c.sizes.near},   {"letters", c.sizes.letters},
                {"mnist", c.sizes.mnist},   {"noise", c.sizes.noise},   {"ood_val", c.sizes.ood_val}};
  return j.dump();
}

namespace {
// "N images" of a phase, or "every ID training image" when it is not limited.
std::string phase_images(const DemoConfig& c, const TrainPhase& ph) {
  const int64_t n = ph.images < 0 ? c.sizes.train : std::min(ph.images, c.sizes.train);
  return n >= (1 << 30) ? std::string("every ID training image") : str(n, " images");
}
}  // namespace

std::string describe(const DemoConfig& c) {
  return str("  model: ", c.arch, " width ", c.width, " (1x28x28 input, 6 classes), batch ", c.batch_size,
             c.augment ? ", mild crop+flip augmentation" : "", "\n  training: CE from scratch ", c.scratch.epochs,
             " epoch(s) of ", phase_images(c, c.scratch), " at lr ", c.scratch.lr, "; CE and ISH (", c.ish_strategy,
             ", p=", c.ish_percentile, ") fine-tunes ", c.finetune.epochs, " epoch(s) of ", phase_images(c, c.finetune),
             " at lr ", c.finetune.lr, "; ", c.seeds, " seed(s)\n");
}

}  // namespace ish::demo
