// SGD over every parameter in one launch (torch.optim.SGD semantics, fp32):
//   d = g + wd*p;  buf = first ? d : momentum*buf + (1-dampening)*d;
//   d = nesterov ? d + momentum*buf : buf;  p -= lr*d.
// Tensors are cut into fixed chunks; block b walks chunks b, b+grid, ... The tensor and chunk
// tables live on the device, cached per parameter list (a few kept), so a warm training step
// costs one launch per list and no host-to-device copy. Each product and sum is rounded
// on its own (__fmul_rn/__fadd_rn, no FMA contraction), as torch's CPU kernels and our CPU twin do.
#include <vector>

#include "kernels/common.cuh"

namespace ish::cuda {
namespace {

constexpr int64_t kChunk = 16384;
struct Chunk {
  int t;
  int64_t start;
};

__global__ void sgd_k(const SgdTensor* __restrict__ ts, const Chunk* __restrict__ chunks, int nchunks, float lr,
                      float mom, float damp, bool nesterov, bool first) {
  for (int ci = blockIdx.x; ci < nchunks; ci += gridDim.x) {
    const Chunk ch = chunks[ci];
    const SgdTensor t = ts[ch.t];
    const int64_t end = min(t.n, ch.start + kChunk);
    for (int64_t i = ch.start + threadIdx.x; i < end; i += blockDim.x) {
      const float p = t.param[i];
      float d = t.grad[i];
      if (t.weight_decay != 0.f) d = __fadd_rn(d, __fmul_rn(t.weight_decay, p));
      if (mom != 0.f) {
        const float b = first ? d : __fadd_rn(__fmul_rn(t.momentum[i], mom), __fmul_rn(1.f - damp, d));
        t.momentum[i] = b;
        d = nesterov ? __fadd_rn(d, __fmul_rn(mom, b)) : b;
      }
      t.param[i] = __fadd_rn(p, __fmul_rn(-lr, d));
    }
  }
}

bool same(const SgdTensor& a, const SgdTensor& b) {
  return a.param == b.param && a.grad == b.grad && a.momentum == b.momentum && a.n == b.n &&
         a.weight_decay == b.weight_decay;
}

// Device copies of the tables for the last few parameter lists seen (the trainer calls once per
// group and per first/later step, so a handful of lists alternate).
struct Tables {
  std::vector<SgdTensor> host;
  SgdTensor* d_ts = nullptr;
  Chunk* d_chunks = nullptr;
  int nchunks = 0;
  uint64_t last_use = 0;
};
constexpr int kCached = 6;
std::vector<Tables>& cache() {
  static auto* c = new std::vector<Tables>();
  return *c;
}

Tables& tables_for(const SgdTensor* tensors, int count) {
  static uint64_t clock = 0;
  auto& c = cache();
  for (Tables& t : c) {
    bool hit = (int)t.host.size() == count;
    for (int i = 0; hit && i < count; i++) hit = same(t.host[i], tensors[i]);
    if (hit) {
      t.last_use = ++clock;
      return t;
    }
  }
  if ((int)c.size() < kCached) {
    c.emplace_back();
  } else {
    Tables* lru = &c[0];
    for (Tables& t : c)
      if (t.last_use < lru->last_use) lru = &t;
    device_free(lru->d_ts);
    device_free(lru->d_chunks);
    *lru = Tables();
    std::swap(*lru, c.back());
  }
  Tables& tb = c.back();
  std::vector<Chunk> chunks;
  for (int i = 0; i < count; i++)
    for (int64_t s = 0; s < tensors[i].n; s += kChunk) chunks.push_back({i, s});
  ISH_CHECK(chunks.size() < (size_t)0x7fffffff, "sgd on cuda: too many parameters");
  tb.host.assign(tensors, tensors + count);
  tb.d_ts = (SgdTensor*)device_alloc(sizeof(SgdTensor) * (count ? count : 1));
  tb.d_chunks = (Chunk*)device_alloc(sizeof(Chunk) * (chunks.empty() ? 1 : chunks.size()));
  tb.nchunks = (int)chunks.size();
  tb.last_use = ++clock;
  // From pageable memory cudaMemcpyAsync returns once the data is staged, so the vectors may die.
  if (count) CUDA_CHECK(cudaMemcpyAsync(tb.d_ts, tensors, sizeof(SgdTensor) * count, cudaMemcpyHostToDevice, stream()));
  if (tb.nchunks)
    CUDA_CHECK(cudaMemcpyAsync(tb.d_chunks, chunks.data(), sizeof(Chunk) * chunks.size(), cudaMemcpyHostToDevice,
                               stream()));
  return tb;
}

}  // namespace

void sgd_multi(const SgdTensor* tensors, int count, float lr, float momentum, float dampening, bool nesterov,
               bool first_step) {
  ISH_CHECK(count >= 0 && (count == 0 || tensors), "sgd on cuda: bad tensor list");
  ISH_CHECK(!nesterov || (momentum > 0 && dampening == 0), "sgd on cuda: nesterov needs momentum > 0 and dampening 0");
  for (int i = 0; i < count; i++) {
    const SgdTensor& t = tensors[i];
    ISH_CHECK(t.n >= 0, "sgd on cuda: tensor ", i, " has negative size");
    ISH_CHECK(t.n == 0 || (t.param && t.grad), "sgd on cuda: tensor ", i, " has no param or grad");
    ISH_CHECK(t.n == 0 || momentum == 0 || t.momentum, "sgd on cuda: tensor ", i, " has no momentum buffer");
  }
  Tables& tb = tables_for(tensors, count);
  if (tb.nchunks == 0) return;
  const int grid = (int)std::min<int64_t>(tb.nchunks, (int64_t)sm_count() * 8);
  sgd_k<<<grid, 256, 0, stream()>>>(tb.d_ts, tb.d_chunks, tb.nchunks, lr, momentum, dampening, nesterov, first_step);
  CHECK_LAUNCH("sgd_multi");
}

}  // namespace ish::cuda
