#include "demo/config.h"

#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace ish::demo {

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
    // Sized for `make demo` in <= 10 minutes on 2 CPU cores, build included (see the README).
    c.seeds = 1;
    c.width = 16;
    c.sizes.train = 10000;
    c.sizes.id_val = 500;
    c.sizes.id_fit = 3000;
    c.sizes.id_test = 6000;
    c.sizes.near = 2000;
    c.sizes.letters = 1300;
    c.sizes.noise = 500;
    c.sizes.ood_val = 500;
    c.scratch = {2, 0.1};
    c.finetune = {1, 0.01};
    c.augment = false;  // 2 epochs are too few for augmentation to pay off
    c.odin_aps = false;
    c.odin_max = 500;
    c.cuts = {"1 seed instead of 3",
              "resnet18_cifar at width 16 instead of 64",
              "10,000 of the 35,000 ID training images; 2 scratch epochs instead of 15, 1 fine-tune epoch instead of 5; no augmentation",
              "OOD test sets subsampled: near 2,000 of 4,000, letters 1,300 of 2,600, noise 500 of 1,000; APS val sets 500 of 1,000 each; knn/vim/mds fit on 3,000 of 10,000 training images",
              "ODIN: default T=1000, eps=0.0014 without APS, on the first 500 images of each test set"};
    return c;
  }
  if (profile == "quick") {
    c.seeds = 1;
    c.width = 8;
    c.sizes.train = 512;
    c.sizes.id_val = 128;
    c.sizes.id_fit = 256;
    c.sizes.id_test = 192;
    c.sizes.near = 128;
    c.sizes.letters = 104;
    c.sizes.mnist = 100;
    c.sizes.noise = 64;
    c.sizes.ood_val = 64;
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
  j["scratch"] = {{"epochs", c.scratch.epochs}, {"lr", c.scratch.lr}};
  j["finetune"] = {{"epochs", c.finetune.epochs}, {"lr", c.finetune.lr}};
  j["ish"] = {{"strategy", c.ish_strategy}, {"percentile", c.ish_percentile}};
  j["odin_aps"] = c.odin_aps;
  j["odin_max_images"] = c.odin_max;
  j["sizes"] = {{"train", c.sizes.train},   {"id_val", c.sizes.id_val}, {"id_fit", c.sizes.id_fit},
                {"id_test", c.sizes.id_test}, {"near", c.sizes.near},   {"letters", c.sizes.letters},
                {"mnist", c.sizes.mnist},   {"noise", c.sizes.noise},   {"ood_val", c.sizes.ood_val}};
  return j.dump();
}

std::string describe(const DemoConfig& c) {
  return str("  model: ", c.arch, " width ", c.width, " (1x28x28 input, 6 classes), batch ", c.batch_size,
             c.augment ? ", mild crop+flip augmentation" : "", "\n  training: CE from scratch ", c.scratch.epochs,
             " epoch(s) at lr ", c.scratch.lr, "; CE and ISH (", c.ish_strategy, ", p=", c.ish_percentile,
             ") fine-tunes ", c.finetune.epochs, " epoch(s) at lr ", c.finetune.lr, "; ", c.seeds, " seed(s)\n");
}

}  // namespace ish::demo
