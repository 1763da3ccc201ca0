// The configuration of a training run. Defaults follow OpenOOD's train_ish.yml (ISH fine-tuning of
// ResNet-50): 10 epochs, lr 0.003, momentum 0.9 with Nesterov, weight decay 5e-4 and 5e-5 for fc.
#pragma once
#include <cstdint>
#include <string>

namespace ish::train {

struct TrainConfig {
  std::string arch = "resnet50";
  std::string weights;  // initial weights (empty: random init)
  int64_t epochs = 10;
  int64_t batch_size = 128;  // per micro-batch
  int64_t accum = 1;         // micro-batches per optimizer step
  double lr = 0.003;
  double momentum = 0.9;
  bool nesterov = true;
  double wd = 5e-4;
  double wd_fc = 5e-5;  // fc.weight and fc.bias
  bool ish = false;
  std::string ish_strategy = "minksample_expscale";
  double ish_percentile = 0.85;
  uint64_t seed = 0;
  bool augment = true;
  bool shuffle = true;
  bool deterministic = false;
  bool strict = false;      // a corrupt training image aborts instead of being skipped
  int64_t max_steps = -1;   // stop once this many optimizer steps are done (-1: run every epoch)
  int64_t log_every = 50;   // a stdout line every N steps
  int64_t save_every = 500; // OUT/last.safetensors every N steps (and at every epoch end)
  std::string out;          // output directory (empty: no files)
  std::string device = "cpu";
  std::string train_list, val_list, data_root;
  int64_t image_size = 224;  // imglist training crop
  int prefetch = -1;         // decode the next micro-batch on a host thread: 1 on, 0 off, -1 on for cuda
  std::string tf32 = "on";   // --tf32 on|off|all (engine/device_options.h), applied by the Trainer
  // Not part of the stored configuration:
  bool progress = true;      // progress lines on stderr (train/train_log.h)
};

std::string config_to_json(const TrainConfig& c);
// Reads the keys present (others keep their defaults). Throws ish::Error on malformed JSON.
TrainConfig config_from_json(const std::string& json, const std::string& source);

}  // namespace ish::train
