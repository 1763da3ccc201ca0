// Op layer for training and input: ISH shaping, the fused SGD update and uint8 normalisation.
// No autograd: these run on detached tensors (a gradient hook, an optimizer step, a data batch).
#include "engine/ops_util.h"

namespace ish::ops {
using namespace detail;

Tensor ish_shape(const Tensor& x, IshStrategy s, int64_t k) {
  check_float(x, "ish_shape", "input");
  ISH_CHECK(x.dim() >= 2, "ish_shape: input must be [N, ...], got ", shape_str(x.shape()));
  ISH_CHECK(s == IshStrategy::MinkSampleExpScale || s == IshStrategy::ExpScale || s == IshStrategy::MinkSampleLnScale,
            "ish_shape: unknown strategy ", (int)s);
  const int64_t N = x.size(0), D = x.numel() / std::max<int64_t>(N, 1);
  ISH_CHECK(k >= 1 && k <= D, "ish_shape: k=", k, " not in [1, ", D, "]");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (N == 0) return out;
  Tensor out2 = out.view({N, D});
  backend_of(x, "ish_shape").ish_shape(x.view({N, D}), k, s, out2);
  return out;
}

void sgd_update_(const std::vector<SgdParam>& params, const SgdHyper& h, bool first_step) {
  if (params.empty()) return;
  const Device dev = params[0].param.device();
  for (const SgdParam& p : params) {
    check_float(p.param, "sgd_update_", "parameter");
    const std::string& name = p.param.name();
    const Tensor& g = p.grad;
    ISH_CHECK(g.defined() && g.shape() == p.param.shape() && g.dtype() == p.param.dtype() &&
                  g.device() == p.param.device(),
              "sgd_update_: the grad of ", name, " does not match the parameter (",
              shape_str(p.param.shape()), " ", dtype_name(p.param.dtype()), " on ", device_name(p.param.device()), ")");
    ISH_CHECK(p.param.device() == dev, "sgd_update_: parameters on different devices (", name, " on ",
              device_name(p.param.device()), ")");
    ISH_CHECK(p.momentum_buffer.defined() == (h.momentum != 0), "sgd_update_: parameter ", name,
              h.momentum != 0 ? " needs a momentum buffer" : " has a momentum buffer but momentum is 0");
    if (p.momentum_buffer.defined())
      ISH_CHECK(p.momentum_buffer.shape() == p.param.shape() && p.momentum_buffer.dtype() == p.param.dtype() &&
                    p.momentum_buffer.device() == dev,
                "sgd_update_: the momentum buffer of ", name, " does not match the parameter");
  }
  backend(dev, "sgd_update_").sgd_update(params, h, first_step);
}

void train_stats_(Tensor& stats, const Tensor& loss, const Tensor& logits, const Tensor& labels, int64_t step) {
  ISH_CHECK(stats.defined() && stats.dtype() == DType::F64 && stats.dim() == 1 && stats.numel() == kTrainStats,
            "train_stats_: stats must be F64 [", (int)kTrainStats, "]");
  check_float(logits, "train_stats_", "logits");
  ISH_CHECK(logits.dim() == 2, "train_stats_: logits must be [N,C], got ", shape_str(logits.shape()));
  ISH_CHECK(labels.defined() && labels.dtype() == DType::I64, "train_stats_: labels must be I64");
  check_shape(labels, {logits.size(0)}, "train_stats_ labels");
  check_same_device(stats, logits, "train_stats_");
  check_same_device(stats, labels, "train_stats_");
  if (loss.defined()) {
    check_like(logits, loss, "train_stats_", "loss");
    ISH_CHECK(loss.numel() == 1, "train_stats_: loss must have one element, got ", shape_str(loss.shape()));
  }
  ISH_CHECK(step >= 1, "train_stats_: step must be >= 1, got ", step);
  const int64_t N = logits.size(0);
  Tensor pred = Tensor::empty({N}, DType::I64, logits.device());
  Backend& b = backend_of(logits, "train_stats_");
  if (N > 0) b.row_argmax(logits, pred);
  b.train_stats(loss, pred, labels, step, stats);
}

Tensor normalize_u8(const Tensor& x, const std::array<float, 3>& mean, const std::array<float, 3>& std) {
  ISH_CHECK(x.defined() && x.dtype() == DType::U8, "normalize_u8: input ", x.name(), " must be U8, got ",
            x.defined() ? dtype_name(x.dtype()) : "undefined");
  ISH_CHECK(x.dim() >= 1 && x.size(-1) == 3, "normalize_u8: input must be RGB [..., 3], got ", shape_str(x.shape()));
  for (int c = 0; c < 3; c++) ISH_CHECK(std[c] != 0.f, "normalize_u8: std[", c, "] is zero");
  Tensor y = Tensor::empty(x.shape(), DType::F32, x.device());
  if (x.numel() > 0) backend_of(x, "normalize_u8").normalize_u8(x, mean, std, y);
  return y;
}

}  // namespace ish::ops
