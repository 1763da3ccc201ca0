// Op layer for element-wise ops and last-dim reductions (softmax, logsumexp, max, sum), plus
// relu/add. Every kernel comes from the table of the tensors' device: element-wise ops run on the
// CPU (f32/f64) and on cuda (f32); the row reductions have CPU kernels only, and on a cuda tensor
// they stop with a one-line error.
#include <cmath>
#include <vector>

#include "engine/ops_util.h"
#include "engine/rng.h"

namespace ish::ops {
using namespace detail;

namespace {

Tensor like(const Tensor& x) { return Tensor::empty(x.shape(), x.dtype(), x.device()); }

Tensor unary(UnaryOp op, const Tensor& x, const char* name) {
  Tensor y = like(x);
  backend_of(x, name).unary(op, x, y);
  return y;
}
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  Tensor y = like(a);
  backend_of(a, name).binary(op, a, b, y);
  return y;
}
Tensor scale_shift(const Tensor& x, double s, double shift, const char* name) {
  Tensor y = like(x);
  backend_of(x, name).scale_shift(x, s, shift, y);
  return y;
}

void check_binary(const Tensor& a, const Tensor& b, const char* op) {
  check_float(a, op, "a");
  check_like(a, b, op, "b");
  ISH_CHECK(a.shape() == b.shape(), op, ": shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()), " differ");
}
void check_2d(const Tensor& x, const char* op) {
  check_float(x, op, "input");
  ISH_CHECK(x.dim() == 2 && x.size(1) > 0, op, ": need a non-empty [N,D] tensor, got ", shape_str(x.shape()));
}

}  // namespace

Tensor relu(const Tensor& x) {
  check_float(x, "relu", "input");
  Tensor y = unary(UnaryOp::Relu, x, "relu");
  Tensor yd = y.detach();
  return autograd::record(y, "relu", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = like(g);
    backend_of(g, "relu backward").relu_bwd(yd, g, dx);
    return {dx};
  });
}

Tensor add(const Tensor& a, const Tensor& b) {
  check_binary(a, b, "add");
  return autograd::record(binary(BinaryOp::Add, a, b, "add"), "add", {a, b},
                          [](const Tensor& g) -> std::vector<Tensor> { return {g, g}; });
}

void add_(Tensor& dst, const Tensor& src) {
  check_binary(dst, src, "add_");
  backend_of(dst, "add_").axpy(1.0, src, dst);
}

Tensor sub(const Tensor& a, const Tensor& b) {
  check_binary(a, b, "sub");
  return autograd::record(binary(BinaryOp::Sub, a, b, "sub"), "sub", {a, b}, [](const Tensor& g) -> std::vector<Tensor> {
    return {g, scale_shift(g, -1.0, 0.0, "sub backward")};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_binary(a, b, "mul");
  Tensor ad = a.detach(), bd = b.detach();
  return autograd::record(binary(BinaryOp::Mul, a, b, "mul"), "mul", {a, b}, [=](const Tensor& g) -> std::vector<Tensor> {
    return {binary(BinaryOp::Mul, g, bd, "mul backward"), binary(BinaryOp::Mul, g, ad, "mul backward")};
  });
}

Tensor mul_scalar(const Tensor& x, double s) {
  check_float(x, "mul_scalar", "input");
  return autograd::record(scale_shift(x, s, 0.0, "mul_scalar"), "mul_scalar", {x},
                          [=](const Tensor& g) -> std::vector<Tensor> { return {scale_shift(g, s, 0.0, "mul_scalar")}; });
}
Tensor add_scalar(const Tensor& x, double s) {
  check_float(x, "add_scalar", "input");
  return autograd::record(scale_shift(x, 1.0, s, "add_scalar"), "add_scalar", {x},
                          [](const Tensor& g) -> std::vector<Tensor> { return {g}; });
}

Tensor exp(const Tensor& x) {
  check_float(x, "exp", "input");
  Tensor y = unary(UnaryOp::Exp, x, "exp");
  Tensor yd = y.detach();
  return autograd::record(y, "exp", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    return {binary(BinaryOp::Mul, g, yd, "exp backward")};
  });
}
Tensor log(const Tensor& x) {
  check_float(x, "log", "input");
  Tensor y = unary(UnaryOp::Log, x, "log");
  Tensor xd = x.detach();
  return autograd::record(y, "log", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    return {binary(BinaryOp::Div, g, xd, "log backward")};
  });
}
Tensor clamp_max(const Tensor& x, double hi) {
  check_float(x, "clamp_max", "input");
  Tensor y = like(x);
  backend_of(x, "clamp_max").clamp_max(x, hi, y);
  Tensor xd = x.detach();
  // torch's clamp passes the gradient where x <= hi (the bound itself included).
  return autograd::record(y, "clamp_max", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = like(g);
    backend_of(g, "clamp_max backward").clamp_max_bwd(xd, hi, g, dx);
    return {dx};
  });
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor y = x.view(shape);
  const Shape xs = x.shape();
  return autograd::record(y, "reshape", {x}, [=](const Tensor& g) -> std::vector<Tensor> { return {g.view(xs)}; });
}

// ---- reductions ----

Tensor sum(const Tensor& x) {
  check_float(x, "sum", "input");
  double acc = 0;
  for (double v : x.to_f64_vector()) acc += v;  // on the host, in double
  Tensor y = Tensor::full({}, acc, x.dtype(), x.device());
  const Shape xs = x.shape();
  return autograd::record(y, "sum", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    return {Tensor::full(xs, g.item(), g.dtype(), g.device())};
  });
}
Tensor mean(const Tensor& x) {
  ISH_CHECK(x.numel() > 0, "mean: empty tensor");
  return mul_scalar(sum(x), 1.0 / (double)x.numel());
}

Tensor sum_last(const Tensor& x) {
  check_2d(x, "sum_last");
  Tensor y = Tensor::empty({x.size(0)}, x.dtype(), x.device());
  backend_of(x, "sum_last").row_sum(x, y);
  const Shape xs = x.shape();
  return autograd::record(y, "sum_last", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = Tensor::empty(xs, g.dtype(), g.device());
    backend_of(g, "sum_last backward").row_broadcast(g, dx);
    return {dx};
  });
}

Tensor argmax_last(const Tensor& x) {
  check_2d(x, "argmax_last");
  Tensor idx = Tensor::empty({x.size(0)}, DType::I64, x.device());
  backend_of(x, "argmax_last").row_argmax(x, idx);
  return idx;
}

Tensor max_last(const Tensor& x) {
  Tensor idx = argmax_last(x);
  Tensor y = Tensor::empty({x.size(0)}, x.dtype(), x.device());
  backend_of(x, "max_last").row_gather(x, idx, y);
  const Shape xs = x.shape();
  return autograd::record(y, "max_last", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = Tensor::empty(xs, g.dtype(), g.device());
    backend_of(g, "max_last backward").row_scatter(g, idx, dx);
    return {dx};
  });
}

Tensor log_softmax_last(const Tensor& x) {
  check_2d(x, "log_softmax_last");
  Tensor y = like(x);
  backend_of(x, "log_softmax_last").log_softmax(x, y);
  Tensor yd = y.detach();
  return autograd::record(y, "log_softmax_last", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = like(g);
    backend_of(g, "log_softmax_last backward").log_softmax_bwd(g, yd, dx);
    return {dx};
  });
}

// softmax_last (any rank) is in engine/ops_transformer.cpp.

Tensor logsumexp_last(const Tensor& x) {
  check_2d(x, "logsumexp_last");
  Tensor y = Tensor::empty({x.size(0)}, x.dtype(), x.device());
  backend_of(x, "logsumexp_last").row_logsumexp(x, y);
  Tensor xd = x.detach(), yd = y.detach();
  return autograd::record(y, "logsumexp_last", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = like(xd);
    backend_of(g, "logsumexp_last backward").row_logsumexp_bwd(g, xd, yd, dx);
    return {dx};
  });
}

Tensor randn(const Shape& s, uint64_t seed, DType dt) {
  Rng rng(seed);
  std::vector<double> v((size_t)shape_numel(s));
  for (auto& e : v) e = rng.normal();
  return Tensor::from_f64(v, s).to(dt);
}

}  // namespace ish::ops
