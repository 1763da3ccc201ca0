// The CPU backend table: the kernels of engine/cpu/ behind engine/backend.h, for f32 and f64
// tensors. Element-wise kernels evaluate in double and round once to the element type.
#include <cmath>
#include <vector>

#include "engine/backend.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/transformer.h"

namespace ish {
namespace {

// Runs BODY with T bound to the C++ type of dtype DT (F32 or F64).
#define ISH_CPU_FLOAT_DISPATCH(DT, ...)                                \
  do {                                                                  \
    if ((DT) == ::ish::DType::F64) { using T = double; __VA_ARGS__; }   \
    else { using T = float; __VA_ARGS__; }                              \
  } while (0)

template <class T> const T* cptr(const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }
template <class T> T* mptr(Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }

template <class T, class F> void map1_t(const Tensor& x, Tensor& y, F f) {
  const int64_t n = x.numel();
  const T* a = x.data<T>();
  T* o = y.data<T>();
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) o[i] = (T)f((double)a[i]);
}
template <class T, class F> void map2_t(const Tensor& a, const Tensor& b, Tensor& y, F f) {
  const int64_t n = a.numel();
  const T *p = a.data<T>(), *q = b.data<T>();
  T* o = y.data<T>();
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) o[i] = f(p[i], q[i]);
}
// y[i] = f(x[i]), f on doubles.
template <class F> void map1(const Tensor& x, Tensor& y, F f) { ISH_CPU_FLOAT_DISPATCH(x.dtype(), map1_t<T>(x, y, f)); }
// y[i] = f(a[i], b[i]) in the element type (F is a generic lambda).
template <class F> void map2(const Tensor& a, const Tensor& b, Tensor& y, F f) {
  ISH_CPU_FLOAT_DISPATCH(a.dtype(), map2_t<T>(a, b, y, f));
}

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }

  void gemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const Tensor& A, int64_t lda, const Tensor& B,
            int64_t ldb, double beta, Tensor& C, int64_t ldc) override {
    ISH_CPU_FLOAT_DISPATCH(C.dtype(), cpu::gemm<T>(tA, tB, M, N, K, T(1), A.data<T>(), lda, B.data<T>(), ldb,
                                                    (T)beta, C.data<T>(), ldc));
  }
  void conv2d_fwd(const ConvDims& d, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::conv2d_fwd<T>(d, x.data<T>(), w.data<T>(), cptr<T>(b), y.data<T>()));
  }
  void conv2d_bwd_data(const ConvDims& d, const Tensor& dy, const Tensor& w, Tensor& dx) override {
    ISH_CPU_FLOAT_DISPATCH(dy.dtype(), cpu::conv2d_bwd_data<T>(d, dy.data<T>(), w.data<T>(), dx.data<T>()));
  }
  void conv2d_bwd_filter(const ConvDims& d, const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db) override {
    // The CPU kernel computes dw and db together: a scratch dw when only db is wanted.
    Tensor dwc = dw.defined() ? dw : Tensor::empty({d.K, d.R, d.S, d.C}, x.dtype(), x.device());
    ISH_CPU_FLOAT_DISPATCH(x.dtype(),
                           cpu::conv2d_bwd_filter<T>(d, x.data<T>(), dy.data<T>(), dwc.data<T>(), mptr<T>(db)));
  }
  bool has_conv2d_bn_eval() const override { return true; }
  void conv2d_bn_eval_fwd(const ConvDims& d, const Tensor& x, const Tensor& w, const Tensor& gamma, const Tensor& beta,
                          double eps, const Tensor& running_mean, const Tensor& running_var, const Tensor& residual,
                          bool relu, Tensor& y) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), {
      std::vector<T> scale((size_t)d.K), shift((size_t)d.K);
      cpu::bn_eval_fold<T>(d.K, gamma.data<T>(), beta.data<T>(), eps, running_mean.data<T>(), running_var.data<T>(),
                           scale.data(), shift.data());
      cpu::conv2d_bn_fwd<T>(d, x.data<T>(), w.data<T>(), scale.data(), shift.data(), cptr<T>(residual), relu,
                            y.data<T>());
    });
  }
  void bn_train_fwd(int64_t M, int64_t C, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                    const Tensor& residual, bool relu, double eps, double momentum, Tensor& y, Tensor& save_mean,
                    Tensor& save_invstd, Tensor& running_mean, Tensor& running_var) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::bn_train_fwd<T>(M, C, x.data<T>(), gamma.data<T>(), beta.data<T>(),
                                                            cptr<T>(residual), relu, eps, momentum, y.data<T>(),
                                                            save_mean.data<T>(), save_invstd.data<T>(),
                                                            mptr<T>(running_mean), mptr<T>(running_var)));
  }
  void bn_eval_fwd(int64_t M, int64_t C, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                   const Tensor& residual, bool relu, double eps, const Tensor& running_mean,
                   const Tensor& running_var, Tensor& y) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::bn_eval_fwd<T>(M, C, x.data<T>(), gamma.data<T>(), beta.data<T>(),
                                                           cptr<T>(residual), relu, eps, running_mean.data<T>(),
                                                           running_var.data<T>(), y.data<T>()));
  }
  void bn_eval_stats(int64_t C, const Tensor& running_mean, const Tensor& running_var, double eps, Tensor& mean,
                     Tensor& invstd) override {
    ISH_CPU_FLOAT_DISPATCH(mean.dtype(), {
      const T *rm = running_mean.data<T>(), *rv = running_var.data<T>();
      T *m = mean.data<T>(), *is = invstd.data<T>();
      for (int64_t c = 0; c < C; c++) {
        m[c] = rm[c];
        is[c] = (T)(1.0 / std::sqrt((double)rv[c] + eps));
      }
    });
  }
  void bn_bwd(int64_t M, int64_t C, bool training, const Tensor& dy, const Tensor& y, const Tensor& x,
              const Tensor& gamma, const Tensor& mean, const Tensor& invstd, Tensor& dx, Tensor& dgamma,
              Tensor& dbeta, Tensor& dresidual) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::bn_bwd<T>(M, C, training, dy.data<T>(), cptr<T>(y), x.data<T>(),
                                                      gamma.data<T>(), mean.data<T>(), invstd.data<T>(), mptr<T>(dx),
                                                      dgamma.data<T>(), dbeta.data<T>(), mptr<T>(dresidual)));
  }
  void maxpool_fwd(const PoolDims& d, const Tensor& x, Tensor& y, Tensor& idx) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::maxpool_fwd<T>(d, x.data<T>(), y.data<T>(), idx.data<int64_t>()));
  }
  void maxpool_bwd(const PoolDims& d, const Tensor& dy, const Tensor& idx, Tensor& dx) override {
    ISH_CPU_FLOAT_DISPATCH(dy.dtype(), cpu::maxpool_bwd<T>(d, dy.data<T>(), idx.data<int64_t>(), dx.data<T>()));
  }
  void gap_fwd(int64_t N, int64_t HW, int64_t C, const Tensor& x, Tensor& y) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::gap_fwd<T>(N, HW, C, x.data<T>(), y.data<T>()));
  }
  void gap_bwd(int64_t N, int64_t HW, int64_t C, const Tensor& dy, Tensor& dx) override {
    ISH_CPU_FLOAT_DISPATCH(dy.dtype(), cpu::gap_bwd<T>(N, HW, C, dy.data<T>(), dx.data<T>()));
  }
  void cross_entropy_fwd(const Tensor& logits, const Tensor& labels, double smoothing, Tensor& probs,
                         Tensor& loss) override {
    const int64_t N = logits.size(0), C = logits.size(1);
    ISH_CPU_FLOAT_DISPATCH(logits.dtype(), loss.data<T>()[0] = cpu::cross_entropy_fwd<T>(
                                               N, C, logits.data<T>(), labels.data<int64_t>(), smoothing,
                                               probs.data<T>()));
  }
  void cross_entropy_bwd(const Tensor& probs, const Tensor& labels, double smoothing, const Tensor& gout,
                         Tensor& dlogits) override {
    const int64_t N = probs.size(0), C = probs.size(1);
    ISH_CPU_FLOAT_DISPATCH(probs.dtype(), cpu::cross_entropy_bwd<T>(N, C, probs.data<T>(), labels.data<int64_t>(),
                                                                    smoothing, gout.data<T>()[0], dlogits.data<T>()));
  }

  void unary(UnaryOp op, const Tensor& x, Tensor& y) override {
    switch (op) {
      case UnaryOp::Relu: map1(x, y, [](double v) { return v < 0 ? 0.0 : v; }); break;
      case UnaryOp::Exp: map1(x, y, [](double v) { return std::exp(v); }); break;
      case UnaryOp::Log: map1(x, y, [](double v) { return std::log(v); }); break;
      case UnaryOp::Neg: map1(x, y, [](double v) { return -v; }); break;
    }
  }
  void relu_bwd(const Tensor& y, const Tensor& dy, Tensor& dx) override {
    map2(dy, y, dx, [](auto g, auto v) { return v > decltype(v)(0) ? g : decltype(v)(0); });
  }
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& y) override {
    switch (op) {
      case BinaryOp::Add: map2(a, b, y, [](auto p, auto q) { return p + q; }); break;
      case BinaryOp::Sub: map2(a, b, y, [](auto p, auto q) { return p - q; }); break;
      case BinaryOp::Mul: map2(a, b, y, [](auto p, auto q) { return p * q; }); break;
      case BinaryOp::Div: map2(a, b, y, [](auto p, auto q) { return p / q; }); break;
    }
  }
  void axpy(double alpha, const Tensor& x, Tensor& y) override {
    ISH_CPU_FLOAT_DISPATCH(y.dtype(), {
      const int64_t n = y.numel();
      const T a = (T)alpha;
      const T* s = x.data<T>();
      T* d = y.data<T>();
      if (alpha == 1) for (int64_t i = 0; i < n; i++) d[i] += s[i];
      else for (int64_t i = 0; i < n; i++) d[i] += a * s[i];
    });
  }
  void scale_shift(const Tensor& x, double scale, double shift, Tensor& y) override {
    map1(x, y, [=](double v) { return v * scale + shift; });
  }
  void clamp_max(const Tensor& x, double hi, Tensor& y) override {
    map1(x, y, [=](double v) { return v > hi ? hi : v; });
  }
  void clamp_max_bwd(const Tensor& x, double hi, const Tensor& dy, Tensor& dx) override {
    map2(dy, x, dx, [=](auto g, auto v) { return (double)v <= hi ? g : decltype(g)(0); });
  }

  void row_sum(const Tensor& x, Tensor& y) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::row_sum<T>(x.size(0), x.size(1), x.data<T>(), y.data<T>()));
  }
  void row_broadcast(const Tensor& g, Tensor& dx) override {
    ISH_CPU_FLOAT_DISPATCH(g.dtype(), cpu::row_broadcast<T>(dx.size(0), dx.size(1), g.data<T>(), dx.data<T>()));
  }
  void row_argmax(const Tensor& x, Tensor& idx) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::row_argmax<T>(x.size(0), x.size(1), x.data<T>(), idx.data<int64_t>()));
  }
  void row_gather(const Tensor& x, const Tensor& idx, Tensor& y) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::row_gather<T>(x.size(0), x.size(1), x.data<T>(), idx.data<int64_t>(),
                                                          y.data<T>()));
  }
  void row_scatter(const Tensor& g, const Tensor& idx, Tensor& dx) override {
    ISH_CPU_FLOAT_DISPATCH(g.dtype(), cpu::row_scatter<T>(dx.size(0), dx.size(1), g.data<T>(),
                                                           idx.data<int64_t>(), dx.data<T>()));
  }
  void row_logsumexp(const Tensor& x, Tensor& y) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::row_logsumexp<T>(x.size(0), x.size(1), x.data<T>(), y.data<T>()));
  }
  void row_logsumexp_bwd(const Tensor& g, const Tensor& x, const Tensor& y, Tensor& dx) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::row_logsumexp_bwd<T>(x.size(0), x.size(1), g.data<T>(), x.data<T>(),
                                                                 y.data<T>(), dx.data<T>()));
  }
  void log_softmax(const Tensor& x, Tensor& y) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::log_softmax<T>(x.size(0), x.size(1), x.data<T>(), y.data<T>()));
  }
  void log_softmax_bwd(const Tensor& g, const Tensor& y, Tensor& dx) override {
    ISH_CPU_FLOAT_DISPATCH(y.dtype(), cpu::log_softmax_bwd<T>(y.size(0), y.size(1), g.data<T>(), y.data<T>(),
                                                               dx.data<T>()));
  }
  void softmax_bwd(const Tensor& g, const Tensor& y, Tensor& dx) override {
    ISH_CPU_FLOAT_DISPATCH(y.dtype(), cpu::softmax_bwd<T>(y.size(0), y.size(1), g.data<T>(), y.data<T>(),
                                                           dx.data<T>()));
  }

  void gemm_batched(bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K, const Tensor& A, int64_t lda,
                    int64_t sA, const Tensor& B, int64_t ldb, int64_t sB, double beta, Tensor& C, int64_t ldc,
                    int64_t sC) override {
    ISH_CPU_FLOAT_DISPATCH(C.dtype(), cpu::gemm_batched<T>(tA, tB, batch, M, N, K, A.data<T>(), lda, sA, B.data<T>(),
                                                            ldb, sB, (T)beta, C.data<T>(), ldc, sC));
  }
  void layer_norm_fwd(int64_t M, int64_t D, const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                      Tensor& y, Tensor& mean, Tensor& rstd) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::layer_norm_fwd<T>(M, D, x.data<T>(), gamma.data<T>(), beta.data<T>(), eps,
                                                              y.data<T>(), mean.data<T>(), rstd.data<T>()));
  }
  void layer_norm_bwd(int64_t M, int64_t D, const Tensor& dy, const Tensor& x, const Tensor& gamma,
                      const Tensor& mean, const Tensor& rstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::layer_norm_bwd<T>(M, D, dy.data<T>(), x.data<T>(), gamma.data<T>(),
                                                              mean.data<T>(), rstd.data<T>(), mptr<T>(dx),
                                                              dgamma.data<T>(), dbeta.data<T>()));
  }
  void gelu(const Tensor& x, Tensor& y) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::gelu<T>(x.numel(), x.data<T>(), y.data<T>()));
  }
  void gelu_bwd(const Tensor& x, const Tensor& dy, Tensor& dx) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::gelu_bwd<T>(x.numel(), x.data<T>(), dy.data<T>(), dx.data<T>()));
  }
  void softmax(const Tensor& x, Tensor& y) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::softmax<T>(x.size(0), x.size(1), x.data<T>(), y.data<T>()));
  }
  void attn_softmax(const Tensor& x, double scale, const Tensor& bias, const Tensor& mask, Tensor& y) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::attn_softmax<T>(x.size(0), x.size(1), x.size(2), x.size(3), x.data<T>(),
                                                            scale, cptr<T>(bias), cptr<T>(mask),
                                                            mask.defined() ? mask.size(0) : 1, y.data<T>()));
  }
  void permute(const Tensor& x, const std::vector<int>& perm, Tensor& y) override {
    cpu::permute(x.shape(), perm, itemsize(x.dtype()), x.raw(), y.raw());
  }
  void copy_blocks(int64_t outer, int64_t block, const Tensor& src, int64_t src_stride, int64_t src_off, Tensor& dst,
                   int64_t dst_stride, int64_t dst_off) override {
    const size_t e = itemsize(src.dtype());
    cpu::copy_blocks(outer, block, e, static_cast<const char*>(src.raw()) + src_off * e, src_stride,
                     static_cast<char*>(dst.raw()) + dst_off * e, dst_stride);
  }
  void col_sum(const Tensor& x, Tensor& y) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::col_sum<T>(x.size(0), x.size(1), x.data<T>(), y.data<T>()));
  }
  void index_select0(const Tensor& table, const Tensor& idx, Tensor& y) override {
    ISH_CPU_FLOAT_DISPATCH(table.dtype(), cpu::index_select0<T>(idx.numel(), table.size(1), table.data<T>(),
                                                                 idx.data<int64_t>(), y.data<T>()));
  }
  void index_add0(const Tensor& g, const Tensor& idx, Tensor& dtable) override {
    ISH_CPU_FLOAT_DISPATCH(g.dtype(), cpu::index_add0<T>(idx.numel(), dtable.size(0), dtable.size(1), g.data<T>(),
                                                          idx.data<int64_t>(), dtable.data<T>()));
  }

  void ish_shape(const Tensor& x, int64_t k, ops::IshStrategy s, Tensor& out) override {
    ISH_CPU_FLOAT_DISPATCH(x.dtype(), cpu::ish_shape<T>(x.size(0), x.size(1), k, s, x.data<T>(), out.data<T>()));
  }
  void sgd_update(const std::vector<ops::SgdParam>& ps, const ops::SgdHyper& h, bool first) override {
    for (const ops::SgdParam& sp : ps) {
      Tensor p = sp.param, buf = sp.momentum_buffer;
      ISH_CPU_FLOAT_DISPATCH(p.dtype(), cpu::sgd_update<T>(p.numel(), p.data<T>(), sp.grad.data<T>(), mptr<T>(buf),
                                                            sp.weight_decay, h, first));
    }
  }
  void train_stats(const Tensor& loss, const Tensor& pred, const Tensor& labels, int64_t step,
                   Tensor& stats) override {
    const DType dt = loss.defined() ? loss.dtype() : DType::F32;
    ISH_CPU_FLOAT_DISPATCH(dt, cpu::train_stats<T>(pred.numel(), cptr<T>(loss), pred.data<int64_t>(),
                                                   labels.data<int64_t>(), step, stats.data<double>()));
  }
  void normalize_u8(const Tensor& x, const std::array<float, 3>& mean, const std::array<float, 3>& std,
                    Tensor& y) override {
    cpu::normalize_u8(x.numel() / 3, x.data<uint8_t>(), mean.data(), std.data(), y.data<float>());
  }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend b;
  return b;
}

}  // namespace ish
