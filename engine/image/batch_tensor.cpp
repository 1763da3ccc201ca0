// Loader batch -> model input tensor (see batch_tensor.h).
#include "engine/image/batch_tensor.h"

#include <cstring>

#include "engine/error.h"

namespace ish::img {

// F32 until ops::normalize_u8 exists; then: dev == Device::CPU ? F32 : U8.
PixelFormat input_format(Device) { return PixelFormat::F32; }

Tensor batch_tensor(const Batch& b, const Transform& t, Device dev) {
  ISH_ASSERT(b.n >= 1 && b.c == t.channels());
  Tensor x = Tensor::empty({b.n, b.h, b.w, b.c});
  const size_t npix = (size_t)b.n * b.h * b.w;
  if (b.format == PixelFormat::F32) {
    std::memcpy(x.raw(), b.data, x.nbytes());
  } else {
    // The device-normalisation path. TODO(dispatch): upload b.u8() and call ops::normalize_u8 there.
    const NormLut lut(t.norm);
    float* out = x.data<float>();
    const int C = b.c;
    for (size_t i = 0; i < npix; i++)
      for (int c = 0; c < C; c++) out[i * C + c] = lut.v[c][b.u8()[i * C + c]];
  }
  return dev == Device::CPU ? x : x.to(dev);
}

}  // namespace ish::img
