// CUDA runtime plumbing shared by engine/cuda and kernels/: the error macros, the one stream
// every launch goes to, the library handles and the ISHSCALE_SYNC debug switch.
// Compiled only when ISHSCALE_CUDA is defined (nvcc and g++ both include it).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/cuda/error_text.h"
#include "engine/error.h"

namespace ish::cuda {

// Throws ish::Error (exit 3) naming the failed call, file:line and the library's message.
[[noreturn]] void throw_cuda(const char* call, const char* file, int line, const std::string& msg);
// The same for a cudaError_t; a kernel fault also names the last kernel launched.
[[noreturn]] void throw_cuda_error(const char* call, const char* file, int line, cudaError_t e);
Failure classify(cudaError_t e);  // out of memory, a (sticky) kernel fault, or another error
cudaStream_t stream();   // the stream all ishscale work is ordered on
bool sync_each_launch();  // ISHSCALE_SYNC=1
// Records the kernel or library call just enqueued (two pointer stores and an int: always on),
// so that a fault surfacing later names it; "" until the first launch.
void note_launch(const char* name, const char* file, int line);
std::string last_launch();  // "name (file:line)"
// After a kernel launch: records it, reports a launch error, and with ISHSCALE_SYNC=1 waits for
// the kernel so that a fault names the right kernel.
void check_launch(const char* kernel, const char* file, int line);
// Library calls (cuDNN, cuBLAS) are launches too: records `what`; with ISHSCALE_SYNC=1, waits.
void library_launched(const char* what, const char* file, int line);

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
// A grid size for grid-stride loops: enough blocks to fill the GPU, no more than needed.
int grid_for(int64_t n, int block);
int sm_count();

// Device memory from the caching allocator (engine/cuda/allocator.cpp). device_alloc throws
// ish::Error when memory runs out (exit 2, "try a smaller --batch-size") or on a kernel fault
// (exit 3, naming the last kernel); device_try_alloc returns nullptr when memory runs out.
void* device_alloc(size_t bytes);
void* device_try_alloc(size_t bytes);
void device_free(void* p);
// Launcher scratch: released when the launcher returns, which is safe because the allocator
// hands blocks out again only to work enqueued later on the same stream.
struct Scratch {
  void* p;
  explicit Scratch(size_t bytes) : p(device_alloc(bytes)) {}
  ~Scratch() { device_free(p); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T> T* as() const { return static_cast<T*>(p); }
};

}  // namespace ish::cuda

#define CUDA_CHECK(call)                                                                           \
  do {                                                                                             \
    cudaError_t e_ = (call);                                                                       \
    if (e_ != cudaSuccess) ::ish::cuda::throw_cuda_error(#call, __FILE__, __LINE__, e_);            \
  } while (0)
// CHECK_LAUNCH(name): put on the line right after every <<<...>>> launch.
#define CHECK_LAUNCH(name) ::ish::cuda::check_launch(name, __FILE__, __LINE__)
