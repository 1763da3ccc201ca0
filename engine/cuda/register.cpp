// The CUDA backend table: the fp32 kernels of engine/cuda/ and kernels/ behind engine/backend.h.
// The one place that registers the CUDA backend: a static object here does it at start-up. The
// Makefile links this file into every CUDA build (-u ishscale_cuda_backend), so a static library
// cannot drop it.
#include "engine/backend.h"
#include "engine/cuda/backend.h"
#include "engine/cuda/transformer.h"

namespace ish {
namespace {

const float* f(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
float* f(Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

cuda::Unary to_cuda(UnaryOp op) {
  switch (op) {
    case UnaryOp::Relu: return cuda::Unary::Relu;
    case UnaryOp::Exp: return cuda::Unary::Exp;
    case UnaryOp::Log: return cuda::Unary::Log;
    case UnaryOp::Neg: return cuda::Unary::Neg;
  }
  return cuda::Unary::Relu;
}

class CudaBackend final : public Backend {
 public:
  const char* name() const override { return "cuda"; }

  bool available() const override { return cuda::cuda_available(); }
  std::string unavailable_reason() const override { return cuda::cuda_unavailable_reason(); }
  void* alloc(size_t bytes) override { return cuda::cuda_malloc(bytes); }
  void free(void* p, size_t bytes) override { cuda::cuda_free(p, bytes); }
  void copy(void* dst, Device ddev, const void* src, Device sdev, size_t bytes) override {
    cuda::copy(dst, ddev, src, sdev, bytes);
  }
  void memset0(void* p, size_t bytes) override { cuda::memset0(p, Device::CUDA, bytes); }
  void synchronize() override { cuda::synchronize(); }
  void fill(Tensor& y, double v) override { cuda::fill(y.numel(), (float)v, f(y)); }

  void gemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const Tensor& A, int64_t lda, const Tensor& B,
            int64_t ldb, double beta, Tensor& C, int64_t ldc) override {
    cuda::gemm(tA, tB, M, N, K, 1.f, f(A), lda, f(B), ldb, (float)beta, f(C), ldc);
  }
  void conv2d_fwd(const ConvDims& d, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) override {
    cuda::conv2d_fwd(d, f(x), f(w), f(b), f(y));
  }
  void conv2d_bwd_data(const ConvDims& d, const Tensor& dy, const Tensor& w, Tensor& dx) override {
    cuda::conv2d_bwd_data(d, f(dy), f(w), f(dx));
  }
  void conv2d_bwd_filter(const ConvDims& d, const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db) override {
    cuda::conv2d_bwd_filter(d, f(x), f(dy), f(dw), f(db));
  }
  void bn_train_fwd(int64_t M, int64_t C, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                    const Tensor& residual, bool relu, double eps, double momentum, Tensor& y, Tensor& save_mean,
                    Tensor& save_invstd, Tensor& running_mean, Tensor& running_var) override {
    cuda::bn_train_fwd(M, C, f(x), f(gamma), f(beta), f(residual), relu, eps, momentum, f(y), f(save_mean),
                       f(save_invstd), f(running_mean), f(running_var));
  }
  void bn_eval_fwd(int64_t M, int64_t C, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                   const Tensor& residual, bool relu, double eps, const Tensor& running_mean,
                   const Tensor& running_var, Tensor& y) override {
    cuda::bn_eval_fwd(M, C, f(x), f(gamma), f(beta), f(residual), relu, eps, f(running_mean), f(running_var), f(y));
  }
  void bn_eval_stats(int64_t C, const Tensor& running_mean, const Tensor& running_var, double eps, Tensor& mean,
                     Tensor& invstd) override {
    cuda::bn_eval_stats(C, f(running_mean), f(running_var), eps, f(mean), f(invstd));
  }
  void bn_bwd(int64_t M, int64_t C, bool training, const Tensor& dy, const Tensor& y, const Tensor& x,
              const Tensor& gamma, const Tensor& mean, const Tensor& invstd, Tensor& dx, Tensor& dgamma,
              Tensor& dbeta, Tensor& dresidual) override {
    cuda::bn_bwd(M, C, training, f(dy), f(y), f(x), f(gamma), f(mean), f(invstd), f(dx), f(dgamma), f(dbeta),
                 f(dresidual));
  }
  void maxpool_fwd(const PoolDims& d, const Tensor& x, Tensor& y, Tensor& idx) override {
    cuda::maxpool_fwd(d, f(x), f(y), idx.data<int64_t>());
  }
  void maxpool_bwd(const PoolDims& d, const Tensor& dy, const Tensor& idx, Tensor& dx) override {
    cuda::maxpool_bwd(d, f(dy), idx.data<int64_t>(), f(dx));
  }
  void gap_fwd(int64_t N, int64_t HW, int64_t C, const Tensor& x, Tensor& y) override {
    cuda::gap_fwd(N, HW, C, f(x), f(y));
  }
  void gap_bwd(int64_t N, int64_t HW, int64_t C, const Tensor& dy, Tensor& dx) override {
    cuda::gap_bwd(N, HW, C, f(dy), f(dx));
  }
  void cross_entropy_fwd(const Tensor& logits, const Tensor& labels, double smoothing, Tensor& probs,
                         Tensor& loss) override {
    cuda::cross_entropy_fwd(logits.size(0), logits.size(1), f(logits), labels.data<int64_t>(), smoothing, f(probs),
                            f(loss));
  }
  void cross_entropy_bwd(const Tensor& probs, const Tensor& labels, double smoothing, const Tensor& gout,
                         Tensor& dlogits) override {
    cuda::cross_entropy_bwd(probs.size(0), probs.size(1), f(probs), labels.data<int64_t>(), smoothing, f(gout),
                            f(dlogits));
  }

  void unary(UnaryOp op, const Tensor& x, Tensor& y) override { cuda::unary(to_cuda(op), x.numel(), f(x), f(y)); }
  void relu_bwd(const Tensor& y, const Tensor& dy, Tensor& dx) override {
    cuda::relu_bwd(dy.numel(), f(y), f(dy), f(dx));
  }
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& y) override {
    cuda::Binary c = cuda::Binary::Add;
    switch (op) {
      case BinaryOp::Add: c = cuda::Binary::Add; break;
      case BinaryOp::Sub: c = cuda::Binary::Sub; break;
      case BinaryOp::Mul: c = cuda::Binary::Mul; break;
      case BinaryOp::Div: unsupported("element-wise division (the backward of log)");
    }
    cuda::binary(c, a.numel(), f(a), f(b), f(y));
  }
  void axpy(double alpha, const Tensor& x, Tensor& y) override { cuda::axpy(y.numel(), (float)alpha, f(x), f(y)); }
  void scale_shift(const Tensor& x, double scale, double shift, Tensor& y) override {
    cuda::scale_shift(x.numel(), f(x), (float)scale, (float)shift, f(y));
  }
  void clamp_max(const Tensor& x, double hi, Tensor& y) override { cuda::clamp_max(x.numel(), f(x), (float)hi, f(y)); }

  void row_sum(const Tensor& x, Tensor& y) override { cuda::row_sum(x.size(0), x.size(1), f(x), f(y)); }
  void row_broadcast(const Tensor& g, Tensor& dx) override {
    cuda::row_broadcast(dx.size(0), dx.size(1), f(g), f(dx));
  }
  void row_argmax(const Tensor& x, Tensor& idx) override {
    cuda::row_argmax(x.size(0), x.size(1), f(x), idx.data<int64_t>());
  }
  void row_gather(const Tensor& x, const Tensor& idx, Tensor& y) override {
    cuda::row_gather(x.size(0), x.size(1), f(x), idx.data<int64_t>(), f(y));
  }
  void row_scatter(const Tensor& g, const Tensor& idx, Tensor& dx) override {
    cuda::row_scatter(dx.size(0), dx.size(1), f(g), idx.data<int64_t>(), f(dx));
  }

  void softmax_bwd(const Tensor& g, const Tensor& y, Tensor& dx) override {
    cuda::softmax_bwd(y.size(0), y.size(1), f(g), f(y), f(dx));
  }

  void gemm_batched(bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K, const Tensor& A, int64_t lda,
                    int64_t sA, const Tensor& B, int64_t ldb, int64_t sB, double beta, Tensor& C, int64_t ldc,
                    int64_t sC) override {
    cuda::gemm_batched(tA, tB, batch, M, N, K, f(A), lda, sA, f(B), ldb, sB, (float)beta, f(C), ldc, sC);
  }
  void layer_norm_fwd(int64_t M, int64_t D, const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                      Tensor& y, Tensor& mean, Tensor& rstd) override {
    cuda::layer_norm_fwd(M, D, f(x), f(gamma), f(beta), eps, f(y), f(mean), f(rstd));
  }
  void layer_norm_bwd(int64_t M, int64_t D, const Tensor& dy, const Tensor& x, const Tensor& gamma,
                      const Tensor& mean, const Tensor& rstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta) override {
    cuda::layer_norm_bwd(M, D, f(dy), f(x), f(gamma), f(mean), f(rstd), f(dx), f(dgamma), f(dbeta));
  }
  void gelu(const Tensor& x, Tensor& y) override { cuda::gelu(x.numel(), f(x), f(y)); }
  void gelu_bwd(const Tensor& x, const Tensor& dy, Tensor& dx) override {
    cuda::gelu_bwd(x.numel(), f(x), f(dy), f(dx));
  }
  void softmax(const Tensor& x, Tensor& y) override { cuda::softmax(x.size(0), x.size(1), f(x), f(y)); }
  void attn_softmax(const Tensor& x, double scale, const Tensor& bias, const Tensor& mask, Tensor& y) override {
    cuda::attn_softmax(x.size(0), x.size(1), x.size(2), x.size(3), f(x), (float)scale,
                       bias.defined() ? f(bias) : nullptr, mask.defined() ? f(mask) : nullptr,
                       mask.defined() ? mask.size(0) : 1, f(y));
  }
  void permute(const Tensor& x, const std::vector<int>& perm, Tensor& y) override {
    cuda::permute(x.shape(), perm, f(x), f(y));
  }
  void copy_blocks(int64_t outer, int64_t block, const Tensor& src, int64_t src_stride, int64_t src_off, Tensor& dst,
                   int64_t dst_stride, int64_t dst_off) override {
    cuda::copy_blocks(outer, block, f(src) + src_off, src_stride, f(dst) + dst_off, dst_stride);
  }
  void col_sum(const Tensor& x, Tensor& y) override { cuda::col_sum(x.size(0), x.size(1), f(x), f(y)); }
  void index_select0(const Tensor& table, const Tensor& idx, Tensor& y) override {
    cuda::index_select0(idx.numel(), table.size(1), f(table), idx.data<int64_t>(), f(y));
  }
  void index_add0(const Tensor& g, const Tensor& idx, Tensor& dtable) override {
    cuda::index_add0(idx.numel(), dtable.size(0), dtable.size(1), f(g), idx.data<int64_t>(), f(dtable));
  }

  void ish_shape(const Tensor& x, int64_t k, ops::IshStrategy s, Tensor& out) override {
    cuda::ish_shape(x.size(0), x.size(1), k, (int)s, f(x), f(out));
  }
  void sgd_update(const std::vector<ops::SgdParam>& ps, const ops::SgdHyper& h, bool first) override {
    std::vector<cuda::SgdTensor> ts;
    ts.reserve(ps.size());
    for (const ops::SgdParam& p : ps) {
      Tensor param = p.param, buf = p.momentum_buffer;
      ts.push_back({f(param), f(p.grad), f(buf), param.numel(), (float)p.weight_decay});
    }
    if (!ts.empty())
      cuda::sgd_multi(ts.data(), (int)ts.size(), (float)h.lr, (float)h.momentum, (float)h.dampening, h.nesterov,
                      first);
  }
  void train_stats(const Tensor& loss, const Tensor& pred, const Tensor& labels, int64_t step,
                   Tensor& stats) override {
    static_assert(ops::kLossSum == 0 && ops::kCorrect == 1 && ops::kBadStep == 2 && ops::kBadLoss == 3,
                  "kernels/loss.cu's train_stats_k indexes the statistics by these numbers");
    cuda::train_stats(pred.numel(), f(loss), pred.data<int64_t>(), labels.data<int64_t>(), step,
                      stats.data<double>());
  }
  void normalize_u8(const Tensor& x, const std::array<float, 3>& mean, const std::array<float, 3>& std,
                    Tensor& y) override {
    cuda::normalize_u8(x.numel() / 3, x.data<uint8_t>(), mean.data(), std.data(), f(y));
  }
};

CudaBackend g_cuda;
struct Registration {
  Registration() { register_backend(Device::CUDA, &g_cuda); }
} g_registration;

}  // namespace
}  // namespace ish

// Referenced by the link line (-u) of CUDA builds so that this object is always linked.
extern "C" {
int ishscale_cuda_backend = 1;
}
