// Softmax cross-entropy (mean over rows, label smoothing as torch): one block per row computes
// max, log-sum-exp, probabilities and the row loss; a single-block pass sums the row losses in
// a fixed order (deterministic, no atomics). Backward: dlogits = gout * (probs - target) / N.
// Also the trainer's on-device statistics (loss sum, correct count, first non-finite step).
#include "kernels/common.cuh"

namespace ish::cuda {
namespace {

constexpr int kBlock = 256;

__global__ void ce_rows(int64_t C, const float* __restrict__ logits, const int64_t* __restrict__ labels,
                        double smoothing, float* __restrict__ probs, double* __restrict__ row_loss) {
  __shared__ float shf[32];
  __shared__ double shd[32];
  const int64_t n = blockIdx.x;
  const float* z = logits + n * C;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < C; j += blockDim.x) m = fmaxf(m, z[j]);
  m = block_max(m, shf);
  double se = 0, sz = 0;
  for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
    se += exp((double)z[j] - (double)m);
    sz += (double)z[j];
  }
  se = block_sum(se, shd);
  sz = block_sum(sz, shd);
  const double lse = (double)m + log(se);
  for (int64_t j = threadIdx.x; j < C; j += blockDim.x) probs[n * C + j] = (float)exp((double)z[j] - lse);
  if (threadIdx.x == 0) {
    const int64_t l = labels[n];
    double loss = NAN;  // out-of-range labels poison the loss (the op layer validates them first)
    if (l >= 0 && l < C) {
      const double nll = lse - (double)z[l];
      const double smooth = lse - sz / (double)C;  // -(1/C) sum_j log p_j
      loss = (1.0 - smoothing) * nll + smoothing * smooth;
    }
    row_loss[n] = loss;
  }
}

__global__ void ce_mean(int64_t N, const double* __restrict__ row_loss, float* __restrict__ out) {
  __shared__ double sh[32];
  double s = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) s += row_loss[i];
  s = block_sum(s, sh);
  if (threadIdx.x == 0) *out = (float)(s / (double)N);
}

__global__ void ce_bwd_k(int64_t N, int64_t C, const float* __restrict__ probs, const int64_t* __restrict__ labels,
                         float off, float on_minus_off, const float* __restrict__ gout, float* __restrict__ dz) {
  const float g = *gout / (float)N;
  const int64_t total = N * C;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t n = e / C, j = e % C;
    const float t = off + (labels[n] == j ? on_minus_off : 0.f);
    dz[e] = g * (probs[e] - t);
  }
}

// The training statistics of one micro-batch (ops::train_stats_): a fixed-order count, then one thread
// updates the four doubles, so the totals are reproducible.
__global__ void train_stats_k(int64_t n, const float* __restrict__ loss, const int64_t* __restrict__ pred,
                              const int64_t* __restrict__ labels, int64_t step, double* __restrict__ stats) {
  __shared__ double sh[32];
  double c = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) c += pred[i] == labels[i] ? 1.0 : 0.0;
  c = block_sum(c, sh);
  if (threadIdx.x != 0) return;
  stats[1] += c;
  if (!loss) return;
  const double l = (double)*loss;
  stats[0] += (double)n * l;
  if (!isfinite(l) && stats[2] == 0) {
    stats[2] = (double)step;
    stats[3] = l;
  }
}

}  // namespace

void train_stats(int64_t n, const float* loss, const int64_t* pred, const int64_t* labels, int64_t step,
                 double* stats) {
  ISH_CHECK(n >= 0 && step >= 1, "train_stats on cuda: bad sizes n=", n, " step=", step);
  train_stats_k<<<1, kBlock, 0, stream()>>>(n, loss, pred, labels, step, stats);
  CHECK_LAUNCH("train_stats");
}

void cross_entropy_fwd(int64_t N, int64_t C, const float* logits, const int64_t* labels, double smoothing,
                       float* probs, float* loss_out) {
  ISH_CHECK(N > 0 && C > 0, "cross_entropy on cuda: bad sizes N=", N, " C=", C);
  ISH_CHECK(smoothing >= 0 && smoothing <= 1, "cross_entropy on cuda: label_smoothing ", smoothing, " not in [0,1]");
  ISH_CHECK(N <= 0x7fffffff, "cross_entropy on cuda: too many rows");
  Scratch rows(sizeof(double) * (size_t)N);
  ce_rows<<<(unsigned)N, kBlock, 0, stream()>>>(C, logits, labels, smoothing, probs, rows.as<double>());
  CHECK_LAUNCH("ce_rows");
  ce_mean<<<1, 1024, 0, stream()>>>(N, rows.as<double>(), loss_out);
  CHECK_LAUNCH("ce_mean");
}

void cross_entropy_bwd(int64_t N, int64_t C, const float* probs, const int64_t* labels, double smoothing,
                       const float* gout, float* dlogits) {
  ISH_CHECK(N > 0 && C > 0, "cross_entropy backward on cuda: bad sizes N=", N, " C=", C);
  // target = (1-eps) * onehot + eps / C
  const float off = (float)(smoothing / (double)C), on_minus_off = (float)(1.0 - smoothing);
  ce_bwd_k<<<grid_for(N * C, 256), 256, 0, stream()>>>(N, C, probs, labels, off, on_minus_off, gout, dlogits);
  CHECK_LAUNCH("ce_bwd");
}

}  // namespace ish::cuda
