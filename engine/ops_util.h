// Internal helpers for the op layer: input checks and dtype/device dispatch.
#pragma once
#include "engine/ops.h"
#ifdef ISHSCALE_CUDA
#include "engine/cuda/backend.h"
#endif

namespace ish::ops::detail {

inline void check_float(const Tensor& t, const char* op, const char* what) {
  ISH_CHECK(t.defined(), op, ": ", what, " is undefined");
  ISH_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64, op, ": ", what, " ", t.name(), " has dtype ",
            dtype_name(t.dtype()), " (need F32 or F64)");
  ISH_CHECK(t.device() == Device::CPU || t.dtype() == DType::F32, op, ": ", what,
            " on cuda must be F32 (got ", dtype_name(t.dtype()), ")");
}
inline void check_like(const Tensor& a, const Tensor& b, const char* op, const char* what) {
  ISH_CHECK(b.defined(), op, ": ", what, " is undefined");
  ISH_CHECK(a.dtype() == b.dtype(), op, ": ", what, " dtype ", dtype_name(b.dtype()), " differs from ",
            dtype_name(a.dtype()));
  check_same_device(a, b, op);
}
template <class T> inline const T* cptr(const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }
template <class T> inline T* mptr(Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }

[[noreturn]] inline void no_cuda(const char* op) { fail(op, ": cuda tensors need a CUDA build"); }

}  // namespace ish::ops::detail

// Runs BODY with T bound to the C++ type of dtype DT (F32 or F64) on the CPU.
#define ISH_CPU_FLOAT_DISPATCH(DT, ...)                      \
  do {                                                        \
    if ((DT) == ::ish::DType::F64) { using T = double; __VA_ARGS__; } \
    else { using T = float; __VA_ARGS__; }                    \
  } while (0)
