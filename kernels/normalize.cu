// uint8 NHWC (RGB) images -> float NHWC, (x/255 - mean[c]) / std[c], on the device, so only
// 1 byte per channel crosses PCIe. Each thread converts one pixel (3 bytes in, 12 bytes out).
#include "kernels/common.cuh"

namespace ish::cuda {
namespace {

struct Norm3 {
  float mean[3], std[3];
};

__global__ void normalize_u8_k(int64_t n_pixels, const uint8_t* __restrict__ in, Norm3 nm, float* __restrict__ out) {
  for (int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; p < n_pixels;
       p += (int64_t)gridDim.x * blockDim.x) {
#pragma unroll
    for (int c = 0; c < 3; c++) out[p * 3 + c] = ((float)in[p * 3 + c] / 255.f - nm.mean[c]) / nm.std[c];
  }
}

}  // namespace

void normalize_u8(int64_t n_pixels, const uint8_t* in, const float mean[3], const float std[3], float* out) {
  ISH_CHECK(n_pixels >= 0, "normalize on cuda: negative size");
  for (int c = 0; c < 3; c++) ISH_CHECK(std[c] != 0.f, "normalize on cuda: std[", c, "] is zero");
  if (n_pixels == 0) return;
  Norm3 nm;
  for (int c = 0; c < 3; c++) {
    nm.mean[c] = mean[c];
    nm.std[c] = std[c];
  }
  normalize_u8_k<<<grid_for(n_pixels, 256), 256, 0, stream()>>>(n_pixels, in, nm, out);
  CHECK_LAUNCH("normalize_u8");
}

}  // namespace ish::cuda
