// The transformer kernels (engine/cuda/transformer.h): one block per row for LayerNorm and softmax, a warp per
// row for the fused attention softmax
// (fixed-order block reductions in double: deterministic, the CPU reference's arithmetic up to the
// order of the sums), element-wise GELU, index-mapping copies for permute/narrow/cat, and cuBLAS's
// strided-batched GEMM for bmm.
#include "engine/cuda/libs.h"
#include "engine/cuda/transformer.h"
#include "kernels/common.cuh"

namespace ish::cuda {
namespace {

constexpr int kBlock = 256;

__global__ void layer_norm_fwd_k(int64_t D, const float* __restrict__ x, const float* __restrict__ gamma,
                                 const float* __restrict__ beta, double eps, float* __restrict__ y,
                                 float* __restrict__ mean, float* __restrict__ rstd) {
  __shared__ double sh[32];
  const float* r = x + (int64_t)blockIdx.x * D;
  double s = 0;
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) s += (double)r[j];
  const double mu = block_sum(s, sh) / (double)D;
  double v = 0;
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) v += ((double)r[j] - mu) * ((double)r[j] - mu);
  const double rs = 1.0 / sqrt(block_sum(v, sh) / (double)D + eps);
  float* o = y + (int64_t)blockIdx.x * D;
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x)
    o[j] = (float)(((double)r[j] - mu) * rs * (double)gamma[j] + (double)beta[j]);
  if (threadIdx.x == 0) {
    mean[blockIdx.x] = (float)mu;
    rstd[blockIdx.x] = (float)rs;
  }
}

__global__ void layer_norm_dx_k(int64_t D, const float* __restrict__ dy, const float* __restrict__ x,
                                const float* __restrict__ gamma, const float* __restrict__ mean,
                                const float* __restrict__ rstd, float* __restrict__ dx) {
  __shared__ double sh[32];
  const int64_t base = (int64_t)blockIdx.x * D;
  const double mu = mean[blockIdx.x], rs = rstd[blockIdx.x];
  double a = 0, b = 0;
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
    const double gx = (double)dy[base + j] * gamma[j];
    a += gx;
    b += gx * ((double)x[base + j] - mu) * rs;
  }
  a = block_sum(a, sh) / (double)D;
  b = block_sum(b, sh) / (double)D;
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
    const double xh = ((double)x[base + j] - mu) * rs;
    dx[base + j] = (float)(rs * ((double)dy[base + j] * gamma[j] - a - xh * b));
  }
}

// dgamma[j] = sum_m dy[m,j] * xhat[m,j], dbeta[j] = sum_m dy[m,j]: a thread per column (coalesced rows).
__global__ void layer_norm_dparams_k(int64_t M, int64_t D, const float* __restrict__ dy, const float* __restrict__ x,
                                     const float* __restrict__ mean, const float* __restrict__ rstd,
                                     float* __restrict__ dgamma, float* __restrict__ dbeta) {
  const int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= D) return;
  double sg = 0, sb = 0;
  for (int64_t m = 0; m < M; m++) {
    const double g = dy[m * D + j];
    sg += g * ((double)x[m * D + j] - (double)mean[m]) * (double)rstd[m];
    sb += g;
  }
  dgamma[j] = (float)sg;
  dbeta[j] = (float)sb;
}

__global__ void col_sum_k(int64_t M, int64_t N, const float* __restrict__ x, float* __restrict__ y) {
  const int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= N) return;
  double s = 0;
  for (int64_t m = 0; m < M; m++) s += x[m * N + j];
  y[j] = (float)s;
}

__global__ void gelu_k(int64_t n, const float* __restrict__ x, float* __restrict__ y) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const double v = x[i];
    y[i] = (float)(0.5 * v * (1.0 + erf(v * M_SQRT1_2)));
  }
}
__global__ void gelu_bwd_k(int64_t n, const float* __restrict__ x, const float* __restrict__ dy,
                           float* __restrict__ dx) {
  const double inv_sqrt_2pi = 0.5 * M_2_SQRTPI * M_SQRT1_2;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const double v = x[i];
    const double cdf = 0.5 * (1.0 + erf(v * M_SQRT1_2)), pdf = inv_sqrt_2pi * exp(-0.5 * v * v);
    dx[i] = (float)((double)dy[i] * (cdf + v * pdf));
  }
}

__global__ void softmax_k(int64_t D, const float* __restrict__ x, float* __restrict__ y) {
  __shared__ float shm[32];
  __shared__ double shs[32];
  const float* r = x + (int64_t)blockIdx.x * D;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) mx = fmaxf(mx, r[j]);
  const double m = (double)block_max(mx, shm);
  double s = 0;
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) s += exp((double)r[j] - m);
  s = block_sum(s, shs);
  float* o = y + (int64_t)blockIdx.x * D;
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) o[j] = (float)(exp((double)r[j] - m) / s);
}

__global__ void softmax_bwd_k(int64_t D, const float* __restrict__ g, const float* __restrict__ y,
                              float* __restrict__ dx) {
  __shared__ double sh[32];
  const int64_t base = (int64_t)blockIdx.x * D;
  double dot = 0;
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) dot += (double)g[base + j] * y[base + j];
  dot = block_sum(dot, sh);
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x)
    dx[base + j] = (float)((double)y[base + j] * ((double)g[base + j] - dot));
}

// The fused attention softmax: a warp per row (attention rows are short: 49 for Swin, 197 for ViT-B/16),
// the row's scaled, biased, masked scores written to y, then max, e^(z - max) and the sum in double
// (fixed-order warp trees), then the normalisation. exp is expf (2 ulp), not the fast-math __expf.
__global__ void attn_softmax_k(int64_t rows, int64_t H, int64_t Nq, int64_t Nk, const float* __restrict__ x,
                               float scale, const float* __restrict__ bias, const float* __restrict__ mask,
                               int64_t nW, float* __restrict__ y) {
  const int64_t r = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  if (r >= rows) return;  // whole warps leave together: rows are warp-uniform
  const int lane = threadIdx.x & 31;
  const int64_t q = r % Nq, h = (r / Nq) % H, b = r / (Nq * H);
  const float* xr = x + r * Nk;
  const float* br = bias ? bias + (h * Nq + q) * Nk : nullptr;
  const float* mr = mask ? mask + ((b % nW) * Nq + q) * Nk : nullptr;
  float* yr = y + r * Nk;
  float mx = -INFINITY;
  for (int64_t j = lane; j < Nk; j += 32) {
    float z = __fmul_rn(xr[j], scale);  // no FMA contraction: each step rounded, as on the CPU
    if (br) z = __fadd_rn(z, br[j]);
    if (mr) z = __fadd_rn(z, mr[j]);
    yr[j] = z;
    mx = fmaxf(mx, z);
  }
  mx = warp_max(mx);
  double s = 0;
  for (int64_t j = lane; j < Nk; j += 32) {
    const float e = expf(yr[j] - mx);
    yr[j] = e;
    s += (double)e;
  }
  const float inv = (float)(1.0 / warp_sum(s));
  for (int64_t j = lane; j < Nk; j += 32) yr[j] *= inv;
}

struct PermuteDims {
  int rank;
  int64_t out_shape[8];
  int64_t in_stride[8];  // the input stride of each output dim
};
__global__ void permute_k(int64_t n, PermuteDims p, const float* __restrict__ x, float* __restrict__ y) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t rem = i, off = 0;
    for (int d = p.rank - 1; d >= 0; d--) {
      const int64_t c = rem % p.out_shape[d];
      rem /= p.out_shape[d];
      off += c * p.in_stride[d];
    }
    y[i] = x[off];
  }
}

__global__ void copy_blocks_k(int64_t n, int64_t block, const float* __restrict__ src, int64_t src_stride,
                              float* __restrict__ dst, int64_t dst_stride) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t o = i / block, j = i - o * block;
    dst[o * dst_stride + j] = src[o * src_stride + j];
  }
}

__global__ void index_select0_k(int64_t n, int64_t C, const float* __restrict__ table, const int64_t* __restrict__ idx,
                                float* __restrict__ y) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n * C; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = i / C;
    y[i] = table[idx[r] * C + (i - r * C)];
  }
}
// A thread per column c: the sums run over i in order, so the result does not depend on scheduling.
__global__ void index_add0_k(int64_t n, int64_t C, const float* __restrict__ g, const int64_t* __restrict__ idx,
                             float* __restrict__ dtable) {
  const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  for (int64_t i = 0; i < n; i++) dtable[idx[i] * C + c] += g[i * C + c];
}

void check_rows(int64_t N, int64_t D, const char* what) {
  ISH_CHECK(N >= 0 && D > 0 && N <= INT32_MAX, what, " on cuda: bad sizes N=", N, " D=", D);
}

}  // namespace

void gemm_batched(bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                  int64_t sA, const float* B, int64_t ldb, int64_t sB, float beta, float* C, int64_t ldc, int64_t sC) {
  if (batch == 0 || M == 0 || N == 0) return;
  const int64_t lim = (int64_t(1) << 31) - 1;
  ISH_CHECK(M <= lim && N <= lim && K <= lim && lda <= lim && ldb <= lim && ldc <= lim && batch <= lim,
            "bmm on cuda: dimension exceeds 32 bits (batch=", batch, " M=", M, " N=", N, " K=", K, ")");
  const float alpha = 1.f;
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T (as cuda::gemm); TF32 as there.
  const cublasComputeType_t ct = options().tf32_gemm() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  CUBLAS_CHECK(cublasGemmStridedBatchedEx(cublas(), tB ? CUBLAS_OP_T : CUBLAS_OP_N, tA ? CUBLAS_OP_T : CUBLAS_OP_N,
                                          (int)N, (int)M, (int)K, &alpha, B, CUDA_R_32F, (int)ldb, sB, A, CUDA_R_32F,
                                          (int)lda, sA, &beta, C, CUDA_R_32F, (int)ldc, sC, (int)batch, ct,
                                          CUBLAS_GEMM_DEFAULT));
  library_launched("cublasGemmStridedBatchedEx", __FILE__, __LINE__);
}

void layer_norm_fwd(int64_t M, int64_t D, const float* x, const float* gamma, const float* beta, double eps, float* y,
                    float* mean, float* rstd) {
  check_rows(M, D, "layer_norm");
  if (M == 0) return;
  layer_norm_fwd_k<<<(unsigned)M, kBlock, 0, stream()>>>(D, x, gamma, beta, eps, y, mean, rstd);
  CHECK_LAUNCH("layer_norm_fwd");
}

void layer_norm_bwd(int64_t M, int64_t D, const float* dy, const float* x, const float* gamma, const float* mean,
                    const float* rstd, float* dx, float* dgamma, float* dbeta) {
  check_rows(M, D, "layer_norm backward");
  if (M == 0) return;
  if (dx) {
    layer_norm_dx_k<<<(unsigned)M, kBlock, 0, stream()>>>(D, dy, x, gamma, mean, rstd, dx);
    CHECK_LAUNCH("layer_norm_dx");
  }
  layer_norm_dparams_k<<<(unsigned)ceil_div(D, kBlock), kBlock, 0, stream()>>>(M, D, dy, x, mean, rstd, dgamma,
                                                                                dbeta);
  CHECK_LAUNCH("layer_norm_dparams");
}

void gelu(int64_t n, const float* x, float* y) {
  if (n <= 0) return;
  gelu_k<<<grid_for(n, kBlock), kBlock, 0, stream()>>>(n, x, y);
  CHECK_LAUNCH("gelu");
}
void gelu_bwd(int64_t n, const float* x, const float* dy, float* dx) {
  if (n <= 0) return;
  gelu_bwd_k<<<grid_for(n, kBlock), kBlock, 0, stream()>>>(n, x, dy, dx);
  CHECK_LAUNCH("gelu_bwd");
}

void softmax(int64_t N, int64_t D, const float* x, float* y) {
  check_rows(N, D, "softmax_last");
  if (N == 0) return;
  softmax_k<<<(unsigned)N, kBlock, 0, stream()>>>(D, x, y);
  CHECK_LAUNCH("softmax");
}
void softmax_bwd(int64_t N, int64_t D, const float* g, const float* y, float* dx) {
  check_rows(N, D, "softmax_last backward");
  if (N == 0) return;
  softmax_bwd_k<<<(unsigned)N, kBlock, 0, stream()>>>(D, g, y, dx);
  CHECK_LAUNCH("softmax_bwd");
}

void attn_softmax(int64_t B, int64_t H, int64_t Nq, int64_t Nk, const float* x, float scale, const float* bias,
                  const float* mask, int64_t nW, float* y) {
  const int64_t rows = B * H * Nq;
  ISH_CHECK(rows >= 0 && Nk > 0 && nW >= 1 && rows <= (int64_t)INT32_MAX * 8, "attention_softmax on cuda: bad sizes B=",
            B, " H=", H, " Nq=", Nq, " Nk=", Nk, " nW=", nW);
  if (rows == 0) return;
  attn_softmax_k<<<(unsigned)ceil_div(rows * 32, kBlock), kBlock, 0, stream()>>>(rows, H, Nq, Nk, x, scale, bias,
                                                                                  mask, nW, y);
  CHECK_LAUNCH("attn_softmax");
}

void permute(const std::vector<int64_t>& shape, const std::vector<int>& perm, const float* x, float* y) {
  const int rank = (int)shape.size();
  ISH_CHECK(rank >= 1 && rank <= 8 && (int)perm.size() == rank, "permute on cuda: rank ", rank);
  PermuteDims p{};
  p.rank = rank;
  int64_t stride[8], s = 1, n = 1;
  for (int i = rank - 1; i >= 0; i--) {
    stride[i] = s;
    s *= shape[i];
  }
  for (int i = 0; i < rank; i++) {
    p.out_shape[i] = shape[perm[i]];
    p.in_stride[i] = stride[perm[i]];
    n *= p.out_shape[i];
  }
  if (n == 0) return;
  permute_k<<<grid_for(n, kBlock), kBlock, 0, stream()>>>(n, p, x, y);
  CHECK_LAUNCH("permute");
}

void copy_blocks(int64_t outer, int64_t block, const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  const int64_t n = outer * block;
  if (n <= 0) return;
  copy_blocks_k<<<grid_for(n, kBlock), kBlock, 0, stream()>>>(n, block, src, src_stride, dst, dst_stride);
  CHECK_LAUNCH("copy_blocks");
}

void col_sum(int64_t M, int64_t N, const float* x, float* y) {
  if (N <= 0) return;
  col_sum_k<<<(unsigned)ceil_div(N, kBlock), kBlock, 0, stream()>>>(M, N, x, y);
  CHECK_LAUNCH("col_sum");
}

void index_select0(int64_t n, int64_t C, const float* table, const int64_t* idx, float* y) {
  if (n * C <= 0) return;
  index_select0_k<<<grid_for(n * C, kBlock), kBlock, 0, stream()>>>(n, C, table, idx, y);
  CHECK_LAUNCH("index_select0");
}

void index_add0(int64_t n, int64_t R, int64_t C, const float* g, const int64_t* idx, float* dtable) {
  if (R * C <= 0) return;
  memset0(dtable, Device::CUDA, sizeof(float) * (size_t)(R * C));
  if (n == 0) return;
  index_add0_k<<<(unsigned)ceil_div(C, 32), 32, 0, stream()>>>(n, C, g, idx, dtable);
  CHECK_LAUNCH("index_add0");
}

}  // namespace ish::cuda
