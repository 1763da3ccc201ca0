// CPU reference backend: plain, readable loops (plus BLAS GEMM), templated on float and double
// (double serves the finite-difference checks). Every kernel of engine/cuda has its twin here;
// engine/cpu/register.cpp puts them in the CPU backend table (engine/backend.h).
// Backward kernels ASSIGN their outputs; the autograd layer accumulates.
#pragma once
#include <cstdint>

#include "engine/dims.h"
#include "engine/ops.h"

namespace ish::cpu {

// Row-major C[M,N] = alpha * op(A) op(B) + beta * C, op = transpose when tA/tB.
template <class T>
void gemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc);

template <class T> void conv2d_fwd(const ConvDims& d, const T* x, const T* w, const T* b, T* y);
// Eval-mode conv + BN + residual + ReLU in one pass: y = relu?(conv(x, w) * scale[k] + shift[k] + residual?),
// applied to each GEMM tile while it is in cache. Same arithmetic as conv2d_fwd then bn_eval_fwd.
template <class T>
void conv2d_bn_fwd(const ConvDims& d, const T* x, const T* w, const T* scale, const T* shift, const T* residual,
                   bool relu, T* y);
template <class T> void conv2d_bwd_data(const ConvDims& d, const T* dy, const T* w, T* dx);
// dw [K,R,S,C]; db [K] may be null.
template <class T> void conv2d_bwd_filter(const ConvDims& d, const T* x, const T* dy, T* dw, T* db);

// BatchNorm over x [M,C] (M = N*H*W). y = relu?(bn(x) + residual?). residual may be null.
// Train: writes save_mean and save_invstd (1/sqrt(var_biased+eps)) and updates running stats
// (running_var with var * M/(M-1)).
template <class T>
void bn_train_fwd(int64_t M, int64_t C, const T* x, const T* gamma, const T* beta, const T* residual, bool relu,
                  double eps, double momentum, T* y, T* save_mean, T* save_invstd, T* running_mean,
                  T* running_var);
// bn_eval_fwd's per-channel y = x * scale + shift (scale, shift [C]).
template <class T>
void bn_eval_fold(int64_t C, const T* gamma, const T* beta, double eps, const T* running_mean, const T* running_var,
                  T* scale, T* shift);
template <class T>
void bn_eval_fwd(int64_t M, int64_t C, const T* x, const T* gamma, const T* beta, const T* residual, bool relu,
                 double eps, const T* running_mean, const T* running_var, T* y);
// Backward. y is the forward output (for the ReLU mask; null when relu is false). mean/invstd are
// the saved batch statistics (train) or the running ones (eval, invstd = 1/sqrt(rv+eps)).
// dresidual may be null; dgamma/dbeta are assigned.
template <class T>
void bn_bwd(int64_t M, int64_t C, bool training, const T* dy, const T* y, const T* x, const T* gamma,
            const T* mean, const T* invstd, T* dx, T* dgamma, T* dbeta, T* dresidual);

template <class T> void maxpool_fwd(const PoolDims& d, const T* x, T* y, int64_t* idx);
template <class T> void maxpool_bwd(const PoolDims& d, const T* dy, const int64_t* idx, T* dx);
template <class T> void gap_fwd(int64_t N, int64_t HW, int64_t C, const T* x, T* y);
template <class T> void gap_bwd(int64_t N, int64_t HW, int64_t C, const T* dy, T* dx);

// Softmax cross-entropy over logits [N,C]: returns the mean loss, writes probs [N,C].
template <class T>
T cross_entropy_fwd(int64_t N, int64_t C, const T* logits, const int64_t* labels, double smoothing, T* probs);
// dlogits = gout * (probs - target) / N.
template <class T>
void cross_entropy_bwd(int64_t N, int64_t C, const T* probs, const int64_t* labels, double smoothing, T gout,
                       T* dlogits);

// Row-wise over the last dim of x [N,D] (engine/cpu/rows.cpp); sums in double.
template <class T> void row_sum(int64_t N, int64_t D, const T* x, T* y);
template <class T> void row_broadcast(int64_t N, int64_t D, const T* g, T* dx);
template <class T> void row_argmax(int64_t N, int64_t D, const T* x, int64_t* idx);  // first max; NaN wins
template <class T> void row_gather(int64_t N, int64_t D, const T* x, const int64_t* idx, T* y);
template <class T> void row_scatter(int64_t N, int64_t D, const T* g, const int64_t* idx, T* dx);
template <class T> void row_logsumexp(int64_t N, int64_t D, const T* x, T* y);
template <class T> void row_logsumexp_bwd(int64_t N, int64_t D, const T* g, const T* x, const T* y, T* dx);
template <class T> void log_softmax(int64_t N, int64_t D, const T* x, T* y);
template <class T> void log_softmax_bwd(int64_t N, int64_t D, const T* g, const T* y, T* dx);
template <class T> void softmax_bwd(int64_t N, int64_t D, const T* g, const T* y, T* dx);

// Training and input (engine/cpu/train_ops.cpp), semantics as engine/ops.h.
template <class T> void ish_shape(int64_t N, int64_t D, int64_t k, ops::IshStrategy s, const T* x, T* out);
// One tensor's SGD update; buf may be null when h.momentum == 0. Every product and sum rounded to T.
template <class T>
void sgd_update(int64_t n, T* p, const T* g, T* buf, double weight_decay, const ops::SgdHyper& h, bool first);
void normalize_u8(int64_t n_pixels, const uint8_t* in, const float mean[3], const float std[3], float* out);
// ops::train_stats_ after the argmax: n rows' predictions and labels; loss (one value) may be null.
template <class T>
void train_stats(int64_t n, const T* loss, const int64_t* pred, const int64_t* labels, int64_t step, double* stats);

}  // namespace ish::cpu
