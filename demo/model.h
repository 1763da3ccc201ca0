// The demo's models: a CIFAR-style ResNet (models/) on 28x28x1 input with 6 classes, trained by
// train/loop.h; feature extraction over in-memory image sets; and the network adapter ODIN needs.
#pragma once
#include <memory>
#include <string>

#include "demo/config.h"
#include "demo/data.h"
#include "eval/detectors.h"
#include "eval/features.h"
#include "models/resnet.h"
#include "train/data.h"
#include "train/loop.h"

namespace ish::demo {

constexpr int kIdClasses = 6;

// The process's user + system CPU seconds so far (the progress lines show them beside wall time).
double cpu_seconds();

// The demo's ResNet: config_for(c.arch) with width c.width, 6 classes, one input channel.
models::ResNet make_model(const DemoConfig& c, uint64_t seed);

// An ImageSet as a train::Dataset normalised with the ID mean/std (one channel).
std::unique_ptr<train::InMemoryDataset> as_dataset(const ImageSet& s, const DemoData& d, bool augment);

struct PhaseResult {
  std::string name;         // "ce_scratch", "ce_finetune", "ish_finetune"
  std::string weights;      // its checkpoint (model + optimizer, torchvision names)
  double seconds = 0;
  int64_t steps = 0;
  double final_loss = 0, train_acc = 0;
};

// Trains `model` (already on c.device) on d.train for `ph`: CE, or ISH when `ish`. Writes under dir.
PhaseResult train_phase(models::ResNet& model, const DemoData& d, const DemoConfig& c, const TrainPhase& ph,
                        bool ish, uint64_t seed, const std::string& name, const std::string& dir);

// Eval-mode forward over an image set: logits, pooled features, labels (-1 for OOD). CPU tensors.
eval::FeatureSet extract(models::ResNet& model, const ImageSet& s, const DemoData& d, int64_t batch);

// ODIN's view of the network (eval's NetGradNet) with the demo's one-channel normalisation std.
class DemoGradNet : public eval::NetGradNet {
 public:
  DemoGradNet(models::ResNet& m, double stdv) : eval::NetGradNet(m), std_(stdv) {}
  std::vector<double> input_std() const override { return {std_}; }
 private:
  double std_;
};

// Streams the normalised images of `s` (at most `limit` when >= 0) in batches, for ODIN.
eval::ImageStream image_stream(const ImageSet& s, const DemoData& d, int64_t batch, int64_t limit = -1);

}  // namespace ish::demo
