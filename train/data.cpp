#include "train/data.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/image/loader.h"

namespace ish::train {

bool Dataset::load(int64_t i, Rng* aug, float* out, std::string* why) const {
  img::Image im;
  try {
    read(i, im);
  } catch (const Error& e) {
    if (why) *why = e.what();
    return false;
  }
  std::vector<uint8_t> buf;
  img::transform_one(im, transform, aug, img::PixelFormat::F32, img::NormLut(transform.norm), buf, out);
  return true;
}

int64_t Dataset::max_label() const {
  int64_t m = 0;
  for (int64_t i = 0; i < size(); i++) m = std::max(m, label(i));
  return m;
}

InMemoryDataset::InMemoryDataset(std::vector<uint8_t> images, std::vector<int64_t> labels, int64_t H, int64_t W,
                                 int64_t C, std::vector<float> mean, std::vector<float> stdv, std::string name)
    : SourceDataset(
          img::MemorySource(std::move(images), std::move(labels), (int)H, (int)W, (int)C, std::move(name))) {
  ISH_CHECK(H == W, src_.describe(), ": in-memory images must be square (got ", H, "x", W, ")");
  ISH_CHECK((int64_t)mean.size() == C && (int64_t)stdv.size() == C, src_.describe(), ": mean/std need ", C,
            " values");
  transform.resize = 0;  // eval: the image as it is
  transform.crop = (int)H;
  transform.norm.channels = (int)C;
  for (int64_t c = 0; c < C; c++) {
    ISH_CHECK(stdv[c] > 0, src_.describe(), ": std must be positive");
    transform.norm.mean[c] = mean[c];
    transform.norm.std[c] = stdv[c];
  }
}

}  // namespace ish::train
