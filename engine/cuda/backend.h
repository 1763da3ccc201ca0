// CUDA backend: the GPU twins of engine/cpu/cpu_ops.h, in fp32 (cuDNN convs, cuBLAS GEMMs,
// hand-written kernels from kernels/). All calls are asynchronous on the current stream.
// Compiled only when ISHSCALE_CUDA is defined; the rest of the engine reaches these kernels only
// through the backend table that engine/cuda/register.cpp fills (engine/backend.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/device_options.h"
#include "engine/dims.h"
#include "engine/dtype.h"

namespace ish::cuda {

// TF32 and determinism: engine/device_options.h (settable without CUDA, e.g. by the CLI).
using Options = ::ish::DeviceOptions;
inline Options& options() { return ::ish::device_options(); }

// Device probing and memory (engine/cuda/runtime.cpp); the engine reaches them through ish::dev.
bool cuda_available();
std::string cuda_unavailable_reason();
void* cuda_malloc(size_t bytes);
void cuda_free(void* p, size_t bytes);
// Stream-ordered; waits only when the host reads the result (to the CPU) or a pinned source.
void copy(void* dst, Device ddev, const void* src, Device sdev, size_t bytes);
void memset0(void* p, Device dev, size_t bytes);
void synchronize();

// Caching device allocator (engine/cuda/allocator.cpp): size-class free lists, reuse ordered on
// the one stream, so a warm training step never calls cudaMalloc. Counters since start.
struct AllocStats {
  int64_t cuda_mallocs = 0;      // real cudaMalloc calls
  int64_t allocs = 0;            // requests served
  int64_t bytes_in_use = 0;      // held by live tensors (rounded sizes)
  int64_t peak_bytes_in_use = 0;
  int64_t bytes_reserved = 0;    // in use + cached
};
AllocStats alloc_stats();
void reset_peak_bytes();
void empty_cache();  // cudaFree every cached block (after synchronising)

void gemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

void conv2d_fwd(const ConvDims& d, const float* x, const float* w, const float* b, float* y);
void conv2d_bwd_data(const ConvDims& d, const float* dy, const float* w, float* dx);
// dw may be null (a weight that needs no gradient): then only db, if given, is computed.
void conv2d_bwd_filter(const ConvDims& d, const float* x, const float* dy, float* dw, float* db);

void bn_train_fwd(int64_t M, int64_t C, const float* x, const float* gamma, const float* beta,
                  const float* residual, bool relu, double eps, double momentum, float* y, float* save_mean,
                  float* save_invstd, float* running_mean, float* running_var);
void bn_eval_fwd(int64_t M, int64_t C, const float* x, const float* gamma, const float* beta, const float* residual,
                 bool relu, double eps, const float* running_mean, const float* running_var, float* y);
// Eval-mode backward's statistics on the device (no host round trip): mean = running_mean,
// invstd = 1/sqrt(running_var + eps) in double, rounded once (as the CPU path).
void bn_eval_stats(int64_t C, const float* running_mean, const float* running_var, double eps, float* mean,
                   float* invstd);
void bn_bwd(int64_t M, int64_t C, bool training, const float* dy, const float* y, const float* x, const float* gamma,
            const float* mean, const float* invstd, float* dx, float* dgamma, float* dbeta, float* dresidual);

void maxpool_fwd(const PoolDims& d, const float* x, float* y, int64_t* idx);
void maxpool_bwd(const PoolDims& d, const float* dy, const int64_t* idx, float* dx);
void gap_fwd(int64_t N, int64_t HW, int64_t C, const float* x, float* y);
void gap_bwd(int64_t N, int64_t HW, int64_t C, const float* dy, float* dx);

// loss_out is a device pointer to one float (mean loss).
void cross_entropy_fwd(int64_t N, int64_t C, const float* logits, const int64_t* labels, double smoothing,
                       float* probs, float* loss_out);
void cross_entropy_bwd(int64_t N, int64_t C, const float* probs, const int64_t* labels, double smoothing,
                       const float* gout, float* dlogits);
// ops::train_stats_ on the device (one block, no host sync): stats = {loss sum, correct, first
// non-finite step, its loss} in double; loss (one float) may be null.
void train_stats(int64_t n, const float* loss, const int64_t* pred, const int64_t* labels, int64_t step,
                 double* stats);

// Row reductions over the last dim of x [N,D] (kernels/rows.cu), as engine/cpu/rows.cpp:
// argmax takes the first maximum (a NaN beats every number); sums accumulate in double.
void row_argmax(int64_t N, int64_t D, const float* x, int64_t* idx);
void row_gather(int64_t N, int64_t D, const float* x, const int64_t* idx, float* y);     // y[n] = x[n, idx[n]]
void row_scatter(int64_t N, int64_t D, const float* g, const int64_t* idx, float* dx);  // zeros, dx[n, idx[n]] = g[n]
void row_sum(int64_t N, int64_t D, const float* x, float* y);
void row_broadcast(int64_t N, int64_t D, const float* g, float* dx);  // dx[n,:] = g[n]

// Element-wise families used by the op layer (n elements).
enum class Unary { Relu, Exp, Log, Neg };
void unary(Unary op, int64_t n, const float* x, float* y);
void relu_bwd(int64_t n, const float* y, const float* dy, float* dx);  // dx = dy * (y > 0)
enum class Binary { Add, Sub, Mul };
void binary(Binary op, int64_t n, const float* a, const float* b, float* y);
void axpy(int64_t n, float alpha, const float* x, float* y);  // y += alpha*x
void scale_shift(int64_t n, const float* x, float scale, float shift, float* y);  // y = x*scale+shift
void clamp_max(int64_t n, const float* x, float hi, float* y);
void fill(int64_t n, float value, float* y);  // on the device: no host staging, no sync

// ISH: per row of x [N,D], keep the top-k of |x|, scale by exp(s1/s2) (or the strategy's factor),
// scatter into zeros. strategy is ops::IshStrategy's value; semantics as ops::ish_shape.
void ish_shape(int64_t N, int64_t D, int64_t k, int strategy, const float* x, float* out);

// SGD over many tensors in one launch: see ops::sgd_update_ (engine/ops.h) for the exact update.
struct SgdTensor { float* param; const float* grad; float* momentum; int64_t n; float weight_decay; };
void sgd_multi(const SgdTensor* tensors, int count, float lr, float momentum, float dampening, bool nesterov,
               bool first_step);

// uint8 NHWC image batch -> normalised float NHWC: (x/255 - mean[c]) / std[c].
void normalize_u8(int64_t n_pixels, const uint8_t* in, const float mean[3], const float std[3], float* out);

}  // namespace ish::cuda
