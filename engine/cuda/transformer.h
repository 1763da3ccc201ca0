// CUDA twins of the transformer kernels of engine/cpu/transformer.h (kernels/transformer.cu), fp32:
// cuBLAS strided-batched GEMM, LayerNorm, GELU, softmax rows and its backward, permute, block copies
// and column sums. Row reductions are one block per row with a fixed-order tree (deterministic);
// statistics accumulate in double, as the CPU reference does.
#pragma once
#include <cstdint>
#include <vector>

namespace ish::cuda {

void gemm_batched(bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                  int64_t sA, const float* B, int64_t ldb, int64_t sB, float beta, float* C, int64_t ldc, int64_t sC);
void layer_norm_fwd(int64_t M, int64_t D, const float* x, const float* gamma, const float* beta, double eps, float* y,
                    float* mean, float* rstd);
void layer_norm_bwd(int64_t M, int64_t D, const float* dy, const float* x, const float* gamma, const float* mean,
                    const float* rstd, float* dx, float* dgamma, float* dbeta);
void gelu(int64_t n, const float* x, float* y);
void gelu_bwd(int64_t n, const float* x, const float* dy, float* dx);
void softmax(int64_t N, int64_t D, const float* x, float* y);
void softmax_bwd(int64_t N, int64_t D, const float* g, const float* y, float* dx);  // y: the probabilities
// Fused attention softmax over x [B,H,Nq,Nk]: y = softmax_last(x*scale + bias[h] + mask[b mod nW]), bias
// [H,Nq,Nk] and mask [nW,Nq,Nk] optional (null). A warp per row, float exp, the row sum in double.
void attn_softmax(int64_t B, int64_t H, int64_t Nq, int64_t Nk, const float* x, float scale, const float* bias,
                  const float* mask, int64_t nW, float* y);
// x of shape `shape` (rank <= 8) -> y with y.shape[i] = shape[perm[i]].
void permute(const std::vector<int64_t>& shape, const std::vector<int>& perm, const float* x, float* y);
// dst[o*dst_stride + j] = src[o*src_stride + j] for o < outer, j < block (src_stride 0 repeats a block).
void copy_blocks(int64_t outer, int64_t block, const float* src, int64_t src_stride, float* dst, int64_t dst_stride);
void col_sum(int64_t M, int64_t N, const float* x, float* y);  // y[j] = sum_m x[m, j], in double
// y[i,:] = table[idx[i],:]; index_add0: dtable = 0, then dtable[idx[i],:] += g[i,:] in order of i (a thread
// per column: deterministic, no atomics; meant for small tables such as Swin's relative position bias).
void index_select0(int64_t n, int64_t C, const float* table, const int64_t* idx, float* y);
void index_add0(int64_t n, int64_t R, int64_t C, const float* g, const int64_t* idx, float* dtable);

}  // namespace ish::cuda
