// Training checkpoints: one safetensors file holding
//   - the model in torchvision names and layout (loadable by `ishscale classify` and by PyTorch),
//   - the optimizer's momentum buffers as "optim.<param>.momentum_buffer" (conv buffers in KCRS, like
//     their weights),
//   - __metadata__: format, step, epoch, step_in_epoch, epoch_seed, rng (Rng::state()), best_acc,
//     config (JSON), tf32 (the --tf32 setting in force when it was written: on|off|all), and the
//     model's description (models/model_meta.h: arch, width, in_channels, num_classes, image_size,
//     resize) so other commands rebuild it without flags.
// Writes are atomic (st::save: PATH.tmp, fsync, rename, fsync of the directory), so a kill at any
// moment leaves the previous file intact.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "models/resnet.h"
#include "train/sgd.h"

namespace ish::train {

struct CheckpointMeta {
  int64_t step = 0;           // optimizer steps completed
  int64_t epoch = 0;          // 0-based epoch the next step belongs to (or the one just finished)
  int64_t step_in_epoch = 0;  // optimizer steps completed within `epoch`
  uint64_t epoch_seed = 0;    // data seed of `epoch` (shuffle and augmentation)
  std::string rng;            // the loop Rng's state after drawing epoch_seed
  double best_acc = -1;       // best validation top-1 so far (-1: none)
  std::string config;         // the run's configuration, JSON
  int64_t image_size = 0;     // the eval input the model was validated with: centre crop (0: unknown)
  int64_t resize = -1;        // and the resize before it (0: none; -1: unknown)
};

// What a checkpoint file holds (CPU tensors in file layout, and the metadata strings).
struct CheckpointData {
  NamedTensors tensors;
  std::map<std::string, std::string> metadata;
};
CheckpointData checkpoint_data(models::ResNet& model, const SGD* opt, const CheckpointMeta& meta);
void save_checkpoint(const std::string& path, models::ResNet& model, const SGD* opt, const CheckpointMeta& meta);

// Validates the file (st::File::open), then reads the metadata. Throws ish::Error naming the file.
CheckpointMeta read_checkpoint_meta(const std::string& path);
// Loads the model (strict) and, when opt is given, the momentum buffers; returns the metadata.
// Nothing is changed if any check fails.
CheckpointMeta load_checkpoint(const std::string& path, models::ResNet& model, SGD* opt);

}  // namespace ish::train
