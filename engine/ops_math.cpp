// Op layer for element-wise ops and last-dim reductions (the detectors' toolkit), plus relu/add.
// Element-wise ops run on CPU (f32/f64) and CUDA (f32); reductions run on the CPU (detectors
// work on cached features; a CUDA tensor is refused with a clear message).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "engine/ops_util.h"
#include "engine/rng.h"

namespace ish::ops {
using namespace detail;

namespace {

template <class T, class F>
void map1_impl(const Tensor& x, Tensor& y, F f) {
  const int64_t n = x.numel();
  const T* a = x.data<T>();
  T* o = y.data<T>();
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) o[i] = (T)f((double)a[i]);
}
// y[i] = f(x[i]) on the CPU.
template <class F>
Tensor map1(const Tensor& x, F f) {
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  ISH_CPU_FLOAT_DISPATCH(x.dtype(), map1_impl<T>(x, y, f));
  return y;
}
template <class T, class F>
void map2_impl(const Tensor& a, const Tensor& b, Tensor& y, F f) {
  const int64_t n = a.numel();
  const T *p = a.data<T>(), *q = b.data<T>();
  T* o = y.data<T>();
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) o[i] = f(p[i], q[i]);
}
// y[i] = f(a[i], b[i]) on the CPU; f takes and returns the element type.
template <class F>
Tensor map2(const Tensor& a, const Tensor& b, F f) {
  Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
  ISH_CPU_FLOAT_DISPATCH(a.dtype(), map2_impl<T>(a, b, y, f));
  return y;
}

void check_binary(const Tensor& a, const Tensor& b, const char* op) {
  check_float(a, op, "a");
  check_like(a, b, op, "b");
  ISH_CHECK(a.shape() == b.shape(), op, ": shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()), " differ");
}
void check_cpu(const Tensor& x, const char* op) {
  ISH_CHECK(!x.is_cuda(), op, ": runs on the CPU only (move the tensor with .to(Device::CPU))");
}
void check_2d(const Tensor& x, const char* op) {
  check_float(x, op, "input");
  check_cpu(x, op);
  ISH_CHECK(x.dim() == 2 && x.size(1) > 0, op, ": need a non-empty [N,D] tensor, got ", shape_str(x.shape()));
}

#ifdef ISHSCALE_CUDA
Tensor cuda_binary(cuda::Binary op, const Tensor& a, const Tensor& b) {
  Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());
  cuda::binary(op, a.numel(), a.data<float>(), b.data<float>(), y.data<float>());
  return y;
}
#endif

// Elementwise binary with CPU lambda and CUDA op.
template <class F>
Tensor binary_any(const Tensor& a, const Tensor& b, F f, int cuda_op) {
  if (a.is_cuda()) {
#ifdef ISHSCALE_CUDA
    return cuda_binary((cuda::Binary)cuda_op, a, b);
#else
    no_cuda("elementwise");
#endif
  }
  return map2(a, b, f);
}
Tensor scale_any(const Tensor& x, double s, double shift) {
  if (x.is_cuda()) {
#ifdef ISHSCALE_CUDA
    Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
    cuda::scale_shift(x.numel(), x.data<float>(), (float)s, (float)shift, y.data<float>());
    return y;
#else
    no_cuda("elementwise");
#endif
  }
  return map1(x, [=](double v) { return v * s + shift; });
}

}  // namespace

Tensor relu(const Tensor& x) {
  check_float(x, "relu", "input");
  Tensor y;
  if (x.is_cuda()) {
#ifdef ISHSCALE_CUDA
    y = Tensor::empty(x.shape(), x.dtype(), x.device());
    cuda::unary(cuda::Unary::Relu, x.numel(), x.data<float>(), y.data<float>());
#else
    no_cuda("relu");
#endif
  } else {
    y = map1(x, [](double v) { return v < 0 ? 0.0 : v; });
  }
  Tensor yd = y.detach();
  return autograd::record(y, "relu", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    if (g.is_cuda()) {
#ifdef ISHSCALE_CUDA
      Tensor dx = Tensor::empty(g.shape(), g.dtype(), g.device());
      cuda::relu_bwd(g.numel(), yd.data<float>(), g.data<float>(), dx.data<float>());
      return {dx};
#endif
    }
    ISH_CPU_FLOAT_DISPATCH(g.dtype(), return {map2(g, yd, [](T gv, T yv) { return yv > T(0) ? gv : T(0); })});
  });
}

Tensor add(const Tensor& a, const Tensor& b) {
  check_binary(a, b, "add");
  Tensor y;
  ISH_CPU_FLOAT_DISPATCH(a.dtype(), y = binary_any(a, b, [](T p, T q) { return p + q; }, 0));
  return autograd::record(y, "add", {a, b}, [](const Tensor& g) -> std::vector<Tensor> { return {g, g}; });
}

void add_(Tensor& dst, const Tensor& src) {
  check_binary(dst, src, "add_");
  if (dst.is_cuda()) {
#ifdef ISHSCALE_CUDA
    cuda::axpy(dst.numel(), 1.f, src.data<float>(), dst.data<float>());
    return;
#else
    no_cuda("add_");
#endif
  }
  const int64_t n = dst.numel();
  ISH_CPU_FLOAT_DISPATCH(dst.dtype(), {
    T* d = dst.data<T>();
    const T* s = src.data<T>();
    for (int64_t i = 0; i < n; i++) d[i] += s[i];
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  check_binary(a, b, "sub");
  Tensor y;
  ISH_CPU_FLOAT_DISPATCH(a.dtype(), y = binary_any(a, b, [](T p, T q) { return p - q; }, 1));
  return autograd::record(y, "sub", {a, b},
                          [](const Tensor& g) -> std::vector<Tensor> { return {g, scale_any(g, -1.0, 0.0)}; });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_binary(a, b, "mul");
  Tensor y;
  ISH_CPU_FLOAT_DISPATCH(a.dtype(), y = binary_any(a, b, [](T p, T q) { return p * q; }, 2));
  Tensor ad = a.detach(), bd = b.detach();
  return autograd::record(y, "mul", {a, b}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor da, db;
    ISH_CPU_FLOAT_DISPATCH(g.dtype(), {
      da = binary_any(g, bd, [](T p, T q) { return p * q; }, 2);
      db = binary_any(g, ad, [](T p, T q) { return p * q; }, 2);
    });
    return {da, db};
  });
}

Tensor mul_scalar(const Tensor& x, double s) {
  check_float(x, "mul_scalar", "input");
  return autograd::record(scale_any(x, s, 0.0), "mul_scalar", {x},
                          [=](const Tensor& g) -> std::vector<Tensor> { return {scale_any(g, s, 0.0)}; });
}
Tensor add_scalar(const Tensor& x, double s) {
  check_float(x, "add_scalar", "input");
  return autograd::record(scale_any(x, 1.0, s), "add_scalar", {x},
                          [](const Tensor& g) -> std::vector<Tensor> { return {g}; });
}

Tensor exp(const Tensor& x) {
  check_float(x, "exp", "input");
  check_cpu(x, "exp");
  Tensor y = map1(x, [](double v) { return std::exp(v); });
  Tensor yd = y.detach();
  return autograd::record(y, "exp", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    ISH_CPU_FLOAT_DISPATCH(g.dtype(), return {map2(g, yd, [](T p, T q) { return p * q; })});
  });
}
Tensor log(const Tensor& x) {
  check_float(x, "log", "input");
  check_cpu(x, "log");
  Tensor y = map1(x, [](double v) { return std::log(v); });
  Tensor xd = x.detach();
  return autograd::record(y, "log", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    ISH_CPU_FLOAT_DISPATCH(g.dtype(), return {map2(g, xd, [](T p, T q) { return p / q; })});
  });
}
Tensor clamp_max(const Tensor& x, double hi) {
  check_float(x, "clamp_max", "input");
  check_cpu(x, "clamp_max");
  Tensor y = map1(x, [=](double v) { return v > hi ? hi : v; });
  Tensor xd = x.detach();
  // torch's clamp passes the gradient where x <= hi (the bound itself included).
  return autograd::record(y, "clamp_max", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    ISH_CPU_FLOAT_DISPATCH(g.dtype(), return {map2(g, xd, [=](T p, T q) { return (double)q <= hi ? p : T(0); })});
  });
}

Tensor mul_rows(const Tensor& x, const Tensor& s) {
  check_2d(x, "mul_rows");
  check_like(x, s, "mul_rows", "scale");
  check_shape(s, {x.size(0)}, "mul_rows scale");
  const int64_t N = x.size(0), D = x.size(1);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  ISH_CPU_FLOAT_DISPATCH(x.dtype(), {
    for (int64_t n = 0; n < N; n++)
      for (int64_t d = 0; d < D; d++) y.data<T>()[n * D + d] = x.data<T>()[n * D + d] * s.data<T>()[n];
  });
  Tensor xd = x.detach(), sd = s.detach();
  return autograd::record(y, "mul_rows", {x, s}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = Tensor::empty(xd.shape(), xd.dtype()), ds = Tensor::empty({N}, xd.dtype());
    ISH_CPU_FLOAT_DISPATCH(g.dtype(), {
      for (int64_t n = 0; n < N; n++) {
        double acc = 0;
        for (int64_t d = 0; d < D; d++) {
          dx.data<T>()[n * D + d] = g.data<T>()[n * D + d] * sd.data<T>()[n];
          acc += (double)g.data<T>()[n * D + d] * xd.data<T>()[n * D + d];
        }
        ds.data<T>()[n] = (T)acc;
      }
    });
    return {dx, ds};
  });
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor y = x.view(shape);
  const Shape xs = x.shape();
  return autograd::record(y, "reshape", {x}, [=](const Tensor& g) -> std::vector<Tensor> { return {g.view(xs)}; });
}

// ---- reductions ----

Tensor sum(const Tensor& x) {
  check_float(x, "sum", "input");
  check_cpu(x, "sum");
  double acc = 0;
  for (double v : x.to_f64_vector()) acc += v;
  Tensor y = Tensor::full({}, acc, x.dtype());
  const Shape xs = x.shape();
  return autograd::record(y, "sum", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    return {Tensor::full(xs, g.item(), g.dtype())};
  });
}
Tensor mean(const Tensor& x) {
  ISH_CHECK(x.numel() > 0, "mean: empty tensor");
  return mul_scalar(sum(x), 1.0 / (double)x.numel());
}

Tensor sum_last(const Tensor& x) {
  check_2d(x, "sum_last");
  const int64_t N = x.size(0), D = x.size(1);
  Tensor y = Tensor::empty({N}, x.dtype());
  ISH_CPU_FLOAT_DISPATCH(x.dtype(), {
    for (int64_t n = 0; n < N; n++) {
      double acc = 0;
      for (int64_t d = 0; d < D; d++) acc += x.data<T>()[n * D + d];
      y.data<T>()[n] = (T)acc;
    }
  });
  return autograd::record(y, "sum_last", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = Tensor::empty({N, D}, g.dtype());
    ISH_CPU_FLOAT_DISPATCH(g.dtype(), {
      for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) dx.data<T>()[n * D + d] = g.data<T>()[n];
    });
    return {dx};
  });
}

Tensor argmax_last(const Tensor& x) {
  check_2d(x, "argmax_last");
  const int64_t N = x.size(0), D = x.size(1);
  Tensor idx = Tensor::empty({N}, DType::I64);
  ISH_CPU_FLOAT_DISPATCH(x.dtype(), {
    for (int64_t n = 0; n < N; n++) {
      const T* r = x.data<T>() + n * D;
      int64_t best = 0;
      for (int64_t d = 1; d < D; d++)
        if (r[d] > r[best] || (std::isnan(r[d]) && !std::isnan(r[best]))) best = d;
      idx.data<int64_t>()[n] = best;
    }
  });
  return idx;
}

Tensor max_last(const Tensor& x) {
  Tensor idx = argmax_last(x);
  const int64_t N = x.size(0), D = x.size(1);
  Tensor y = Tensor::empty({N}, x.dtype());
  ISH_CPU_FLOAT_DISPATCH(x.dtype(), {
    for (int64_t n = 0; n < N; n++) y.data<T>()[n] = x.data<T>()[n * D + idx.data<int64_t>()[n]];
  });
  return autograd::record(y, "max_last", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = Tensor::zeros({N, D}, g.dtype());
    ISH_CPU_FLOAT_DISPATCH(g.dtype(), {
      for (int64_t n = 0; n < N; n++) dx.data<T>()[n * D + idx.data<int64_t>()[n]] = g.data<T>()[n];
    });
    return {dx};
  });
}

Tensor log_softmax_last(const Tensor& x) {
  check_2d(x, "log_softmax_last");
  const int64_t N = x.size(0), D = x.size(1);
  Tensor y = Tensor::empty({N, D}, x.dtype());
  ISH_CPU_FLOAT_DISPATCH(x.dtype(), {
    for (int64_t n = 0; n < N; n++) {
      const T* r = x.data<T>() + n * D;
      double mx = -INFINITY, se = 0;
      for (int64_t d = 0; d < D; d++) mx = std::max(mx, (double)r[d]);
      for (int64_t d = 0; d < D; d++) se += std::exp(r[d] - mx);
      const double lse = mx + std::log(se);
      for (int64_t d = 0; d < D; d++) y.data<T>()[n * D + d] = (T)(r[d] - lse);
    }
  });
  Tensor yd = y.detach();
  return autograd::record(y, "log_softmax_last", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = Tensor::empty({N, D}, g.dtype());
    ISH_CPU_FLOAT_DISPATCH(g.dtype(), {
      for (int64_t n = 0; n < N; n++) {
        double gs = 0;
        for (int64_t d = 0; d < D; d++) gs += g.data<T>()[n * D + d];
        for (int64_t d = 0; d < D; d++)
          dx.data<T>()[n * D + d] = (T)(g.data<T>()[n * D + d] - std::exp((double)yd.data<T>()[n * D + d]) * gs);
      }
    });
    return {dx};
  });
}

Tensor softmax_last(const Tensor& x) {
  check_2d(x, "softmax_last");
  const int64_t N = x.size(0), D = x.size(1);
  Tensor y;
  {
    NoGradGuard ng;
    y = map1(log_softmax_last(x), [](double v) { return std::exp(v); });
  }
  Tensor yd = y.detach();
  return autograd::record(y, "softmax_last", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = Tensor::empty({N, D}, g.dtype());
    ISH_CPU_FLOAT_DISPATCH(g.dtype(), {
      for (int64_t n = 0; n < N; n++) {
        double dot = 0;
        for (int64_t d = 0; d < D; d++) dot += (double)g.data<T>()[n * D + d] * yd.data<T>()[n * D + d];
        for (int64_t d = 0; d < D; d++)
          dx.data<T>()[n * D + d] = (T)(yd.data<T>()[n * D + d] * (g.data<T>()[n * D + d] - dot));
      }
    });
    return {dx};
  });
}

Tensor logsumexp_last(const Tensor& x) {
  check_2d(x, "logsumexp_last");
  const int64_t N = x.size(0), D = x.size(1);
  Tensor y = Tensor::empty({N}, x.dtype());
  ISH_CPU_FLOAT_DISPATCH(x.dtype(), {
    for (int64_t n = 0; n < N; n++) {
      const T* r = x.data<T>() + n * D;
      double mx = -INFINITY, se = 0;
      for (int64_t d = 0; d < D; d++) mx = std::max(mx, (double)r[d]);
      if (std::isinf(mx)) { y.data<T>()[n] = (T)mx; continue; }  // all -inf (or +inf) rows
      for (int64_t d = 0; d < D; d++) se += std::exp(r[d] - mx);
      y.data<T>()[n] = (T)(mx + std::log(se));
    }
  });
  Tensor xd = x.detach(), yd = y.detach();
  return autograd::record(y, "logsumexp_last", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = Tensor::empty({N, D}, g.dtype());
    ISH_CPU_FLOAT_DISPATCH(g.dtype(), {
      for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++)
          dx.data<T>()[n * D + d] =
              (T)(g.data<T>()[n] * std::exp((double)xd.data<T>()[n * D + d] - yd.data<T>()[n]));
    });
    return {dx};
  });
}

Tensor topk_sum_last(const Tensor& x, int64_t k) {
  check_2d(x, "topk_sum_last");
  const int64_t N = x.size(0), D = x.size(1);
  ISH_CHECK(k >= 1 && k <= D, "topk_sum_last: k=", k, " not in [1,", D, "]");
  Tensor y = Tensor::empty({N}, x.dtype());
  // Indices of each row's k largest (ties broken by lower index; ties do not change the sum).
  auto sel = std::make_shared<std::vector<int64_t>>((size_t)(N * k));
  ISH_CPU_FLOAT_DISPATCH(x.dtype(), {
    std::vector<int64_t> ord((size_t)D);
    for (int64_t n = 0; n < N; n++) {
      const T* r = x.data<T>() + n * D;
      std::iota(ord.begin(), ord.end(), 0);
      std::nth_element(ord.begin(), ord.begin() + (k - 1), ord.end(),
                       [&](int64_t a, int64_t b) { return r[a] > r[b] || (r[a] == r[b] && a < b); });
      double acc = 0;
      for (int64_t j = 0; j < k; j++) {
        (*sel)[n * k + j] = ord[j];
        acc += r[ord[j]];
      }
      y.data<T>()[n] = (T)acc;
    }
  });
  return autograd::record(y, "topk_sum_last", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = Tensor::zeros({N, D}, g.dtype());
    ISH_CPU_FLOAT_DISPATCH(g.dtype(), {
      for (int64_t n = 0; n < N; n++)
        for (int64_t j = 0; j < k; j++) dx.data<T>()[n * D + (*sel)[n * k + j]] = g.data<T>()[n];
    });
    return {dx};
  });
}

Tensor randn(const Shape& s, uint64_t seed, DType dt) {
  Rng rng(seed);
  std::vector<double> v((size_t)shape_numel(s));
  for (auto& e : v) e = rng.normal();
  return Tensor::from_f64(v, s).to(dt);
}

}  // namespace ish::ops
