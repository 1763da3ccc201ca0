// The CUDA side of engine/device.h, the stream, library handles, options and error reporting.
#ifdef ISHSCALE_CUDA
#include "engine/cuda/runtime.h"

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

Options& options() {
  static Options o;
  return o;
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
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw_cuda(str("launch of ", kernel).c_str(), file, line, cudaGetErrorString(e));
  if (sync_each_launch()) {
    e = cudaStreamSynchronize(stream());
    if (e != cudaSuccess) throw_cuda(str("kernel ", kernel, " (ISHSCALE_SYNC)").c_str(), file, line, cudaGetErrorString(e));
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

void* workspace(size_t bytes) {
  static void* ws = nullptr;
  static size_t cap = 0;
  if (bytes > cap) {
    if (ws) device_free(ws);  // stream-ordered: earlier users of the old block run first
    cap = bytes + bytes / 4;
    ws = device_alloc(cap);
  }
  return ws;
}

}  // namespace ish::cuda

namespace ish::dev {
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

void copy(void* dst, Device ddev, const void* src, Device sdev, size_t bytes) {
  if (!bytes) return;
  if (ddev == Device::CPU && sdev == Device::CPU) {
    std::memcpy(dst, src, bytes);
    return;
  }
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, cuda::stream()));
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

}  // namespace ish::dev
#endif
