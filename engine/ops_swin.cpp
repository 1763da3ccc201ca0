// Op layer for the Swin Transformer's window machinery: torch.roll, window partition/merge and
// PatchMerging's gather (index mappings on engine/ops_transformer.cpp's kernels), the gather of the
// relative position bias table (index_select0) and the host constants of shifted-window attention.
#include "engine/ops_util.h"

namespace ish::ops {
using namespace detail;

Tensor roll(const Tensor& x, int dim, int64_t shift) {
  check_float(x, "roll", "input");
  ISH_CHECK(dim >= -x.dim() && dim < x.dim(), "roll: dim ", dim, " out of range for ", shape_str(x.shape()));
  const int d = dim < 0 ? dim + (int)x.dim() : dim;
  const int64_t n = x.size(d);
  const int64_t s = n == 0 ? 0 : ((shift % n) + n) % n;
  if (s == 0) return x;  // the identity: no copy, no node
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; i++) outer *= x.size(i);
  for (int64_t i = d + 1; i < x.dim(); i++) inner *= x.size(i);
  // y[.., (i + s) mod n, ..] = x[.., i, ..]: two block copies per outer index.
  auto run = [outer, inner, n](const Tensor& src, Tensor& dst, int64_t k) {
    Backend& be = backend_of(src, "roll");
    be.copy_blocks(outer, (n - k) * inner, src, n * inner, 0, dst, n * inner, k * inner);
    be.copy_blocks(outer, k * inner, src, n * inner, (n - k) * inner, dst, n * inner, 0);
  };
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (y.numel() > 0) run(x, y, s);
  return autograd::record(y, "roll", {x}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = Tensor::empty(g.shape(), g.dtype(), g.device());
    if (dx.numel() > 0) run(g, dx, n - s);
    return {dx};
  });
}

Tensor window_partition(const Tensor& x, int wh, int ww) {
  ISH_CHECK(x.defined() && x.dim() == 4 && wh > 0 && ww > 0 && x.size(1) % wh == 0 && x.size(2) % ww == 0,
            "window_partition: need x [B,H,W,C] with H, W multiples of the ", wh, "x", ww, " window, got ",
            x.defined() ? shape_str(x.shape()) : std::string("undefined"));
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  Tensor t = permute(reshape(x, {B, H / wh, wh, W / ww, ww, C}), {0, 1, 3, 2, 4, 5});
  return reshape(t, {B * (H / wh) * (W / ww), (int64_t)wh * ww, C});
}

Tensor window_merge(const Tensor& w, int64_t B, int64_t H, int64_t W, int wh, int ww) {
  ISH_CHECK(w.defined() && w.dim() == 3 && wh > 0 && ww > 0 && H % wh == 0 && W % ww == 0 &&
                w.size(0) == B * (H / wh) * (W / ww) && w.size(1) == (int64_t)wh * ww,
            "window_merge: windows ", w.defined() ? shape_str(w.shape()) : std::string("undefined"),
            " do not tile a ", B, "x", H, "x", W, " map with ", wh, "x", ww, " windows");
  const int64_t C = w.size(2);
  Tensor t = permute(reshape(w, {B, H / wh, W / ww, wh, ww, C}), {0, 1, 3, 2, 4, 5});
  return reshape(t, {B, H, W, C});
}

Tensor patch_merge_gather(const Tensor& x) {
  ISH_CHECK(x.defined() && x.dim() == 4 && x.size(1) % 2 == 0 && x.size(2) % 2 == 0,
            "patch_merge_gather: need x [B,H,W,C] with H and W even, got ",
            x.defined() ? shape_str(x.shape()) : std::string("undefined"));
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  // [B, H/2, hp, W/2, wp, C] -> [B, H/2, W/2, wp, hp, C]: channel block hp + 2*wp, torchvision's x0..x3.
  Tensor t = permute(reshape(x, {B, H / 2, 2, W / 2, 2, C}), {0, 1, 3, 4, 2, 5});
  return reshape(t, {B, H / 2, W / 2, 4 * C});
}

Tensor index_select0(const Tensor& table, const Tensor& idx) {
  check_float(table, "index_select0", "table");
  ISH_CHECK(table.dim() == 2, "index_select0: table must be [R,C], got ", shape_str(table.shape()));
  ISH_CHECK(idx.defined() && idx.dtype() == DType::I64 && idx.dim() == 1, "index_select0: indices must be I64 [n]");
  check_same_device(table, idx, "index_select0");
  const int64_t R = table.size(0), C = table.size(1), n = idx.numel();
  {  // indices are checked on the host (small: a window's N*N entries)
    Tensor h = idx.to(Device::CPU);
    const int64_t* p = h.data<int64_t>();
    for (int64_t i = 0; i < n; i++)
      ISH_CHECK(p[i] >= 0 && p[i] < R, "index_select0: index ", p[i], " at ", i, " out of range [0,", R, ")");
  }
  Tensor y = Tensor::empty({n, C}, table.dtype(), table.device());
  backend_of(table, "index_select0").index_select0(table, idx, y);
  const Shape ts = table.shape();
  return autograd::record(y, "index_select0", {table}, [=](const Tensor& g) -> std::vector<Tensor> {
    Tensor dt = Tensor::empty(ts, g.dtype(), g.device());
    backend_of(g, "index_select0 backward").index_add0(g, idx, dt);
    return {dt};
  });
}

Tensor relative_position_index(int wh, int ww) {
  ISH_CHECK(wh > 0 && ww > 0, "relative_position_index: bad window ", wh, "x", ww);
  const int64_t N = (int64_t)wh * ww;
  std::vector<int64_t> v((size_t)(N * N));
  for (int64_t i = 0; i < N; i++)
    for (int64_t j = 0; j < N; j++) {
      const int64_t dh = i / ww - j / ww + wh - 1, dw = i % ww - j % ww + ww - 1;
      v[(size_t)(i * N + j)] = dh * (2 * ww - 1) + dw;
    }
  return Tensor::from_i64(v, {N * N});
}

Tensor shifted_window_mask(int64_t H, int64_t W, int wh, int ww, int sh, int sw, DType dt) {
  ISH_CHECK(wh > 0 && ww > 0 && H % wh == 0 && W % ww == 0 && sh >= 0 && sh < wh && sw >= 0 && sw < ww,
            "shifted_window_mask: a ", H, "x", W, " map, window ", wh, "x", ww, " and shift ", sh, ",", sw,
            " do not fit");
  // Region labels of the shifted map: 3 bands per axis, [0, H-wh), [H-wh, H-sh), [H-sh, H).
  // (No shift along an axis: torchvision's last slice [-0:] covers it all, one band.)
  auto band = [](int64_t i, int64_t n, int w, int s) { return s == 0 ? 0 : i < n - w ? 0 : (i < n - s ? 1 : 2); };
  const int64_t nh = H / wh, nw = W / ww, N = (int64_t)wh * ww;
  std::vector<double> m((size_t)(nh * nw * N * N));
  std::vector<int> lab((size_t)N);
  for (int64_t a = 0; a < nh; a++)
    for (int64_t b = 0; b < nw; b++) {
      for (int64_t t = 0; t < N; t++)
        lab[(size_t)t] = band(a * wh + t / ww, H, wh, sh) * 3 + band(b * ww + t % ww, W, ww, sw);
      double* o = &m[(size_t)((a * nw + b) * N * N)];
      for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < N; j++) o[i * N + j] = lab[(size_t)i] == lab[(size_t)j] ? 0.0 : -100.0;
    }
  return Tensor::from_f64(m, {nh * nw, N, N}).to(dt);
}

}  // namespace ish::ops
