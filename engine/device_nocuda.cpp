// Device hooks for builds without CUDA: host copies work, anything on the GPU is refused.
#ifndef ISHSCALE_CUDA
#include <cstring>

#include "engine/device.h"
#include "engine/error.h"

namespace ish::dev {
bool cuda_available() { return false; }
std::string cuda_unavailable_reason() { return "this build has no CUDA (nvcc or cuDNN not found at build time, or CUDA=0)"; }
void* cuda_malloc(size_t) { fail("cannot allocate on cuda: ", cuda_unavailable_reason()); }
void cuda_free(void*, size_t) {}
void copy(void* dst, Device ddev, const void* src, Device sdev, size_t bytes) {
  ISH_CHECK(ddev == Device::CPU && sdev == Device::CPU, "cannot copy to or from cuda: ", cuda_unavailable_reason());
  if (bytes) std::memcpy(dst, src, bytes);
}
void memset0(void* p, Device dev, size_t bytes) {
  ISH_CHECK(dev == Device::CPU, "cannot touch cuda memory: ", cuda_unavailable_reason());
  if (bytes) std::memset(p, 0, bytes);
}
void synchronize() {}
}  // namespace ish::dev
#endif
