// The training loop as a small class, used by `ishscale train`, the demo and train::train (loop.h).
//
// Per optimizer step s (0-based): lr = base lr * cosine factor(s) (train/schedule.h); `accum`
// micro-batches of `batch_size` samples each run forward + CE + backward (each micro-batch's mean loss
// weighted by its share of the step's samples, so the gradient is that of the whole step's mean);
// then SGD (train/sgd.h: group 0 = every parameter but fc, wd; group 1 = fc.weight and fc.bias, wd_fc).
// With ISH the model's fc weight gradient comes from train/ish.h's shaped features.
//
// Data: one img::Loader per epoch over the dataset's img::Source with its img::Transform (training
// augmentation when cfg.augment). Epoch e draws its seed from the trainer's Rng; the sample order
// (shuffled when asked) and every sample's augmentation depend only on that seed, so a resumed run sees
// the same batches. A final micro-batch of one sample is dropped (train-mode BatchNorm needs two).
//
// Outputs under cfg.out: last.safetensors (every save_every steps, at each epoch end and at a
// --steps stop), best.safetensors (best validation top-1; the model without optimizer state, so it loads
// strictly anywhere a torchvision state dict does), final.safetensors (the model alone at the end of
// run(), however it ended), summary.csv (one row per epoch). Every checkpoint's metadata describes the
// model and its eval input (train/checkpoint.h).
// A NaN/Inf loss stops the run with an ish::Error naming the step; the last checkpoint is untouched.
#pragma once
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/image/loader.h"
#include "models/resnet.h"
#include "train/config.h"
#include "train/data.h"
#include "train/schedule.h"
#include "train/sgd.h"

namespace ish::train {

struct EpochSummary {
  int64_t epoch = 0;  // 1-based
  int64_t step = 0;   // optimizer steps done at its end
  double train_loss = 0, train_acc = 0, val_acc = -1, lr = 0, img_per_s = 0, seconds = 0;
  int64_t skipped = 0;  // unreadable training samples
};

struct TrainResult {
  int64_t steps = 0;       // optimizer steps done in total
  bool finished = false;   // every epoch done (false: stopped by max_steps)
  double best_acc = -1, last_acc = -1;
  std::vector<EpochSummary> epochs;  // epochs completed by this trainer
};

class Trainer {
 public:
  // model: created (and initialised or loaded) by the caller, on cfg.device. val may be null.
  // resume: a checkpoint (usually OUT/last.safetensors) to continue from, or empty.
  // threads: the cores the data loader may use (0: all; see img::set_threads).
  Trainer(models::ResNet& model, const Dataset& train_set, const Dataset* val_set, const TrainConfig& cfg,
          const std::string& resume = "", int threads = 0);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  bool done() const;  // every epoch done, or cfg.max_steps reached
  // One optimizer step; returns true when it completed an epoch (then call end_epoch()).
  bool step();
  // Validation, checkpoints and the summary row of the epoch just completed.
  EpochSummary end_epoch();
  // OUT/last.safetensors at the current position (no-op without cfg.out).
  void save();
  // step() until done(), end_epoch() at each epoch end.
  TrainResult run();
  int64_t steps_done() const { return step_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }

 private:
  using Clock = std::chrono::steady_clock;
  void begin_epoch();
  models::ResNet& model_;
  const Dataset& train_set_;
  const Dataset* val_set_;
  TrainConfig cfg_;
  Device dev_;
  int threads_;
  int64_t n_used_ = 0, per_step_ = 0, steps_per_epoch_ = 0, total_steps_ = 0;
  CosineLR sched_;
  std::unique_ptr<SGD> opt_;
  Rng rng_;
  int64_t step_ = 0, epoch_ = 0, s_in_ = 0;  // s_in_: steps done in epoch_
  uint64_t epoch_seed_ = 0;
  bool have_epoch_seed_ = false;
  double best_ = -1, last_acc_ = -1;
  std::string last_path_, best_path_, config_json_;
  std::FILE* csv_ = nullptr;
  std::unique_ptr<img::Loader> loader_;  // the current epoch's batches
  // The current epoch's running totals.
  EpochSummary es_;
  double loss_sum_ = 0;
  int64_t seen_ = 0, correct_ = 0, imgs_log_ = 0;
  Clock::time_point t_epoch_, t_log_;
};

// Top-1 accuracy (percent) of the model in eval mode over a dataset (its eval transform).
double evaluate_top1(models::ResNet& model, const Dataset& ds, int64_t batch_size, Device dev, int threads = 0);

}  // namespace ish::train
