// Device memory and settings for the engine and its callers, whatever the build: host work is
// done here, anything on cuda goes to the registered CUDA backend (engine/backend.h). A build
// without one reports cuda_available() false and refuses cuda memory with a one-line error.
// TF32 and determinism are engine/device_options.h.
#pragma once
#include <cstddef>
#include <string>

#include "engine/dtype.h"

namespace ish::dev {
bool cuda_available();                // a CUDA device exists and the build has CUDA
std::string cuda_unavailable_reason();  // why not, for skipped GPU tests and --device errors
void* cuda_malloc(size_t bytes);      // from the caching allocator
void cuda_free(void* p, size_t bytes);
// Copies between any two devices, in the order of the device's stream. Host memory is safe to read or
// reuse when it returns: a copy to the host waits for it; device-to-device and host-to-device copies
// from ordinary (pageable) memory do not wait for the device.
void copy(void* dst, Device ddev, const void* src, Device sdev, size_t bytes);
void memset0(void* p, Device dev, size_t bytes);
void synchronize();  // waits for all queued device work (no-op without a device)
}  // namespace ish::dev
