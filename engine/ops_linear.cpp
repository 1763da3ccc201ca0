// Op layer for GEMM-shaped ops: linear (with ISH's wgrad_input), matmul and cross-entropy.
#include "engine/ops_util.h"

namespace ish::ops {
using namespace detail;

namespace {
// C = alpha*op(A)op(B) + beta*C on whichever device the tensors live (row-major, dense).
void gemm_t(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const Tensor& A, const Tensor& B, double beta,
            Tensor& C) {
  const int64_t lda = tA ? M : K, ldb = tB ? K : N;
  backend_of(C, "gemm").gemm(tA, tB, M, N, K, A, lda, B, ldb, beta, C, N);
}
Tensor ones(int64_t n, const Tensor& like) { return Tensor::full({n, 1}, 1.0, like.dtype(), like.device()); }
}  // namespace

Tensor linear(const Tensor& x, const Tensor& W, const Tensor& b, const Tensor& wgrad_input) {
  check_float(x, "linear", "input");
  check_like(x, W, "linear", "weight");
  if (x.dim() > 2 && W.dim() == 2) {  // [..., in]: the leading dims flattened into rows
    const int64_t In = x.size(-1), rows = x.numel() / std::max<int64_t>(In, 1);
    Shape os = x.shape();
    os.back() = W.size(0);
    ISH_CHECK(!wgrad_input.defined() || wgrad_input.shape() == x.shape(), "linear: wgrad_input ",
              shape_str(wgrad_input.shape()), " differs from the input ", shape_str(x.shape()));
    Tensor wgi = wgrad_input.defined() ? reshape(wgrad_input, {rows, In}) : Tensor();
    return reshape(linear(reshape(x, {rows, In}), W, b, wgi), os);
  }
  ISH_CHECK(x.dim() == 2 && W.dim() == 2 && W.size(1) == x.size(1), "linear: input ", shape_str(x.shape()),
            " does not match weight ", W.name(), " ", shape_str(W.shape()));
  const int64_t N = x.size(0), In = x.size(1), Out = W.size(0);
  if (b.defined()) {
    check_like(x, b, "linear", "bias");
    check_shape(b, {Out}, "linear bias");
  }
  if (wgrad_input.defined()) {
    check_like(x, wgrad_input, "linear", "wgrad_input");
    check_shape(wgrad_input, x.shape(), "linear wgrad_input");
  }
  Tensor y = Tensor::empty({N, Out}, x.dtype(), x.device());
  if (b.defined() && N > 0) {
    // y = b in every row, then y += x W^T in one GEMM: the GEMM adds its accumulator to y once, so the
    // values are those of x W^T followed by + b, without a second pass over y.
    backend_of(y, "linear").copy_blocks(N, Out, b, 0, 0, y, Out, 0);
    gemm_t(false, true, N, Out, In, x, W, 1.0, y);
  } else {
    gemm_t(false, true, N, Out, In, x, W, 0.0, y);
  }
  if (!autograd::needs_grad({&x, &W, &b})) return y;
  Tensor xw = (wgrad_input.defined() ? wgrad_input : x).detach(), Wd = W.detach();
  const bool need_x = x.requires_grad(), need_w = W.requires_grad(), has_b = b.defined();
  return autograd::record(y, "linear", {x, W, b}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx, dW, db;
    if (need_x) { dx = Tensor::empty({N, In}, g.dtype(), g.device()); gemm_t(false, false, N, In, Out, g, Wd, 0.0, dx); }
    if (need_w) { dW = Tensor::empty({Out, In}, g.dtype(), g.device()); gemm_t(true, false, Out, In, N, g, xw, 0.0, dW); }
    if (has_b) { db = Tensor::empty({Out}, g.dtype(), g.device()); gemm_t(true, false, Out, 1, N, g, ones(N, g), 0.0, db); }
    return {dx, dW, db};
  });
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_float(a, "matmul", "a");
  check_like(a, b, "matmul", "b");
  ISH_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0), "matmul: shapes ", shape_str(a.shape()), " and ",
            shape_str(b.shape()), " do not chain");
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  Tensor y = Tensor::empty({M, N}, a.dtype(), a.device());
  gemm_t(false, false, M, N, K, a, b, 0.0, y);
  Tensor ad = a.detach(), bd = b.detach();
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return autograd::record(y, "matmul", {a, b}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor da, db;
    if (need_a) { da = Tensor::empty({M, K}, g.dtype(), g.device()); gemm_t(false, true, M, K, N, g, bd, 0.0, da); }
    if (need_b) { db = Tensor::empty({K, N}, g.dtype(), g.device()); gemm_t(true, false, K, N, M, ad, g, 0.0, db); }
    return {da, db};
  });
}

void check_labels(const Tensor& labels, int64_t C, const std::string& what) {
  ISH_CHECK(labels.defined() && labels.dtype() == DType::I64 && labels.device() == Device::CPU, what,
            ": labels must be I64 on the host");
  const int64_t* y = labels.data<int64_t>();
  for (int64_t i = 0, n = labels.numel(); i < n; i++)
    ISH_CHECK(y[i] >= 0 && y[i] < C, what, ": label ", y[i], " at row ", i, " out of range [0,", C, ")");
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels, double smoothing) {
  check_float(logits, "cross_entropy", "logits");
  ISH_CHECK(logits.dim() == 2, "cross_entropy: logits must be [N,C], got ", shape_str(logits.shape()));
  ISH_CHECK(labels.defined() && labels.dtype() == DType::I64, "cross_entropy: labels must be I64");
  check_shape(labels, {logits.size(0)}, "cross_entropy labels");
  ISH_CHECK(smoothing >= 0 && smoothing <= 1, "cross_entropy: label_smoothing ", smoothing, " not in [0,1]");
  const int64_t N = logits.size(0), C = logits.size(1);
  ISH_CHECK(N > 0, "cross_entropy: empty batch");
  Tensor lab = labels;
  if (labels.device() == Device::CPU) {  // user data: validated where it is read for free
    check_labels(labels, C, "cross_entropy");
    lab = labels.to(logits.device());
  } else {
    check_same_device(logits, labels, "cross_entropy");
  }
  Tensor probs = Tensor::empty({N, C}, logits.dtype(), logits.device());
  Tensor loss = Tensor::empty({}, logits.dtype(), logits.device());
  backend_of(logits, "cross_entropy").cross_entropy_fwd(logits, lab, smoothing, probs, loss);
  return autograd::record(loss, "cross_entropy", {logits}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor d = Tensor::empty({N, C}, probs.dtype(), probs.device());
    backend_of(d, "cross_entropy backward").cross_entropy_bwd(probs, lab, smoothing, g, d);
    return {d};
  });
}

}  // namespace ish::ops
