#include "train/ish.h"

#include <algorithm>

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

Tensor ish_shape(const Tensor& x, IshStrategy s, double percentile) {
  ISH_CHECK(x.dim() >= 2, "ISH: input must be [N, ...], got ", shape_str(x.shape()));
  const int64_t N = x.size(0), D = x.numel() / std::max<int64_t>(N, 1);
  return ops::ish_shape(x, s, ish_keep(D, percentile));
}

}  // namespace ish::train
