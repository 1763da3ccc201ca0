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
// run(), unless a non-finite loss stopped it), summary.csv (one row per epoch). Every checkpoint's
// metadata describes the model and its eval input (train/checkpoint.h).
//
// No host sync per step: labels are range-checked on the host before their upload, and the loss sum,
// the correct count and the first step with a non-finite loss accumulate on the device
// (ops::train_stats_). They are read back (one sync) at each logging interval, at each epoch end and
// before every checkpoint write. A non-finite loss at step k therefore stops the run at the first such
// read, before anything from step k on reaches a file, with an ish::Error (exit 2) that names step k
// and the checkpoint holding the last good state (or says that none was written).
// Console output: train/train_log.h (a stdout line per logging interval, progress with ETAs on stderr).
#pragma once
#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/image/loader.h"
#include "models/resnet.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/data.h"
#include "train/schedule.h"
#include "train/sgd.h"
#include "train/train_log.h"

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
  // The latest logging interval's report (step 0 until the first one).
  const LogRecord& last_log() const { return last_log_; }

 private:
  using Clock = std::chrono::steady_clock;
  using Stats = std::array<double, 4>;  // ops::TrainStat order
  void begin_epoch();
  // The device statistics (one sync); throws (exit 2) if a loss so far was not finite.
  Stats read_stats();
  [[noreturn]] void stop_non_finite(const Stats& s) const;
  // Every checkpoint goes through here: the non-finite check first, then the atomic write.
  void write_checkpoint(const std::string& path, bool with_optimizer, const CheckpointMeta& meta);
  void log_interval(double lr);
  void show_progress();
  int64_t run_steps() const;  // the step this run stops at (all epochs, or cfg.max_steps)
  double sec_per_step() const;
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
  std::string good_path_;   // the newest checkpoint known to hold a finite state ("" when none)
  int64_t good_step_ = -1;  // its step
  std::FILE* csv_ = nullptr;
  std::unique_ptr<img::Loader> loader_;  // the current epoch's batches
  // The current epoch's running totals: samples counted on the host, the rest on the device (stats_,
  // totals since the trainer started; at_epoch_ / at_log_ hold their values at the epoch's start and
  // at the last log line).
  EpochSummary es_;
  Tensor stats_;
  Stats at_epoch_{}, at_log_{};
  int64_t seen_ = 0, imgs_log_ = 0, imgs_progress_ = 0;
  Clock::time_point t_epoch_, t_log_, t_progress_;
  double step_seconds_ = 0;  // time spent in step() by this process, for the ETAs
  int64_t steps_run_ = 0;
  LogRecord last_log_;
  ProgressReporter progress_;
};

// Top-1 accuracy (percent) of the model in eval mode over a dataset (its eval transform).
double evaluate_top1(models::ResNet& model, const Dataset& ds, int64_t batch_size, Device dev, int threads = 0);

}  // namespace ish::train
