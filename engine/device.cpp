// engine/device.h: host memory directly, device memory through the registered backend.
#include "engine/device.h"

#include <cstring>

#include "engine/backend.h"

namespace ish::dev {
namespace {
const char* kNoCuda = "this build has no CUDA (nvcc or cuDNN not found at build time, or CUDA=0)";
Backend& cuda_or_fail(const char* what) {
  Backend* b = find_backend(Device::CUDA);
  ISH_CHECK(b, what, ": ", kNoCuda);
  return *b;
}
}  // namespace

bool cuda_available() {
  Backend* b = find_backend(Device::CUDA);
  return b && b->available();
}
std::string cuda_unavailable_reason() {
  Backend* b = find_backend(Device::CUDA);
  return b ? b->unavailable_reason() : std::string(kNoCuda);
}

void* cuda_malloc(size_t bytes) { return cuda_or_fail("cannot allocate on cuda").alloc(bytes); }
void cuda_free(void* p, size_t bytes) { cuda_or_fail("cannot free cuda memory").free(p, bytes); }

void copy(void* dst, Device ddev, const void* src, Device sdev, size_t bytes) {
  if (ddev == Device::CPU && sdev == Device::CPU) {
    if (bytes) std::memcpy(dst, src, bytes);
    return;
  }
  cuda_or_fail("cannot copy to or from cuda").copy(dst, ddev, src, sdev, bytes);
}

void memset0(void* p, Device dev, size_t bytes) {
  if (dev == Device::CPU) {
    if (bytes) std::memset(p, 0, bytes);
    return;
  }
  cuda_or_fail("cannot touch cuda memory").memset0(p, bytes);
}

void synchronize() {
  if (Backend* b = find_backend(Device::CUDA)) b->synchronize();
}

}  // namespace ish::dev
