// Max pooling and global average pooling in NHWC. Threads run along C, so every warp touches
// consecutive channels of one pixel (coalesced). Max-pool backward is a gather over the inputs
// (each input sums the dy of the windows whose argmax it is, in ascending output order): no
// atomics, no zero-fill pass, deterministic, and bitwise equal to the CPU scatter order.
#include "kernels/common.cuh"

namespace ish::cuda {
namespace {

// The coordinates (n, a, b, c) of flat index i over a row-major [N, A, B, C] tensor.
struct Coord4 {
  int64_t n, a, b, c;
};
__device__ __forceinline__ Coord4 unravel(int64_t i, int64_t A, int64_t B, int64_t C) {
  const int64_t c = i % C;
  int64_t t = i / C;
  const int64_t b = t % B;
  t /= B;
  return {t / A, t % A, b, c};
}

__global__ void maxpool_fwd_k(PoolDims d, const float* __restrict__ x, float* __restrict__ y,
                              int64_t* __restrict__ idx) {
  const int64_t total = d.N * d.P * d.Q * d.C;
  for (int64_t o = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; o < total; o += (int64_t)gridDim.x * blockDim.x) {
    const auto [n, p, q, c] = unravel(o, d.P, d.Q, d.C);
    const float* xn = x + n * d.H * d.W * d.C + c;
    float best = -INFINITY;
    int64_t arg = -1;
    for (int i = 0; i < d.kh; i++) {
      const int64_t h = p * d.sh - d.ph + (int64_t)i * d.dh;
      if (h < 0 || h >= d.H) continue;
      for (int j = 0; j < d.kw; j++) {
        const int64_t w = q * d.sw - d.pw + (int64_t)j * d.dw;
        if (w < 0 || w >= d.W) continue;
        const float v = xn[(h * d.W + w) * d.C];
        if (arg < 0 || v > best || isnan(v)) {  // ties keep the first maximum; NaN wins (torch)
          best = v;
          arg = h * d.W + w;
          if (isnan(v)) goto done;
        }
      }
    }
  done:
    y[o] = best;
    if (idx) idx[o] = arg;
  }
}

__global__ void maxpool_bwd_k(PoolDims d, const float* __restrict__ dy, const int64_t* __restrict__ idx,
                              float* __restrict__ dx) {
  const int64_t total = d.N * d.H * d.W * d.C;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const auto [n, h, w, c] = unravel(e, d.H, d.W, d.C);
    const int64_t me = h * d.W + w;
    float acc = 0.f;
    // Windows containing h: p*sh - ph + i*dh == h. Walk i downwards so p ascends (CPU order).
    for (int i = d.kh - 1; i >= 0; i--) {
      const int64_t hp = h + d.ph - (int64_t)i * d.dh;
      if (hp < 0 || hp % d.sh) continue;
      const int64_t p = hp / d.sh;
      if (p >= d.P) continue;
      for (int j = d.kw - 1; j >= 0; j--) {
        const int64_t wq = w + d.pw - (int64_t)j * d.dw;
        if (wq < 0 || wq % d.sw) continue;
        const int64_t q = wq / d.sw;
        if (q >= d.Q) continue;
        const int64_t o = ((n * d.P + p) * d.Q + q) * d.C + c;
        if (idx[o] == me) acc += dy[o];
      }
    }
    dx[e] = acc;
  }
}

__global__ void gap_fwd_k(int64_t N, int64_t HW, int64_t C, const float* __restrict__ x, float* __restrict__ y) {
  const int64_t total = N * C;
  for (int64_t o = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; o < total; o += (int64_t)gridDim.x * blockDim.x) {
    const int64_t n = o / C, c = o % C;
    const float* xp = x + n * HW * C + c;
    double s = 0;  // double, in hw order: bitwise equal to the CPU twin
    for (int64_t i = 0; i < HW; i++) s += xp[i * C];
    y[o] = (float)(s / (double)HW);
  }
}

__global__ void gap_bwd_k(int64_t N, int64_t HW, int64_t C, const float* __restrict__ dy, float* __restrict__ dx) {
  const int64_t total = N * HW * C;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = e % C, n = e / (HW * C);
    dx[e] = dy[n * C + c] / (float)HW;
  }
}

void check_pool(const PoolDims& d) {
  ISH_CHECK(d.N >= 0 && d.H > 0 && d.W > 0 && d.C > 0 && d.P > 0 && d.Q > 0, "max_pool2d on cuda: bad sizes");
  ISH_CHECK(d.kh > 0 && d.kw > 0 && d.sh > 0 && d.sw > 0 && d.dh > 0 && d.dw > 0 && d.ph >= 0 && d.pw >= 0,
            "max_pool2d on cuda: bad kernel/stride/padding/dilation");
  // The op layer's rule (engine/dims.h). A window that holds no input (possible with dilation)
  // yields -inf and argmax -1, as on the CPU; the backward skips it.
  ISH_CHECK(pool_padding_ok(d.kh, d.dh, d.ph) && pool_padding_ok(d.kw, d.dw, d.pw),
            "max_pool2d on cuda: padding must be at most half the effective kernel (as torch)");
}

}  // namespace

void maxpool_fwd(const PoolDims& d, const float* x, float* y, int64_t* idx) {
  check_pool(d);
  const int64_t n = d.N * d.P * d.Q * d.C;
  if (n == 0) return;
  maxpool_fwd_k<<<grid_for(n, 256), 256, 0, stream()>>>(d, x, y, idx);
  CHECK_LAUNCH("maxpool_fwd");
}

void maxpool_bwd(const PoolDims& d, const float* dy, const int64_t* idx, float* dx) {
  check_pool(d);
  ISH_CHECK(idx, "max_pool2d backward on cuda: no saved argmax");
  const int64_t n = d.N * d.H * d.W * d.C;
  if (n == 0) return;
  maxpool_bwd_k<<<grid_for(n, 256), 256, 0, stream()>>>(d, dy, idx, dx);
  CHECK_LAUNCH("maxpool_bwd");
}

void gap_fwd(int64_t N, int64_t HW, int64_t C, const float* x, float* y) {
  ISH_CHECK(N >= 0 && HW > 0 && C > 0, "global_avg_pool on cuda: bad sizes N=", N, " HW=", HW, " C=", C);
  if (N == 0) return;
  gap_fwd_k<<<grid_for(N * C, 256), 256, 0, stream()>>>(N, HW, C, x, y);
  CHECK_LAUNCH("gap_fwd");
}

void gap_bwd(int64_t N, int64_t HW, int64_t C, const float* dy, float* dx) {
  ISH_CHECK(N >= 0 && HW > 0 && C > 0, "global_avg_pool backward on cuda: bad sizes N=", N, " HW=", HW, " C=", C);
  if (N == 0) return;
  gap_bwd_k<<<grid_for(N * HW * C, 256), 256, 0, stream()>>>(N, HW, C, dy, dx);
  CHECK_LAUNCH("gap_bwd");
}

}  // namespace ish::cuda
