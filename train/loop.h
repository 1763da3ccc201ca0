// The training loop as a library function (used by `ishscale train` and `ishscale demo`).
//
// Per optimizer step s (0-based): lr = base lr * cosine factor(s) (train/schedule.h); `accum`
// micro-batches of `batch_size` samples each run forward + CE + backward (each micro-batch's mean loss
// weighted by its share of the step's samples, so the gradient is that of the whole step's mean);
// then SGD (train/sgd.h: group 0 = every parameter but fc, wd; group 1 = fc.weight and fc.bias, wd_fc).
// With ISH the model's fc weight gradient comes from train/ish.h's shaped features.
//
// Data: epoch e draws its seed from the loop Rng; the sample order (shuffled when asked) and every
// sample's augmentation depend only on that seed and the sample's position, so a resumed run sees the
// same batches. A final micro-batch of one sample is dropped (train-mode BatchNorm needs two).
//
// Outputs under cfg.out: last.safetensors (every save_every steps, at each epoch end and at a
// --steps stop), best.safetensors (best validation top-1; the model without optimizer state, so it loads
// strictly anywhere a torchvision state dict does), summary.csv (one row per epoch).
// A NaN/Inf loss stops the run with an ish::Error naming the step; the last checkpoint is untouched.
#pragma once
#include <string>
#include <vector>

#include "models/resnet.h"
#include "train/config.h"
#include "train/data.h"

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
  std::vector<EpochSummary> epochs;  // epochs completed by this call
};

// model: created (and initialised or loaded) by the caller, on cfg.device. val may be null.
// resume: a checkpoint path (usually OUT/last.safetensors) to continue from, or empty.
TrainResult train(models::ResNet& model, const Dataset& train_set, const Dataset* val_set, const TrainConfig& cfg,
                  const std::string& resume = "");

// Top-1 accuracy (percent) of the model in eval mode over a dataset.
double evaluate_top1(models::ResNet& model, const Dataset& ds, int64_t batch_size, Device dev);

}  // namespace ish::train
