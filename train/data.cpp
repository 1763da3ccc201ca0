#include "train/data.h"

#include "engine/error.h"

namespace ish::train {

InMemoryDataset::InMemoryDataset(std::vector<uint8_t> images, std::vector<int64_t> labels, int64_t H, int64_t W,
                                 int64_t C, std::vector<float> mean, std::vector<float> stdv, std::string name)
    : images_(std::move(images)), labels_(std::move(labels)), H_(H), W_(W), C_(C), mean_(std::move(mean)),
      std_(std::move(stdv)), name_(std::move(name)) {
  ISH_CHECK(H > 0 && W > 0 && C > 0, name_, ": bad image size ", H, "x", W, "x", C);
  ISH_CHECK((int64_t)images_.size() == (int64_t)labels_.size() * H * W * C, name_, ": ", images_.size(),
            " image bytes for ", labels_.size(), " labels of ", H, "x", W, "x", C);
  ISH_CHECK((int64_t)mean_.size() == C && (int64_t)std_.size() == C, name_, ": mean/std need ", C, " values");
  for (float s : std_) ISH_CHECK(s > 0, name_, ": std must be positive");
}

bool InMemoryDataset::load(int64_t i, Rng* aug, float* out, std::string*) const {
  ISH_ASSERT(i >= 0 && i < size());
  const uint8_t* img = images_.data() + i * H_ * W_ * C_;
  if (aug)
    augment_sample(img, H_, W_, C_, H_, W_, aug_options, *aug, mean_.data(), std_.data(), out);
  else
    resize_crop_normalize(img, H_, W_, C_, {0, 0, H_, W_}, H_, W_, false, mean_.data(), std_.data(), out);
  return true;
}

static uint64_t mix(uint64_t a, uint64_t b) {
  // splitmix64 of a combined word: decorrelates nearby (seed, epoch, index) triples.
  uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; i++) order[i] = i;
  if (!shuffle) return order;
  Rng rng(mix(mix(seed, 0x5348554646ULL), (uint64_t)epoch));
  for (int64_t i = n - 1; i > 0; i--) std::swap(order[i], order[(int64_t)rng.below((uint64_t)i + 1)]);
  return order;
}

Rng sample_rng(uint64_t seed, int64_t epoch, int64_t position) {
  return Rng(mix(mix(mix(seed, 0x415547ULL), (uint64_t)epoch), (uint64_t)position));
}

}  // namespace ish::train
