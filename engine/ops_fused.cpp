// Fused eval-mode conv + BN (+ residual, + ReLU) for the CPU: the BN is folded into a per-channel
// scale and shift and applied, with the residual and ReLU, while each GEMM output tile is in cache,
// saving a pass over every activation. Anything outside that case (training, gradients, CUDA, a
// malformed input) takes the plain path, which also reports the errors.
#include "engine/autograd.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/ops_fused.h"
#include "engine/ops_util.h"

#include <vector>

namespace ish::ops {
using namespace detail;

Tensor conv2d_bn(const Tensor& x, const Tensor& w, const Conv2dParams& cp, const Tensor& gamma, const Tensor& beta,
                 Tensor running_mean, Tensor running_var, const BNParams& p, const Tensor& residual) {
  auto plain = [&] { return batch_norm(conv2d(x, w, Tensor(), cp), gamma, beta, running_mean, running_var, p, residual); };
  if (p.training || !x.defined() || !w.defined() || x.device() != Device::CPU || x.dim() != 4 || w.dim() != 4 ||
      (x.dtype() != DType::F32 && x.dtype() != DType::F64) || w.size(3) != x.size(3))
    return plain();
  const int64_t K = w.size(0);
  for (const Tensor* t : std::initializer_list<const Tensor*>{&w, &gamma, &beta, &running_mean, &running_var})
    if (!t->defined() || t->dtype() != x.dtype() || t->device() != Device::CPU) return plain();
  for (const Tensor* t : std::initializer_list<const Tensor*>{&gamma, &beta, &running_mean, &running_var})
    if (t->dim() != 1 || t->size(0) != K) return plain();
  if (cp.stride_h <= 0 || cp.stride_w <= 0 || cp.dil_h <= 0 || cp.dil_w <= 0 || cp.pad_h < 0 || cp.pad_w < 0)
    return plain();
  ConvDims d{x.size(0), x.size(1), x.size(2), x.size(3), K, w.size(1), w.size(2), 0, 0,
             cp.stride_h, cp.stride_w, cp.pad_h, cp.pad_w, cp.dil_h, cp.dil_w};
  if (d.H + 2 * d.ph < d.dh * (d.R - 1) + 1 || d.W + 2 * d.pw < d.dw * (d.S - 1) + 1) return plain();
  d.P = (d.H + 2 * d.ph - d.dh * (d.R - 1) - 1) / d.sh + 1;
  d.Q = (d.W + 2 * d.pw - d.dw * (d.S - 1) - 1) / d.sw + 1;
  const Shape out{d.N, d.P, d.Q, d.K};
  if (residual.defined() &&
      (residual.dtype() != x.dtype() || residual.device() != Device::CPU || residual.shape() != out))
    return plain();
  if (autograd::needs_grad({&x, &w, &gamma, &beta, &residual})) return plain();
  Tensor y = Tensor::empty(out, x.dtype(), x.device());
  auto run = [&](auto zero) {  // the element type is that of `zero` (float or double)
    using T = decltype(zero);
    std::vector<T> scale((size_t)K), shift((size_t)K);
    cpu::bn_eval_fold<T>(K, gamma.data<T>(), beta.data<T>(), p.eps, running_mean.data<T>(), running_var.data<T>(),
                         scale.data(), shift.data());
    cpu::conv2d_bn_fwd<T>(d, x.data<T>(), w.data<T>(), scale.data(), shift.data(),
                          residual.defined() ? residual.data<T>() : nullptr, p.relu, y.data<T>());
  };
  if (x.dtype() == DType::F64) run(0.0);
  else run(0.f);
  return y;
}

}  // namespace ish::ops
