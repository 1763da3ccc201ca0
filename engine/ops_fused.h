// Fused ops for the CPU inference path (engine/ops_fused.cpp).
#pragma once
#include "engine/ops.h"

namespace ish::ops {

// batch_norm(conv2d(x, w, no bias, cp), ...): in eval mode on the CPU, when nothing needs a gradient,
// one pass that applies the folded BN, the residual and the ReLU to each GEMM output tile while it is
// in cache (same arithmetic as the two ops). Otherwise exactly the two ops.
Tensor conv2d_bn(const Tensor& x, const Tensor& w, const Conv2dParams& cp, const Tensor& gamma, const Tensor& beta,
                 Tensor running_mean, Tensor running_var, const BNParams& p, const Tensor& residual = Tensor());

}  // namespace ish::ops
