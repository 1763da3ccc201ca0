// Op layer for the transformer ops: layer_norm, gelu, softmax over the last dim of any rank, batched
// matmul, permute, narrow, cat, the broadcasts a vision transformer needs (class token, position
// embedding) and the fused attention softmax (scale, relative position bias, shifted-window mask).
// Validation, the call through the device's table, backward rules.
#include <cmath>
#include <numeric>

#include "engine/ops_util.h"

namespace ish::ops {
using namespace detail;

namespace {

Tensor like(const Tensor& x) { return Tensor::empty(x.shape(), x.dtype(), x.device()); }

int wrap_dim(int dim, int64_t rank, const char* op) {
  ISH_CHECK(dim >= -rank && dim < rank, op, ": dim ", dim, " out of range for a rank-", rank, " tensor");
  return dim < 0 ? dim + (int)rank : dim;
}
int64_t prod(const Shape& s, size_t b, size_t e) {
  int64_t p = 1;
  for (size_t i = b; i < e; i++) p *= s[i];
  return p;
}

// Strided-batched C[i] = op(A[i]) op(B[i]) over dense [batch, ...] tensors.
void bgemm(bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K, const Tensor& A, const Tensor& B,
           Tensor& C) {
  backend_of(C, "bmm").gemm_batched(tA, tB, batch, M, N, K, A, tA ? M : K, M * K, B, tB ? K : N, K * N, 0.0, C, N,
                                    M * N);
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  check_float(x, "layer_norm", "input");
  ISH_CHECK(x.dim() >= 1 && x.numel() > 0, "layer_norm: need a non-empty [..., D] tensor, got ", shape_str(x.shape()));
  ISH_CHECK(eps >= 0, "layer_norm: eps ", eps, " must be >= 0");
  const int64_t D = x.size(-1), M = x.numel() / D;
  for (const Tensor* t : {&gamma, &beta}) {
    check_like(x, *t, "layer_norm", "affine parameter");
    check_shape(*t, {D}, "layer_norm affine parameter");
  }
  Tensor y = like(x);
  Tensor mean = Tensor::empty({M}, x.dtype(), x.device()), rstd = Tensor::empty({M}, x.dtype(), x.device());
  backend_of(x, "layer_norm").layer_norm_fwd(M, D, x, gamma, beta, eps, y, mean, rstd);
  if (!autograd::needs_grad({&x, &gamma, &beta})) return y;
  Tensor xd = x.detach(), gd = gamma.detach();
  return autograd::record(y, "layer_norm", {x, gamma, beta}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = like(xd), dgamma = like(gd), dbeta = like(gd);
    backend_of(g, "layer_norm backward").layer_norm_bwd(M, D, g, xd, gd, mean, rstd, dx, dgamma, dbeta);
    return {dx, dgamma, dbeta};
  });
}

Tensor gelu(const Tensor& x) {
  check_float(x, "gelu", "input");
  Tensor y = like(x);
  backend_of(x, "gelu").gelu(x, y);
  Tensor xd = x.detach();
  return autograd::record(y, "gelu", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = like(g);
    backend_of(g, "gelu backward").gelu_bwd(xd, g, dx);
    return {dx};
  });
}

Tensor softmax_last(const Tensor& x) {
  check_float(x, "softmax_last", "input");
  ISH_CHECK(x.dim() >= 1 && x.size(-1) > 0, "softmax_last: need a non-empty [..., D] tensor, got ",
            shape_str(x.shape()));
  const int64_t D = x.size(-1), M = x.numel() / D;
  Tensor y = like(x);
  Tensor y2 = y.view({M, D});
  backend_of(x, "softmax_last").softmax(x.view({M, D}), y2);
  Tensor yd = y2.detach();
  const Shape xs = x.shape();
  return autograd::record(y, "softmax_last", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = Tensor::empty({M, D}, g.dtype(), g.device());
    backend_of(g, "softmax_last backward").softmax_bwd(g.view({M, D}), yd, dx);
    return {dx.view(xs)};
  });
}

Tensor bmm(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  check_float(a, "bmm", "a");
  check_like(a, b, "bmm", "b");
  ISH_CHECK(a.dim() == 3 && b.dim() == 3 && a.size(0) == b.size(0), "bmm: need [B,M,K] and [B,K,N], got ",
            shape_str(a.shape()), " and ", shape_str(b.shape()));
  const int64_t Bn = a.size(0), M = ta ? a.size(2) : a.size(1), K = ta ? a.size(1) : a.size(2);
  const int64_t Kb = tb ? b.size(2) : b.size(1), N = tb ? b.size(1) : b.size(2);
  ISH_CHECK(K == Kb, "bmm: shapes ", shape_str(a.shape()), (ta ? "^T" : ""), " and ", shape_str(b.shape()),
            (tb ? "^T" : ""), " do not chain");
  Tensor y = Tensor::empty({Bn, M, N}, a.dtype(), a.device());
  bgemm(ta, tb, Bn, M, N, K, a, b, y);
  if (!autograd::needs_grad({&a, &b})) return y;
  Tensor ad = a.detach(), bd = b.detach();
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return autograd::record(y, "bmm", {a, b}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor da, db;
    if (need_a) {  // d op(A) = g op(B)^T
      da = like(ad);
      if (ta) bgemm(tb, true, Bn, K, M, N, bd, g, da);
      else bgemm(false, !tb, Bn, M, K, N, g, bd, da);
    }
    if (need_b) {  // d op(B) = op(A)^T g
      db = like(bd);
      if (tb) bgemm(true, ta, Bn, N, K, M, g, ad, db);
      else bgemm(!ta, false, Bn, K, N, M, ad, g, db);
    }
    return {da, db};
  });
}

Tensor permute(const Tensor& x, const std::vector<int>& perm) {
  check_float(x, "permute", "input");
  const int r = (int)x.dim();
  ISH_CHECK(r >= 1 && r <= 8 && (int)perm.size() == r, "permute: ", perm.size(), " dims given for a rank-", r,
            " tensor (rank 1..8)");
  std::vector<int> inv(r, -1);
  Shape os(r);
  for (int i = 0; i < r; i++) {
    ISH_CHECK(perm[i] >= 0 && perm[i] < r && inv[perm[i]] < 0, "permute: not a permutation of 0..", r - 1);
    inv[perm[i]] = i;
    os[i] = x.size(perm[i]);
  }
  Tensor y = Tensor::empty(os, x.dtype(), x.device());
  backend_of(x, "permute").permute(x, perm, y);
  const Shape xs = x.shape();
  return autograd::record(y, "permute", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = Tensor::empty(xs, g.dtype(), g.device());
    backend_of(g, "permute backward").permute(g, inv, dx);
    return {dx};
  });
}

Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t len) {
  check_float(x, "narrow", "input");
  const int d = wrap_dim(dim, x.dim(), "narrow");
  const int64_t n = x.size(d);
  ISH_CHECK(start >= 0 && len >= 0 && start + len <= n, "narrow: [", start, ", ", start + len, ") outside dim ", d,
            " of ", shape_str(x.shape()));
  const Shape xs = x.shape();
  Shape os = xs;
  os[d] = len;
  const int64_t outer = prod(xs, 0, d), inner = prod(xs, d + 1, xs.size());
  Tensor y = Tensor::empty(os, x.dtype(), x.device());
  if (y.numel() > 0) backend_of(x, "narrow").copy_blocks(outer, len * inner, x, n * inner, start * inner, y, len * inner, 0);
  return autograd::record(y, "narrow", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = Tensor::zeros(xs, g.dtype(), g.device());
    if (g.numel() > 0)
      backend_of(g, "narrow backward").copy_blocks(outer, len * inner, g, len * inner, 0, dx, n * inner, start * inner);
    return {dx};
  });
}

Tensor select(const Tensor& x, int dim, int64_t i) {
  check_float(x, "select", "input");
  const int d = wrap_dim(dim, x.dim(), "select");
  const int64_t n = x.size(d);
  ISH_CHECK(i >= -n && i < n, "select: index ", i, " out of range for dim ", d, " of ", shape_str(x.shape()));
  Shape os = x.shape();
  os.erase(os.begin() + d);
  return reshape(narrow(x, d, i < 0 ? i + n : i, 1), os);
}

Tensor cat(const std::vector<Tensor>& xs, int dim) {
  ISH_CHECK(!xs.empty(), "cat: no tensors");
  const Tensor& x0 = xs[0];
  check_float(x0, "cat", "input 0");
  const int d = wrap_dim(dim, x0.dim(), "cat");
  Shape os = x0.shape();
  os[d] = 0;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < xs.size(); i++) {
    check_like(x0, xs[i], "cat", "input");
    bool ok = xs[i].dim() == x0.dim();
    for (int k = 0; ok && k < x0.dim(); k++) ok = k == d || xs[i].size(k) == x0.size(k);
    ISH_CHECK(ok, "cat: input ", i, " ", shape_str(xs[i].shape()), " does not match ", shape_str(x0.shape()),
              " outside dim ", d);
    sizes.push_back(xs[i].size(d));
    os[d] += xs[i].size(d);
  }
  const int64_t outer = prod(os, 0, d), inner = prod(os, d + 1, os.size()), total = os[d];
  Tensor y = Tensor::empty(os, x0.dtype(), x0.device());
  Backend& be = backend_of(x0, "cat");
  int64_t off = 0;
  for (size_t i = 0; i < xs.size(); off += sizes[i], i++)
    if (sizes[i] * outer * inner > 0) be.copy_blocks(outer, sizes[i] * inner, xs[i], sizes[i] * inner, 0, y, total * inner, off * inner);
  std::vector<Shape> shapes;
  for (auto& t : xs) shapes.push_back(t.shape());
  return autograd::record(y, "cat", xs, [=](const Tensor& g) -> std::vector<Tensor> {
    std::vector<Tensor> gs;
    int64_t o = 0;
    for (size_t i = 0; i < shapes.size(); o += sizes[i], i++) {
      Tensor gi = Tensor::empty(shapes[i], g.dtype(), g.device());
      if (gi.numel() > 0)
        backend_of(g, "cat backward").copy_blocks(outer, sizes[i] * inner, g, total * inner, o * inner, gi, sizes[i] * inner, 0);
      gs.push_back(gi);
    }
    return gs;
  });
}

Tensor expand0(const Tensor& b, int64_t n) {
  check_float(b, "expand0", "input");
  ISH_CHECK(b.dim() >= 1 && b.size(0) == 1 && n >= 0, "expand0: need b [1, ...] and n >= 0, got ",
            shape_str(b.shape()), " and n ", n);
  const int64_t N = b.numel();
  Shape os = b.shape();
  os[0] = n;
  Tensor y = Tensor::empty(os, b.dtype(), b.device());
  if (y.numel() > 0) backend_of(b, "expand0").copy_blocks(n, N, b, 0, 0, y, N, 0);
  const Shape bs = b.shape();
  return autograd::record(y, "expand0", {b}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor db = Tensor::empty({N}, g.dtype(), g.device());
    if (n == 0) db.zero_();
    else backend_of(g, "expand0 backward").col_sum(g.view({n, N}), db);
    return {db.view(bs)};
  });
}

Tensor add_broadcast(const Tensor& x, const Tensor& b) {
  check_float(x, "add_broadcast", "input");
  check_like(x, b, "add_broadcast", "b");
  bool ok = b.dim() >= 1 && b.dim() <= x.dim();
  const int64_t lead = x.dim() - b.dim();
  int k = 0;
  for (; ok && k < b.dim() && b.size(k) == 1 && x.size(lead + k) != 1; k++) {}
  for (int j = k; ok && j < b.dim(); j++) ok = b.size(j) == x.size(lead + j);
  ISH_CHECK(ok, "add_broadcast: ", shape_str(b.shape()), " does not broadcast onto ", shape_str(x.shape()),
            " (leading 1s, then x's trailing dims)");
  const int64_t N = b.numel(), M = N > 0 ? x.numel() / N : 0;
  Tensor e = reshape(expand0(reshape(b, {1, N}), M), x.shape());
  return add(x, e);
}

Tensor attention_softmax(const Tensor& x, double scale, const Tensor& bias, const Tensor& mask) {
  check_float(x, "attention_softmax", "scores");
  ISH_CHECK(x.dim() == 4 && x.numel() > 0, "attention_softmax: scores must be a non-empty [B,H,Nq,Nk], got ",
            shape_str(x.shape()));
  ISH_CHECK(std::isfinite(scale), "attention_softmax: scale ", scale, " is not finite");
  const int64_t B = x.size(0), H = x.size(1), Nq = x.size(2), Nk = x.size(3);
  if (bias.defined()) {
    check_like(x, bias, "attention_softmax", "bias");
    check_shape(bias, {H, Nq, Nk}, "attention_softmax bias");
  }
  if (mask.defined()) {
    check_like(x, mask, "attention_softmax", "mask");
    ISH_CHECK(mask.dim() == 3 && mask.size(0) >= 1 && mask.size(1) == Nq && mask.size(2) == Nk &&
                  B % mask.size(0) == 0,
              "attention_softmax: mask ", shape_str(mask.shape()), " is not [nW,", Nq, ",", Nk,
              "] with nW dividing the batch ", B);
    ISH_CHECK(!mask.requires_grad(), "attention_softmax: the mask is a constant (it gets no gradient)");
  }
  Tensor y = like(x);
  backend_of(x, "attention_softmax").attn_softmax(x, scale, bias, mask, y);
  if (!autograd::needs_grad({&x, &bias})) return y;
  const int64_t M = B * H * Nq;
  Tensor yd = y.detach().view({M, Nk});
  const bool has_bias = bias.defined();
  // With dz = softmax_last's backward of the sum: dx = scale * dz, dbias = dz summed over B.
  return autograd::record(y, "attention_softmax", {x, bias}, [=](const Tensor& g) -> std::vector<Tensor> {
    Backend& be = backend_of(g, "attention_softmax backward");
    Tensor dz = Tensor::empty({M, Nk}, g.dtype(), g.device());
    be.softmax_bwd(g.view({M, Nk}), yd, dz);
    Tensor dbias;
    if (has_bias) {
      dbias = Tensor::empty({H, Nq, Nk}, g.dtype(), g.device());
      Tensor db2 = dbias.view({H * Nq * Nk});
      be.col_sum(dz.view({B, H * Nq * Nk}), db2);
    }
    Tensor dx = Tensor::empty({B, H, Nq, Nk}, g.dtype(), g.device());
    be.scale_shift(dz.view({B, H, Nq, Nk}), scale, 0.0, dx);
    return {dx, dbias};
  });
}

}  // namespace ish::ops
