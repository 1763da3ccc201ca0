// ISH (METHOD.md, OpenOOD ish_trainer.py): the fc layer's weight gradient is computed from a shaped
// copy x~ of its input x [N, n] (grad_W = grad^T x~); logits, grad_b and grad_x are unchanged.
// Per sample, with k = int(n * (1 - p)) (Python's truncation of the double product):
//   s1 = sum of x; s2 = sum of the k largest |x| (ties broken towards the lower index)
//   minksample_expscale: x~ = the kept |x| values * exp(s1/s2), scattered into zeros
//   expscale:            x~ = x * exp(s1/s2), nothing pruned (s2 still from the top-k)
//   minksample_lnscale:  x~ = the kept |x| values * (s1/s2), scattered into zeros
// The kept values are |x| as in the reference (identical to x for post-ReLU features).
// We define: s2 == 0 (an all-zero row) gives x~ = 0, where the reference gives NaN.
// s1, s2 and the factor are computed in double; the factor is rounded to T once.
#pragma once
#include <cstdint>
#include <string>

#include "engine/ops.h"

namespace ish::train {

using IshStrategy = ops::IshStrategy;  // the shaping itself is the engine op ops::ish_shape

IshStrategy ish_strategy_from_name(const std::string& name);  // throws on an unknown name
const char* ish_strategy_name(IshStrategy s);
// k = int(n * (1 - p)); requires 0 <= p < 1 and k >= 1.
int64_t ish_keep(int64_t n, double percentile);

// x [N, ...] (flattened per sample), any device; returns x~ with x's shape, without autograd.
// ops::ish_shape with k = ish_keep(D, percentile).
Tensor ish_shape(const Tensor& x, IshStrategy s, double percentile);

}  // namespace ish::train
