// Sample sources for the loader (see source.h).
#include "engine/image/source.h"

#include <cstring>

#include "engine/error.h"

namespace ish::img {

MemorySource::MemorySource(std::vector<uint8_t> pixels, std::vector<int64_t> labels, int h, int w, int c,
                           std::string name)
    : px_(std::move(pixels)), labels_(std::move(labels)), h_(h), w_(w), c_(c), name_(std::move(name)) {
  ISH_CHECK(h > 0 && w > 0 && (c == 1 || c == 3), name_, ": bad image size ", h, "x", w, "x", c,
            " (1 or 3 channels)");
  ISH_CHECK((int64_t)px_.size() == (int64_t)labels_.size() * h * w * c, name_, ": ", px_.size(),
            " image bytes for ", labels_.size(), " labels of ", h, "x", w, "x", c);
}

void MemorySource::read(int64_t i, Image& out) const {
  ISH_ASSERT(i >= 0 && i < size());
  const size_t npix = (size_t)h_ * w_;
  const uint8_t* p = px_.data() + (size_t)i * npix * c_;
  out.w = w_;
  out.h = h_;
  out.px.resize(npix * 3);
  if (c_ == 3) {
    std::memcpy(out.px.data(), p, npix * 3);
    return;
  }
  for (size_t k = 0; k < npix; k++) out.px[3 * k] = out.px[3 * k + 1] = out.px[3 * k + 2] = p[k];
}

std::string MemorySource::where(int64_t i) const { return str(name_, "[", i, "]"); }

}  // namespace ish::img
