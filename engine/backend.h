// One table of kernels per device. The op layer (engine/ops*.cpp) validates its inputs, allocates
// the outputs and calls the table of the tensors' device; it never names a backend.
//  - CPU: engine/cpu/register.cpp, always present (f32 and f64).
//  - CUDA: engine/cuda/register.cpp, linked only into CUDA builds, where it registers itself at
//    start-up. Without it, any work on a cuda tensor fails with one line saying so.
// A kernel a backend does not have keeps the default, which throws a one-line error naming the op
// and the device. Outputs are allocated by the caller; backward kernels ASSIGN their outputs.
#pragma once
#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "engine/dims.h"
#include "engine/ops.h"

namespace ish {

enum class UnaryOp { Relu, Exp, Log, Neg };
enum class BinaryOp { Add, Sub, Mul, Div };

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // ---- device memory (not used for the CPU, which engine/device.cpp serves directly) ----
  virtual bool available() const { return true; }
  virtual std::string unavailable_reason() const { return std::string(); }
  virtual void* alloc(size_t bytes);
  virtual void free(void* p, size_t bytes);
  // Copies where one side (or both) is this backend's device, as dev::copy (engine/device.h): the
  // host's memory is safe to use on return; device-side copies need not have finished.
  virtual void copy(void* dst, Device ddev, const void* src, Device sdev, size_t bytes);
  virtual void memset0(void* p, size_t bytes);
  virtual void synchronize() {}
  virtual void fill(Tensor& y, double v);

  // ---- the ResNet kernels (problem sizes as engine/dims.h) ----
  // Row-major C = op(A) op(B) + beta*C, op = transpose when tA/tB.
  virtual void gemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const Tensor& A, int64_t lda, const Tensor& B,
                    int64_t ldb, double beta, Tensor& C, int64_t ldc);
  virtual void conv2d_fwd(const ConvDims& d, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y);
  virtual void conv2d_bwd_data(const ConvDims& d, const Tensor& dy, const Tensor& w, Tensor& dx);
  // dw and db may each be undefined (a parameter that needs no gradient), not both.
  virtual void conv2d_bwd_filter(const ConvDims& d, const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db);
  // Optional: eval-mode conv + BN (+ residual, + ReLU) in one pass (ops::conv2d_bn). A backend without
  // it leaves has_conv2d_bn_eval() false and the op runs conv2d then batch_norm.
  virtual bool has_conv2d_bn_eval() const { return false; }
  virtual void conv2d_bn_eval_fwd(const ConvDims& d, const Tensor& x, const Tensor& w, const Tensor& gamma,
                                  const Tensor& beta, double eps, const Tensor& running_mean,
                                  const Tensor& running_var, const Tensor& residual, bool relu, Tensor& y);
  // BatchNorm over x [M,C]; residual, running stats, dx, dresidual may be undefined.
  virtual void bn_train_fwd(int64_t M, int64_t C, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            const Tensor& residual, bool relu, double eps, double momentum, Tensor& y,
                            Tensor& save_mean, Tensor& save_invstd, Tensor& running_mean, Tensor& running_var);
  virtual void bn_eval_fwd(int64_t M, int64_t C, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                           const Tensor& residual, bool relu, double eps, const Tensor& running_mean,
                           const Tensor& running_var, Tensor& y);
  // Eval-mode backward's statistics from the running ones: mean = running_mean, invstd =
  // 1/sqrt(running_var + eps), each computed in double and rounded once to the tensors' dtype.
  virtual void bn_eval_stats(int64_t C, const Tensor& running_mean, const Tensor& running_var, double eps,
                             Tensor& mean, Tensor& invstd);
  virtual void bn_bwd(int64_t M, int64_t C, bool training, const Tensor& dy, const Tensor& y, const Tensor& x,
                      const Tensor& gamma, const Tensor& mean, const Tensor& invstd, Tensor& dx, Tensor& dgamma,
                      Tensor& dbeta, Tensor& dresidual);
  virtual void maxpool_fwd(const PoolDims& d, const Tensor& x, Tensor& y, Tensor& idx);
  virtual void maxpool_bwd(const PoolDims& d, const Tensor& dy, const Tensor& idx, Tensor& dx);
  virtual void gap_fwd(int64_t N, int64_t HW, int64_t C, const Tensor& x, Tensor& y);
  virtual void gap_bwd(int64_t N, int64_t HW, int64_t C, const Tensor& dy, Tensor& dx);
  // Mean softmax cross-entropy of logits [N,C]: loss [] and probs [N,C]; backward scales by gout [].
  virtual void cross_entropy_fwd(const Tensor& logits, const Tensor& labels, double smoothing, Tensor& probs,
                                 Tensor& loss);
  virtual void cross_entropy_bwd(const Tensor& probs, const Tensor& labels, double smoothing, const Tensor& gout,
                                 Tensor& dlogits);

  // ---- element-wise (same numel) ----
  virtual void unary(UnaryOp op, const Tensor& x, Tensor& y);
  virtual void relu_bwd(const Tensor& y, const Tensor& dy, Tensor& dx);  // dx = dy * (y > 0)
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& y);
  virtual void axpy(double alpha, const Tensor& x, Tensor& y);  // y += alpha*x
  virtual void scale_shift(const Tensor& x, double scale, double shift, Tensor& y);  // y = x*scale + shift
  virtual void clamp_max(const Tensor& x, double hi, Tensor& y);
  virtual void clamp_max_bwd(const Tensor& x, double hi, const Tensor& dy, Tensor& dx);  // dy where x <= hi

  // ---- row-wise over the last dim of x [N,D] ----
  virtual void row_sum(const Tensor& x, Tensor& y);                            // y [N]
  virtual void row_broadcast(const Tensor& g, Tensor& dx);                     // dx[n,:] = g[n]
  virtual void row_argmax(const Tensor& x, Tensor& idx);                       // I64 [N], first max, NaN wins
  virtual void row_gather(const Tensor& x, const Tensor& idx, Tensor& y);      // y[n] = x[n, idx[n]]
  virtual void row_scatter(const Tensor& g, const Tensor& idx, Tensor& dx);    // zeros, dx[n, idx[n]] = g[n]
  virtual void row_logsumexp(const Tensor& x, Tensor& y);
  virtual void row_logsumexp_bwd(const Tensor& g, const Tensor& x, const Tensor& y, Tensor& dx);
  virtual void log_softmax(const Tensor& x, Tensor& y);
  virtual void log_softmax_bwd(const Tensor& g, const Tensor& y, Tensor& dx);  // y: the log-probabilities
  virtual void softmax_bwd(const Tensor& g, const Tensor& y, Tensor& dx);      // y: the probabilities

  // ---- transformer kernels (engine/cpu/transformer.cpp, kernels/transformer.cu) ----
  // Strided-batched row-major C[i] = op(A[i]) op(B[i]) + beta*C[i], i < batch; sA, sB, sC are the element
  // offsets between consecutive matrices.
  virtual void gemm_batched(bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K, const Tensor& A,
                            int64_t lda, int64_t sA, const Tensor& B, int64_t ldb, int64_t sB, double beta, Tensor& C,
                            int64_t ldc, int64_t sC);
  // LayerNorm over rows of x [M,D]; mean and rstd [M] are saved for the backward (dgamma, dbeta [D]).
  virtual void layer_norm_fwd(int64_t M, int64_t D, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              double eps, Tensor& y, Tensor& mean, Tensor& rstd);
  virtual void layer_norm_bwd(int64_t M, int64_t D, const Tensor& dy, const Tensor& x, const Tensor& gamma,
                              const Tensor& mean, const Tensor& rstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta);
  virtual void gelu(const Tensor& x, Tensor& y);
  virtual void gelu_bwd(const Tensor& x, const Tensor& dy, Tensor& dx);
  virtual void softmax(const Tensor& x, Tensor& y);  // rows of x [N,D]
  // Attention scores x [B,H,Nq,Nk] -> y = softmax over the last dim of x*scale + bias[h] + mask[b mod nW];
  // bias [H,Nq,Nk] and mask [nW,Nq,Nk] may each be undefined (ops::attention_softmax).
  virtual void attn_softmax(const Tensor& x, double scale, const Tensor& bias, const Tensor& mask, Tensor& y);
  virtual void permute(const Tensor& x, const std::vector<int>& perm, Tensor& y);  // y.shape[i] = x.shape[perm[i]]
  // For o < outer, j < block: dst[dst_off + o*dst_stride + j] = src[src_off + o*src_stride + j] (elements;
  // src_stride 0 repeats one block).
  virtual void copy_blocks(int64_t outer, int64_t block, const Tensor& src, int64_t src_stride, int64_t src_off,
                           Tensor& dst, int64_t dst_stride, int64_t dst_off);
  virtual void col_sum(const Tensor& x, Tensor& y);  // x [M,N] -> y [N], summed in double
  // y[i,:] = table[idx[i],:]; index_add0 ASSIGNS dtable = 0 then dtable[idx[i],:] += g[i,:] in order of i.
  virtual void index_select0(const Tensor& table, const Tensor& idx, Tensor& y);
  virtual void index_add0(const Tensor& g, const Tensor& idx, Tensor& dtable);

  // ---- training and input ----
  virtual void ish_shape(const Tensor& x, int64_t k, ops::IshStrategy s, Tensor& out);  // x, out [N,D]
  virtual void sgd_update(const std::vector<ops::SgdParam>& ps, const ops::SgdHyper& h, bool first_step);
  // ops::train_stats_ given the rows' argmax `pred` (I64 [n]); loss may be undefined; stats F64.
  virtual void train_stats(const Tensor& loss, const Tensor& pred, const Tensor& labels, int64_t step,
                           Tensor& stats);
  virtual void normalize_u8(const Tensor& x, const std::array<float, 3>& mean, const std::array<float, 3>& std,
                            Tensor& y);

 protected:
  [[noreturn]] void unsupported(const char* op) const;
};

Backend& cpu_backend();  // engine/cpu/register.cpp
// The registered table of a non-CPU device, or null (CPU builds have no CUDA table).
Backend* find_backend(Device dev);
// Called once at start-up by engine/cuda/register.cpp (a static object there).
void register_backend(Device dev, Backend* b);
// The registered table of a non-CPU device, else a one-line error naming the op.
Backend& device_backend(Device dev, const char* op);
// The table of a device: the CPU's always; the CUDA one only in CUDA builds.
inline Backend& backend(Device dev, const char* op) {
  return dev == Device::CPU ? cpu_backend() : device_backend(dev, op);
}

}  // namespace ish
