// Row reductions over the last dim of x [N,D] (argmax_last, max_last, sum_last and their
// backwards): one thread block per row for the reductions, a fixed-order tree (deterministic,
// no atomics), the same results as engine/cpu/rows.cpp: argmax takes the first maximum and a
// NaN beats every number; sums accumulate in double.
#include "kernels/common.cuh"

namespace ish::cuda {
namespace {

constexpr int kBlock = 256;

// True when candidate (v, i) should replace the current best (bv, bi).
__device__ __forceinline__ bool better(float v, int64_t i, float bv, int64_t bi) {
  const bool vn = isnan(v), bn = isnan(bv);
  if (vn != bn) return vn;
  if (!vn && v != bv) return v > bv;
  return i < bi;  // ties (and two NaNs): the first index
}

__global__ void row_argmax_k(int64_t D, const float* __restrict__ x, int64_t* __restrict__ idx) {
  __shared__ float sv[kBlock];
  __shared__ int64_t si[kBlock];
  const float* r = x + (int64_t)blockIdx.x * D;
  float bv = -INFINITY;
  int64_t bi = INT64_MAX;
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x)
    if (better(r[j], j, bv, bi)) { bv = r[j]; bi = j; }
  sv[threadIdx.x] = bv;
  si[threadIdx.x] = bi;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s && better(sv[threadIdx.x + s], si[threadIdx.x + s], sv[threadIdx.x], si[threadIdx.x])) {
      sv[threadIdx.x] = sv[threadIdx.x + s];
      si[threadIdx.x] = si[threadIdx.x + s];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) idx[blockIdx.x] = si[0] == INT64_MAX ? 0 : si[0];  // an all -inf row: index 0 (as the CPU)
}

__global__ void row_sum_k(int64_t D, const float* __restrict__ x, float* __restrict__ y) {
  __shared__ double sh[32];
  const float* r = x + (int64_t)blockIdx.x * D;
  double acc = 0;
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) acc += (double)r[j];
  acc = block_sum(acc, sh);
  if (threadIdx.x == 0) y[blockIdx.x] = (float)acc;
}

__global__ void row_gather_k(int64_t N, int64_t D, const float* __restrict__ x, const int64_t* __restrict__ idx,
                             float* __restrict__ y) {
  const int64_t n = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (n < N) y[n] = x[n * D + idx[n]];
}

// dx [N,D]: dx[n,j] = g[n] (broadcast) or g[n] at j == idx[n] and 0 elsewhere (scatter).
__global__ void row_fill_k(int64_t N, int64_t D, const float* __restrict__ g, const int64_t* __restrict__ idx,
                           float* __restrict__ dx) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N * D) return;
  const int64_t n = i / D;
  dx[i] = (idx == nullptr || idx[n] == i - n * D) ? g[n] : 0.f;
}

void check_rows(int64_t N, int64_t D, const void* in, const void* out, const char* what) {
  ISH_CHECK(N >= 0 && D > 0 && N <= INT32_MAX, what, " on cuda: bad sizes N=", N, " D=", D);
  ISH_CHECK(in && out, what, " on cuda: null input or output");
}

}  // namespace

void row_argmax(int64_t N, int64_t D, const float* x, int64_t* idx) {
  check_rows(N, D, x, idx, "argmax_last");
  if (N == 0) return;
  row_argmax_k<<<(unsigned)N, kBlock, 0, stream()>>>(D, x, idx);
  CHECK_LAUNCH("row_argmax");
}

void row_sum(int64_t N, int64_t D, const float* x, float* y) {
  check_rows(N, D, x, y, "sum_last");
  if (N == 0) return;
  row_sum_k<<<(unsigned)N, kBlock, 0, stream()>>>(D, x, y);
  CHECK_LAUNCH("row_sum");
}

void row_gather(int64_t N, int64_t D, const float* x, const int64_t* idx, float* y) {
  check_rows(N, D, x, y, "max_last");
  ISH_CHECK(idx, "max_last on cuda: null indices");
  if (N == 0) return;
  row_gather_k<<<(unsigned)ceil_div(N, kBlock), kBlock, 0, stream()>>>(N, D, x, idx, y);
  CHECK_LAUNCH("row_gather");
}

void row_scatter(int64_t N, int64_t D, const float* g, const int64_t* idx, float* dx) {
  check_rows(N, D, g, dx, "max_last backward");
  ISH_CHECK(idx, "max_last backward on cuda: null indices");
  if (N == 0) return;
  row_fill_k<<<(unsigned)ceil_div(N * D, kBlock), kBlock, 0, stream()>>>(N, D, g, idx, dx);
  CHECK_LAUNCH("row_scatter");
}

void row_broadcast(int64_t N, int64_t D, const float* g, float* dx) {
  check_rows(N, D, g, dx, "sum_last backward");
  if (N == 0) return;
  row_fill_k<<<(unsigned)ceil_div(N * D, kBlock), kBlock, 0, stream()>>>(N, D, g, nullptr, dx);
  CHECK_LAUNCH("row_broadcast");
}

}  // namespace ish::cuda
