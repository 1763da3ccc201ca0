// CPU reference kernels of the transformer ops (engine/cpu/transformer.cpp), f32 and f64: LayerNorm,
// GELU, softmax rows, strided-batched GEMM, permute, block copies and column sums. Statistics and sums
// accumulate in double and round once; backward kernels ASSIGN their outputs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ish::cpu {

template <class T>
void gemm_batched(bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
                  int64_t sA, const T* B, int64_t ldb, int64_t sB, T beta, T* C, int64_t ldc, int64_t sC);
// y = (x - mean) * rstd * gamma + beta per row of x [M,D]; rstd = 1/sqrt(biased var + eps).
template <class T>
void layer_norm_fwd(int64_t M, int64_t D, const T* x, const T* gamma, const T* beta, double eps, T* y, T* mean,
                    T* rstd);
template <class T>
void layer_norm_bwd(int64_t M, int64_t D, const T* dy, const T* x, const T* gamma, const T* mean, const T* rstd,
                    T* dx, T* dgamma, T* dbeta);
template <class T> void gelu(int64_t n, const T* x, T* y);
template <class T> void gelu_bwd(int64_t n, const T* x, const T* dy, T* dx);
template <class T> void softmax(int64_t N, int64_t D, const T* x, T* y);
// Fused attention softmax (engine/cpu/attention.cpp): for x [B,H,Nq,Nk], y = softmax over the last dim of
// x*scale + bias[h] + mask[b mod nW], bias [H,Nq,Nk] and mask [nW,Nq,Nk] each optional (null). fp32 in
// float with a vectorised exp (2 ulp) and the row sum in double; fp64 in double.
template <class T>
void attn_softmax(int64_t B, int64_t H, int64_t Nq, int64_t Nk, const T* x, double scale, const T* bias,
                  const T* mask, int64_t nW, T* y);
// x of shape `shape` (rank <= 8) -> y with y.shape[i] = shape[perm[i]]; any element size.
void permute(const std::vector<int64_t>& shape, const std::vector<int>& perm, size_t elem, const void* x, void* y);
void copy_blocks(int64_t outer, int64_t block, size_t elem, const void* src, int64_t src_stride, void* dst,
                 int64_t dst_stride);
template <class T> void col_sum(int64_t M, int64_t N, const T* x, T* y);
template <class T> void index_select0(int64_t n, int64_t C, const T* table, const int64_t* idx, T* y);
template <class T> void index_add0(int64_t n, int64_t R, int64_t C, const T* g, const int64_t* idx, T* dtable);

}  // namespace ish::cpu
