// Op layer for the convolutional network ops: conv2d, batch_norm (+residual, +ReLU),
// max_pool2d and global_avg_pool. Validation, the call through the device's table, backward rules.
#include <cmath>

#include "engine/ops_util.h"

namespace ish::ops {
using namespace detail;

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  check_float(x, "conv2d", "input");
  check_like(x, w, "conv2d", "weight");
  ISH_CHECK(x.dim() == 4 && w.dim() == 4, "conv2d: need x [N,H,W,C] and w [K,R,S,C], got ", shape_str(x.shape()),
            " and ", shape_str(w.shape()));
  ISH_CHECK(w.size(3) == x.size(3), "conv2d: weight ", w.name(), " ", shape_str(w.shape()), " expects ", w.size(3),
            " input channels, input has ", x.size(3));
  ISH_CHECK(p.stride_h > 0 && p.stride_w > 0 && p.dil_h > 0 && p.dil_w > 0 && p.pad_h >= 0 && p.pad_w >= 0,
            "conv2d: bad stride/padding/dilation");
  ConvDims d{x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(1), w.size(2), 0, 0,
             p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w};
  d.P = (d.H + 2 * d.ph - d.dh * (d.R - 1) - 1) / d.sh + 1;
  d.Q = (d.W + 2 * d.pw - d.dw * (d.S - 1) - 1) / d.sw + 1;
  ISH_CHECK(d.H + 2 * d.ph >= d.dh * (d.R - 1) + 1 && d.W + 2 * d.pw >= d.dw * (d.S - 1) + 1, "conv2d: input ",
            shape_str(x.shape()), " is smaller than the kernel ", shape_str(w.shape()));
  if (b.defined()) {
    check_like(x, b, "conv2d", "bias");
    check_shape(b, {d.K}, "conv2d bias");
  }
  Tensor y = Tensor::empty({d.N, d.P, d.Q, d.K}, x.dtype(), x.device());
  backend_of(x, "conv2d").conv2d_fwd(d, x, w, b, y);
  if (!autograd::needs_grad({&x, &w, &b})) return y;
  // Only the gradients some input asks for are computed (a frozen weight costs no dW pass).
  const bool need_x = x.requires_grad(), need_w = w.requires_grad(), need_b = b.defined() && b.requires_grad();
  Tensor xd = x.detach(), wd = w.detach();
  return autograd::record(y, "conv2d", {x, w, b}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx, dw, db;
    if (need_x) dx = Tensor::empty(xd.shape(), xd.dtype(), xd.device());
    if (need_w) dw = Tensor::empty(wd.shape(), wd.dtype(), wd.device());
    if (need_b) db = Tensor::empty({d.K}, wd.dtype(), wd.device());
    Backend& be = backend_of(xd, "conv2d backward");
    if (need_x) be.conv2d_bwd_data(d, g, wd, dx);
    if (need_w || need_b) be.conv2d_bwd_filter(d, xd, g, dw, db);
    return {dx, dw, db};
  });
}

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean, Tensor running_var,
                  const BNParams& p, const Tensor& residual) {
  check_float(x, "batch_norm", "input");
  ISH_CHECK(x.dim() >= 2, "batch_norm: input needs a channel (last) dim, got ", shape_str(x.shape()));
  const int64_t C = x.size(-1), M = x.numel() / C;
  for (const Tensor* t : {&gamma, &beta}) {
    check_like(x, *t, "batch_norm", "affine parameter");
    check_shape(*t, {C}, "batch_norm affine parameter");
  }
  const bool have_running = running_mean.defined() && running_var.defined();
  if (have_running)
    for (Tensor* t : {&running_mean, &running_var}) {
      check_like(x, *t, "batch_norm", "running statistic");
      check_shape(*t, {C}, "batch_norm running statistic");
    }
  ISH_CHECK(p.training || have_running, "batch_norm: eval mode needs running statistics");
  ISH_CHECK(!p.training || M > 1, "batch_norm: training needs more than one value per channel, got input ",
            shape_str(x.shape()));
  if (residual.defined()) {
    check_like(x, residual, "batch_norm", "residual");
    check_shape(residual, x.shape(), "batch_norm residual");
  }
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = Tensor::empty({C}, x.dtype(), x.device()), invstd = Tensor::empty({C}, x.dtype(), x.device());
  Backend& be = backend_of(x, "batch_norm");
  if (p.training)
    be.bn_train_fwd(M, C, x, gamma, beta, residual, p.relu, p.eps, p.momentum, y, mean, invstd, running_mean,
                    running_var);
  else
    be.bn_eval_fwd(M, C, x, gamma, beta, residual, p.relu, p.eps, running_mean, running_var, y);
  if (!autograd::needs_grad({&x, &gamma, &beta, &residual})) return y;
  if (!p.training) {  // backward uses the running statistics as they were at forward time
    be.bn_eval_stats(C, running_mean, running_var, p.eps, mean, invstd);  // on the device: no host round trip
  }
  Tensor xd = x.detach(), gd = gamma.detach(), yd = p.relu ? y.detach() : Tensor();
  const bool training = p.training, has_res = residual.defined(), need_x = x.requires_grad();
  return autograd::record(y, "batch_norm", {x, gamma, beta, residual}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx, dres;
    Tensor dgamma = Tensor::empty({C}, xd.dtype(), xd.device()), dbeta = Tensor::empty({C}, xd.dtype(), xd.device());
    if (need_x) dx = Tensor::empty(xd.shape(), xd.dtype(), xd.device());
    if (has_res) dres = Tensor::empty(xd.shape(), xd.dtype(), xd.device());
    backend_of(xd, "batch_norm backward")
        .bn_bwd(M, C, training, g, yd, xd, gd, mean, invstd, dx, dgamma, dbeta, dres);
    return {dx, dgamma, dbeta, dres};
  });
}

Tensor max_pool2d(const Tensor& x, const Pool2dParams& p) {
  check_float(x, "max_pool2d", "input");
  ISH_CHECK(x.dim() == 4, "max_pool2d: need x [N,H,W,C], got ", shape_str(x.shape()));
  ISH_CHECK(p.kh > 0 && p.kw > 0 && p.sh > 0 && p.sw > 0 && p.dh > 0 && p.dw > 0, "max_pool2d: bad window");
  // The one padding rule of both devices (engine/dims.h; kernels/pool.cu checks the same).
  ISH_CHECK(pool_padding_ok(p.kh, p.dh, p.ph) && pool_padding_ok(p.kw, p.dw, p.pw),
            "max_pool2d: padding must be at most half the effective kernel (as torch)");
  PoolDims d{x.size(0), x.size(1), x.size(2), x.size(3), 0, 0, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw};
  auto out_size = [&](int64_t in, int k, int s, int pad, int dil) {
    int64_t span = in + 2 * pad - dil * (k - 1) - 1;
    ISH_CHECK(span >= 0, "max_pool2d: input ", shape_str(x.shape()), " smaller than the window");
    int64_t o = (p.ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (p.ceil_mode && (o - 1) * s >= in + pad) o--;  // last window must start inside the input (torch rule)
    return o;
  };
  d.P = out_size(d.H, p.kh, p.sh, p.ph, p.dh);
  d.Q = out_size(d.W, p.kw, p.sw, p.pw, p.dw);
  Tensor y = Tensor::empty({d.N, d.P, d.Q, d.C}, x.dtype(), x.device());
  Tensor idx = Tensor::empty({d.N, d.P, d.Q, d.C}, DType::I64, x.device());
  backend_of(x, "max_pool2d").maxpool_fwd(d, x, y, idx);
  Tensor xd = x.detach();
  return autograd::record(y, "max_pool2d", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = Tensor::empty(xd.shape(), xd.dtype(), xd.device());
    backend_of(xd, "max_pool2d backward").maxpool_bwd(d, g, idx, dx);
    return {dx};
  });
}

Tensor global_avg_pool(const Tensor& x) {
  check_float(x, "global_avg_pool", "input");
  ISH_CHECK(x.dim() == 4, "global_avg_pool: need x [N,H,W,C], got ", shape_str(x.shape()));
  const int64_t N = x.size(0), HW = x.size(1) * x.size(2), C = x.size(3);
  ISH_CHECK(HW > 0, "global_avg_pool: empty spatial extent in ", shape_str(x.shape()));
  Tensor y = Tensor::empty({N, C}, x.dtype(), x.device());
  backend_of(x, "global_avg_pool").gap_fwd(N, HW, C, x, y);
  const Shape xs = x.shape();
  const DType dt = x.dtype();
  const Device dev = x.device();
  return autograd::record(y, "global_avg_pool", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = Tensor::empty(xs, dt, dev);
    backend(dev, "global_avg_pool backward").gap_bwd(N, HW, C, g, dx);
    return {dx};
  });
}

}  // namespace ish::ops
