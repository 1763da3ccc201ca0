// The seam between the engine and the CUDA backend. Without CUDA (engine/device_nocuda.cpp)
// cuda_available() is false and every device call throws a clear error.
#pragma once
#include <cstddef>
#include <string>

#include "engine/dtype.h"

namespace ish::dev {
bool cuda_available();                // a CUDA device exists and the build has CUDA
std::string cuda_unavailable_reason();  // why not, for skipped GPU tests
void* cuda_malloc(size_t bytes);      // from the caching allocator
void cuda_free(void* p, size_t bytes);
// Copies between any two devices (synchronous with respect to the host).
void copy(void* dst, Device ddev, const void* src, Device sdev, size_t bytes);
void memset0(void* p, Device dev, size_t bytes);
void synchronize();
}  // namespace ish::dev
