// ISH shaping of the fc input (OpenOOD ish_trainer.py, ISHReshaper), one block per row of x [N,D]:
//   s1 = sum_j x_j;  keep = top-k of |x| (ties at the threshold: lowest indices first);
//   s2 = sum of the kept |x|;
//   strategy 0 minksample_expscale: out = |x| * exp(s1/s2) at the kept positions, 0 elsewhere;
//   strategy 1 expscale:            out = x * exp(s1/s2) everywhere (nothing pruned);
//   strategy 2 minksample_lnscale:  out = |x| * (s1/s2) at the kept positions, 0 elsewhere.
// The reference scatters the kept |x| (topk of x.abs()), not the signed x; for ResNet features
// (after ReLU) the two agree. A row whose s2 is 0 (all kept |x| zero) gives an all-zero row
// instead of the reference's NaN; a row holding NaN/Inf gives all NaN. The k-th largest |x| is found by a 4-pass, 8-bit radix select
// on the float bits (non-negative floats order like their bit patterns); ranks among ties come
// from a block-wide prefix count in index order. Sums use doubles in a fixed tree: deterministic.
#include "kernels/common.cuh"

namespace ish::cuda {
namespace {

constexpr int kBlock = 256;

__device__ __forceinline__ uint32_t abs_key(float v) { return __float_as_uint(v) & 0x7fffffffu; }

// For row element i: is it kept? Needs the block-wide count of threshold ties before i, so all
// threads of the block walk the row together in chunks of kBlock.
struct TieScan {
  int* warp_counts;  // 32 ints of shared memory
  __device__ int exclusive(bool flag, int* total) {
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const unsigned ballot = __ballot_sync(0xffffffffu, flag);
    const int before_in_warp = __popc(ballot & ((1u << lane) - 1u));
    __syncthreads();
    if (lane == 0) warp_counts[wid] = __popc(ballot);
    __syncthreads();
    int before = 0, all = 0;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) {
      if (w < wid) before += warp_counts[w];
      all += warp_counts[w];
    }
    *total = all;
    return before + before_in_warp;
  }
};

__global__ void __launch_bounds__(kBlock) ish_k(int64_t D, int64_t k, int strategy, const float* __restrict__ x,
                                                 float* __restrict__ out) {
  __shared__ unsigned hist[256];
  __shared__ uint32_t sh_prefix;
  __shared__ int64_t sh_remaining;
  __shared__ double shd[32];
  __shared__ int shi[32];
  const float* xr = x + (int64_t)blockIdx.x * D;
  float* orow = out + (int64_t)blockIdx.x * D;

  double s1 = 0;
  int bad = 0;
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
    s1 += (double)xr[j];
    bad += !isfinite(xr[j]);
  }
  s1 = block_sum(s1, shd);
  if (block_sum(bad, shi) > 0) {  // a non-finite row stays visibly poisoned (as the CPU twin)
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) orow[j] = NAN;
    return;
  }

  // Radix select of the k-th largest key, 8 bits at a time from the top.
  uint32_t prefix = 0, mask = 0;
  int64_t remaining = k;  // how many we still need among keys matching `prefix`
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0;
    __syncthreads();
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
      const uint32_t key = abs_key(xr[j]);
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);  // integer counts: order-free
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int64_t above = 0;
      int d = 255;
      for (; d > 0; d--) {
        if (above + (int64_t)hist[d] >= remaining) break;
        above += hist[d];
      }
      sh_prefix = prefix | ((uint32_t)d << shift);
      sh_remaining = remaining - above;
    }
    __syncthreads();
    prefix = sh_prefix;
    remaining = sh_remaining;
    mask |= 255u << shift;
    __syncthreads();
  }
  const uint32_t thr = prefix;  // key of the k-th largest |x|; keep `remaining` of its ties

  TieScan scan{shi};
  double s2 = 0;
  int64_t ties_seen = 0;
  for (int64_t base = 0; base < D; base += blockDim.x) {
    const int64_t j = base + threadIdx.x;
    const uint32_t key = j < D ? abs_key(xr[j]) : 0u;
    const bool tie = j < D && key == thr;
    int total = 0;
    const int rank = scan.exclusive(tie, &total);
    const bool keep = j < D && (key > thr || (tie && ties_seen + rank < remaining));
    if (keep) s2 += (double)fabsf(xr[j]);
    ties_seen += total;
  }
  s2 = block_sum(s2, shd);

  double factor = 0;  // s2 == 0: every kept |x| is zero, the row shapes to zeros
  if (s2 > 0) factor = strategy == 2 ? s1 / s2 : exp(s1 / s2);
  const float f = (float)factor;
  if (strategy == 1) {
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) orow[j] = s2 > 0 ? xr[j] * f : 0.f;
    return;
  }
  ties_seen = 0;
  for (int64_t base = 0; base < D; base += blockDim.x) {
    const int64_t j = base + threadIdx.x;
    const uint32_t key = j < D ? abs_key(xr[j]) : 0u;
    const bool tie = j < D && key == thr;
    int total = 0;
    const int rank = scan.exclusive(tie, &total);
    const bool keep = j < D && (key > thr || (tie && ties_seen + rank < remaining));
    if (j < D) orow[j] = keep ? fabsf(xr[j]) * f : 0.f;
    ties_seen += total;
  }
}

}  // namespace

void ish_shape(int64_t N, int64_t D, int64_t k, int strategy, const float* x, float* out) {
  ISH_CHECK(N >= 0 && D > 0, "ish on cuda: bad sizes N=", N, " D=", D);
  ISH_CHECK(k >= 1 && k <= D, "ish on cuda: k=", k, " not in [1, D=", D, "]");
  ISH_CHECK(strategy >= 0 && strategy <= 2, "ish on cuda: unknown strategy ", strategy);
  ISH_CHECK(N <= 0x7fffffff, "ish on cuda: too many rows");
  ISH_CHECK(x != out, "ish on cuda: in-place shaping is not supported");
  if (N == 0) return;
  ish_k<<<(unsigned)N, kBlock, 0, stream()>>>(D, k, strategy, x, out);
  CHECK_LAUNCH("ish_shape");
}

}  // namespace ish::cuda
