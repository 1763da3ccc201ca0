// train::train: a whole run with the Trainer (train/trainer.h), for callers that need no step control.
#pragma once
#include <string>

#include "train/trainer.h"

namespace ish::train {

TrainResult train(models::ResNet& model, const Dataset& train_set, const Dataset* val_set, const TrainConfig& cfg,
                  const std::string& resume = "");

}  // namespace ish::train
