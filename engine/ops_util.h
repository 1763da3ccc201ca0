// Internal helpers for the op layer: input checks and the kernel table of a tensor's device.
#pragma once
#include "engine/backend.h"
#include "engine/ops.h"

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
// The kernel table of t's device (a one-line error naming op when the build lacks that backend).
inline Backend& backend_of(const Tensor& t, const char* op) { return backend(t.device(), op); }

}  // namespace ish::ops::detail
