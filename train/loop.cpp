#include "train/loop.h"

namespace ish::train {

TrainResult train(models::ResNet& model, const Dataset& train_set, const Dataset* val_set, const TrainConfig& cfg,
                  const std::string& resume) {
  Trainer t(model, train_set, val_set, cfg, resume);
  return t.run();
}

}  // namespace ish::train
