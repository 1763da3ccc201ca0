// Element-wise families used by the op layer (in place is allowed: no __restrict__). Grid-stride
// loops; the body is one templated functor, so each family is one kernel. Bandwidth-bound: 16-byte loads would add ~10% on large
// tensors (see docs/perf-notes.md); these ops are off the ResNet hot path, so they stay scalar.
#include "kernels/common.cuh"

namespace ish::cuda {
namespace {

template <class F>
__global__ void map1(int64_t n, const float* x, float* y, F f) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = f(x[i]);
}
template <class F>
__global__ void map2(int64_t n, const float* a, const float* b, float* y, F f) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = f(a[i], b[i]);
}

struct ReluF { __device__ float operator()(float v) const { return v < 0.f ? 0.f : v; } };  // NaN passes
struct ExpF { __device__ float operator()(float v) const { return expf(v); } };
struct LogF { __device__ float operator()(float v) const { return logf(v); } };
struct NegF { __device__ float operator()(float v) const { return -v; } };
struct ScaleShiftF {
  float s, b;
  __device__ float operator()(float v) const { return v * s + b; }
};
struct FillF {
  float v;
  __device__ float operator()(float) const { return v; }
};
struct ClampMaxF {
  float hi;
  __device__ float operator()(float v) const { return v > hi ? hi : v; }
};
struct AddF { __device__ float operator()(float a, float b) const { return a + b; } };
struct SubF { __device__ float operator()(float a, float b) const { return a - b; } };
struct MulF { __device__ float operator()(float a, float b) const { return a * b; } };
struct ReluBwdF { __device__ float operator()(float y, float dy) const { return y > 0.f ? dy : 0.f; } };
struct AxpyF {
  float alpha;
  __device__ float operator()(float x, float y) const { return y + alpha * x; }
};

template <class F>
void run1(const char* name, int64_t n, const float* x, float* y, F f) {
  ISH_CHECK(n >= 0, name, " on cuda: negative size");
  if (n == 0) return;
  map1<<<grid_for(n, 256), 256, 0, stream()>>>(n, x, y, f);
  CHECK_LAUNCH(name);
}
template <class F>
void run2(const char* name, int64_t n, const float* a, const float* b, float* y, F f) {
  ISH_CHECK(n >= 0, name, " on cuda: negative size");
  if (n == 0) return;
  map2<<<grid_for(n, 256), 256, 0, stream()>>>(n, a, b, y, f);
  CHECK_LAUNCH(name);
}

}  // namespace

void unary(Unary op, int64_t n, const float* x, float* y) {
  switch (op) {
    case Unary::Relu: return run1("relu", n, x, y, ReluF{});
    case Unary::Exp: return run1("exp", n, x, y, ExpF{});
    case Unary::Log: return run1("log", n, x, y, LogF{});
    case Unary::Neg: return run1("neg", n, x, y, NegF{});
  }
  fail("unary on cuda: unknown op ", (int)op);
}
void relu_bwd(int64_t n, const float* y, const float* dy, float* dx) { run2("relu_bwd", n, y, dy, dx, ReluBwdF{}); }
void binary(Binary op, int64_t n, const float* a, const float* b, float* y) {
  switch (op) {
    case Binary::Add: return run2("add", n, a, b, y, AddF{});
    case Binary::Sub: return run2("sub", n, a, b, y, SubF{});
    case Binary::Mul: return run2("mul", n, a, b, y, MulF{});
  }
  fail("binary on cuda: unknown op ", (int)op);
}
// y += alpha * x (x and y are distinct; map2 reads y as its second input).
void axpy(int64_t n, float alpha, const float* x, float* y) { run2("axpy", n, x, y, y, AxpyF{alpha}); }
void scale_shift(int64_t n, const float* x, float scale, float shift, float* y) {
  run1("scale_shift", n, x, y, ScaleShiftF{scale, shift});
}
void clamp_max(int64_t n, const float* x, float hi, float* y) { run1("clamp_max", n, x, y, ClampMaxF{hi}); }
// map1 reads x[i] before the functor ignores it: pass y itself, so nothing outside y is touched.
void fill(int64_t n, float value, float* y) { run1("fill", n, y, y, FillF{value}); }

}  // namespace ish::cuda
