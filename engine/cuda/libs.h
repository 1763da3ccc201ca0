// cuDNN and cuBLAS handles (bound to ish::cuda::stream()) and their error macros.
#pragma once
#include <cublas_v2.h>
#include <cudnn.h>

#include "engine/cuda/runtime.h"

namespace ish::cuda {
const char* cublas_status_name(cublasStatus_t s);
cudnnHandle_t cudnn();
cublasHandle_t cublas();
// Scratch memory for cuDNN/cuBLAS, grown on demand from the caching allocator and kept; nullptr
// when memory runs out (the caller falls back to an algorithm that needs less).
void* try_workspace(size_t bytes);
}  // namespace ish::cuda

#define CUBLAS_CHECK(call)                                                                          \
  do {                                                                                              \
    cublasStatus_t s_ = (call);                                                                     \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                                \
      ::ish::cuda::throw_cuda(#call, __FILE__, __LINE__, ::ish::cuda::cublas_status_name(s_));     \
  } while (0)
#define CUDNN_CHECK(call)                                                                           \
  do {                                                                                              \
    cudnnStatus_t s_ = (call);                                                                      \
    if (s_ != CUDNN_STATUS_SUCCESS) ::ish::cuda::throw_cuda(#call, __FILE__, __LINE__, cudnnGetErrorString(s_)); \
  } while (0)
