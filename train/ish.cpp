#include "train/ish.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#ifdef ISHSCALE_CUDA
#include "engine/cuda/backend.h"
#endif

namespace ish::train {

IshStrategy ish_strategy_from_name(const std::string& name) {
  if (name == "minksample_expscale") return IshStrategy::MinkSampleExpScale;
  if (name == "expscale") return IshStrategy::ExpScale;
  if (name == "minksample_lnscale") return IshStrategy::MinkSampleLnScale;
  fail("unknown ISH strategy '", name, "' (minksample_expscale, expscale, minksample_lnscale)");
}

const char* ish_strategy_name(IshStrategy s) {
  switch (s) {
    case IshStrategy::MinkSampleExpScale: return "minksample_expscale";
    case IshStrategy::ExpScale: return "expscale";
    case IshStrategy::MinkSampleLnScale: return "minksample_lnscale";
  }
  return "?";
}

int64_t ish_keep(int64_t n, double percentile) {
  ISH_CHECK(percentile >= 0 && percentile < 1, "ISH percentile must be in [0, 1) (a fraction: 0.85, not 85), got ",
            percentile);
  double reserve = 1.0 - percentile;
  int64_t k = (int64_t)((double)n * reserve);
  ISH_CHECK(k >= 1, "ISH percentile ", percentile, " keeps no element of ", n);
  return k;
}

template <class T>
void ish_shape_cpu(int64_t N, int64_t D, int64_t k, IshStrategy s, const T* x, T* out) {
  ISH_ASSERT(k >= 1 && k <= D, "k=", k, " D=", D);
  std::vector<int64_t> idx(D);
  for (int64_t r = 0; r < N; r++) {
    const T* xr = x + r * D;
    T* o = out + r * D;
    bool finite = true;
    double s1 = 0;
    for (int64_t j = 0; j < D; j++) {
      s1 += (double)xr[j];
      finite = finite && std::isfinite((double)xr[j]);
    }
    if (!finite) {  // the loss is non-finite too; keep the poison visible
      std::fill(o, o + D, (T)NAN);
      continue;
    }
    std::iota(idx.begin(), idx.end(), 0);
    // Strict total order: larger |x| first, then lower index; the kept set is unique.
    auto before = [&](int64_t a, int64_t b) {
      T fa = std::abs(xr[a]), fb = std::abs(xr[b]);
      return fa > fb || (fa == fb && a < b);
    };
    std::nth_element(idx.begin(), idx.begin() + (k - 1), idx.end(), before);
    double s2 = 0;
    for (int64_t i = 0; i < k; i++) s2 += (double)std::abs(xr[idx[i]]);
    std::fill(o, o + D, (T)0);
    if (s2 == 0) continue;  // all-zero row: defined as x~ = 0 (the reference gives NaN)
    double scale = s1 / s2;
    if (s == IshStrategy::ExpScale) {
      T f = (T)std::exp(scale);
      for (int64_t j = 0; j < D; j++) o[j] = xr[j] * f;
      continue;
    }
    T f = s == IshStrategy::MinkSampleExpScale ? (T)std::exp(scale) : (T)scale;
    for (int64_t i = 0; i < k; i++) o[idx[i]] = std::abs(xr[idx[i]]) * f;
  }
}
template void ish_shape_cpu<float>(int64_t, int64_t, int64_t, IshStrategy, const float*, float*);
template void ish_shape_cpu<double>(int64_t, int64_t, int64_t, IshStrategy, const double*, double*);

Tensor ish_shape(const Tensor& x, IshStrategy s, double percentile) {
  ISH_CHECK(x.dim() >= 2, "ISH: input must be [N, ...], got ", shape_str(x.shape()));
  int64_t N = x.size(0), D = x.numel() / std::max<int64_t>(N, 1);
  int64_t k = ish_keep(D, percentile);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.is_cuda()) {
#ifdef ISHSCALE_CUDA
    ISH_CHECK(x.dtype() == DType::F32, "ISH: CUDA input must be f32");
    cuda::ish_shape(N, D, k, (int)s, x.data<float>(), out.data<float>());
    return out;
#else
    fail("ISH: input is on CUDA but this build has no CUDA");
#endif
  }
  if (x.dtype() == DType::F32)
    ish_shape_cpu<float>(N, D, k, s, x.data<float>(), out.data<float>());
  else if (x.dtype() == DType::F64)
    ish_shape_cpu<double>(N, D, k, s, x.data<double>(), out.data<double>());
  else
    fail("ISH: input dtype ", dtype_name(x.dtype()), " (f32/f64 only)");
  return out;
}

}  // namespace ish::train
