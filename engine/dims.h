// Problem sizes shared by the CPU reference backend and the CUDA backend.
#pragma once
#include <cstdint>

namespace ish {

// Conv in NHWC with KRSC weights: x [N,H,W,C], w [K,R,S,C], y [N,P,Q,K].
struct ConvDims {
  int64_t N, H, W, C, K, R, S, P, Q;
  int sh, sw, ph, pw, dh, dw;
};
// Max pool in NHWC: x [N,H,W,C] -> y [N,P,Q,C]; idx holds the argmax as h*W+w per output.
struct PoolDims {
  int64_t N, H, W, C, P, Q;
  int kh, kw, sh, sw, ph, pw, dh, dw;
};
// Max pooling's padding rule on every device (as torch): at most half the dilated kernel.
inline bool pool_padding_ok(int k, int dil, int pad) { return pad >= 0 && pad <= ((k - 1) * dil + 1) / 2; }

}  // namespace ish
