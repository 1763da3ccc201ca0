// Small training setups shared by the Trainer tests: a narrow resnet18_cifar and random RGB bytes.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/rng.h"
#include "models/resnet.h"

namespace ish::test {

// resnet18_cifar at width 8 with 3 classes, initialised from `seed`.
inline models::ResNet tiny_resnet(uint64_t seed) {
  models::ResNetConfig rc = models::config_for("resnet18_cifar");
  rc.num_classes = 3;
  rc.width = 8;
  rc.seed = seed;
  return models::ResNet(rc, "resnet18_cifar");
}

// n HxW RGB images (HWC uint8), every byte uniform from Rng(seed).
inline std::vector<uint8_t> random_pixels(int64_t n, int64_t h, int64_t w, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint8_t> px((size_t)(n * h * w * 3));
  for (auto& v : px) v = (uint8_t)rng.below(256);
  return px;
}

}  // namespace ish::test
