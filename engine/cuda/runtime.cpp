// The CUDA side of engine/device.h, the stream, library handles, options and error reporting.
#ifdef ISHSCALE_CUDA
#include "engine/cuda/runtime.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "engine/cuda/backend.h"
#include "engine/cuda/libs.h"
#include "engine/device.h"

namespace ish::cuda {

[[noreturn]] void throw_cuda(const char* call, const char* file, int line, const std::string& msg) {
  throw Error(str(file, ":", line, ": ", call, " failed: ", msg), 3);
}

Failure classify(cudaError_t e) {
  switch (e) {
    case cudaErrorMemoryAllocation:
      return Failure::OutOfMemory;
    // Errors a faulting kernel leaves behind: the context is unusable from then on.
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorAssert:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
      return Failure::KernelFault;
    default:
      return Failure::Other;
  }
}

[[noreturn]] void throw_cuda_error(const char* call, const char* file, int line, cudaError_t e) {
  std::string msg = cudaGetErrorString(e);
  if (classify(e) == Failure::KernelFault) msg += str("; ", fault_hint(last_launch(), sync_each_launch()));
  throw_cuda(call, file, line, msg);
}

namespace {
std::atomic<const char*> g_launch_name{nullptr}, g_launch_file{nullptr};
std::atomic<int> g_launch_line{0};
}  // namespace

void note_launch(const char* name, const char* file, int line) {
  g_launch_name.store(name, std::memory_order_relaxed);
  g_launch_file.store(file, std::memory_order_relaxed);
  g_launch_line.store(line, std::memory_order_relaxed);
}

std::string last_launch() {
  const char* n = g_launch_name.load(std::memory_order_relaxed);
  if (!n) return "";
  const char* f = g_launch_file.load(std::memory_order_relaxed);
  return str(n, " (", f ? f : "?", ":", g_launch_line.load(std::memory_order_relaxed), ")");
}

cudaStream_t stream() {
  // A blocking stream (it orders with the legacy default stream), created once.
  static cudaStream_t s = [] {
    cudaStream_t t = nullptr;
    CUDA_CHECK(cudaStreamCreate(&t));
    return t;
  }();
  return s;
}

bool sync_each_launch() {
  static const bool on = [] {
    const char* v = std::getenv("ISHSCALE_SYNC");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  return on;
}

void check_launch(const char* kernel, const char* file, int line) {
  note_launch(kernel, file, line);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw_cuda_error(str("launch of ", kernel).c_str(), file, line, e);
  if (sync_each_launch()) {
    e = cudaStreamSynchronize(stream());
    if (e != cudaSuccess) throw_cuda_error(str("kernel ", kernel, " (ISHSCALE_SYNC)").c_str(), file, line, e);
  }
}

void library_launched(const char* what, const char* file, int line) {
  note_launch(what, file, line);
  if (sync_each_launch()) {
    cudaError_t e = cudaStreamSynchronize(stream());
    if (e != cudaSuccess) throw_cuda_error(str(what, " (ISHSCALE_SYNC)").c_str(), file, line, e);
  }
}

int sm_count() {
  static const int n = [] {
    int dev = 0, v = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev));
    return v > 0 ? v : 1;
  }();
  return n;
}

int grid_for(int64_t n, int block) {
  int64_t g = ceil_div(n, block), cap = (int64_t)sm_count() * 16;
  if (g > cap) g = cap;
  return (int)(g < 1 ? 1 : g);
}

const char* cublas_status_name(cublasStatus_t s) { return cublasGetStatusString(s); }

cudnnHandle_t cudnn() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t t = nullptr;
    CUDNN_CHECK(cudnnCreate(&t));
    CUDNN_CHECK(cudnnSetStream(t, stream()));
    return t;
  }();
  return h;
}

cublasHandle_t cublas() {
  static cublasHandle_t h = [] {
    cublasHandle_t t = nullptr;
    CUBLAS_CHECK(cublasCreate(&t));
    CUBLAS_CHECK(cublasSetStream(t, stream()));
    return t;
  }();
  return h;
}

namespace {
struct Workspace {
  void* p = nullptr;
  size_t cap = 0;
};
Workspace& ws_state() {
  static Workspace w;
  return w;
}
}  // namespace

void* try_workspace(size_t bytes) {
  Workspace& w = ws_state();
  if (bytes > w.cap) {
    if (w.p) device_free(w.p);  // stream-ordered: earlier users of the old block run first
    w.p = nullptr;
    w.cap = 0;
    size_t cap = bytes + bytes / 4;
    void* p = device_try_alloc(cap);
    if (!p) p = device_try_alloc(cap = bytes);  // no headroom: exactly what is asked
    if (!p) return nullptr;
    w.p = p;
    w.cap = cap;
  }
  return w.p;
}


}  // namespace ish::cuda

namespace ish::cuda {  // the device-memory side of the table (engine/cuda/register.cpp)
namespace {
struct Probe {
  bool ok = false;
  std::string why;
};
const Probe& probe() {
  static const Probe p = [] {
    Probe r;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      r.why = str("cudaGetDeviceCount failed: ", cudaGetErrorString(e));
      cudaGetLastError();
    } else if (n == 0) {
      r.why = "no CUDA device found";
    } else {
      r.ok = true;
    }
    return r;
  }();
  return p;
}
}  // namespace

bool cuda_available() { return probe().ok; }
std::string cuda_unavailable_reason() { return probe().ok ? std::string() : probe().why; }

void* cuda_malloc(size_t bytes) {
  ISH_CHECK(cuda_available(), "cannot allocate on cuda: ", cuda_unavailable_reason());
  return cuda::device_alloc(bytes);
}
void cuda_free(void* p, size_t) { cuda::device_free(p); }

namespace {
// Page-locked (cudaHostAlloc'd or registered) host memory: copies from it are truly asynchronous.
bool host_pinned(const void* p) {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    cudaGetLastError();  // plain host memory on old drivers: not an error to keep
    return false;
  }
  return a.type == cudaMemoryTypeHost;
}
}  // namespace

void copy(void* dst, Device ddev, const void* src, Device sdev, size_t bytes) {
  if (!bytes) return;
  if (ddev == Device::CPU && sdev == Device::CPU) {
    std::memcpy(dst, src, bytes);
    return;
  }
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, cuda::stream()));
  // Only a copy the host reads, or one whose host source the DMA engine reads after the call returns
  // (pinned memory), waits. Device to device stays queued on the stream; from pageable host memory
  // (every host buffer of this engine) the call returns once the source has been staged.
  if (ddev == Device::CPU || (sdev == Device::CPU && host_pinned(src)))
    CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
}

void memset0(void* p, Device dev, size_t bytes) {
  if (!bytes) return;
  if (dev == Device::CPU) std::memset(p, 0, bytes);
  else CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda::stream()));
}

void synchronize() {
  if (cuda_available()) CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
}

}  // namespace ish::cuda
#endif
