// Loader batch -> model input tensor (see batch_tensor.h).
#include "engine/image/batch_tensor.h"

#include <cstring>

#include "engine/error.h"
#include "engine/ops.h"

namespace ish::img {

// Host models take normalised floats; device models take the bytes (a quarter of the upload) and
// normalise there (ops::normalize_u8).
PixelFormat input_format(Device dev) { return dev == Device::CPU ? PixelFormat::F32 : PixelFormat::U8; }

Tensor batch_tensor(const Batch& b, const Transform& t, Device dev) {
  ISH_ASSERT(b.n >= 1 && b.c == t.channels());
  const Shape shape{b.n, b.h, b.w, b.c};
  if (b.format == PixelFormat::U8 && b.c == 3 && dev != Device::CPU) {  // bytes up, normalised on the device
    Tensor u = Tensor::empty(shape, DType::U8);
    std::memcpy(u.raw(), b.data, u.nbytes());
    return ops::normalize_u8(u.to(dev), {t.norm.mean[0], t.norm.mean[1], t.norm.mean[2]},
                             {t.norm.std[0], t.norm.std[1], t.norm.std[2]});
  }
  Tensor x = Tensor::empty(shape);
  const size_t npix = (size_t)b.n * b.h * b.w;
  if (b.format == PixelFormat::F32) {
    std::memcpy(x.raw(), b.data, x.nbytes());
  } else {  // U8 for a host model, or one channel: the same values through the table
    const NormLut lut(t.norm);
    float* out = x.data<float>();
    const int C = b.c;
    for (size_t i = 0; i < npix; i++)
      for (int c = 0; c < C; c++) out[i * C + c] = lut.v[c][b.u8()[i * C + c]];
  }
  return dev == Device::CPU ? x : x.to(dev);
}

}  // namespace ish::img
