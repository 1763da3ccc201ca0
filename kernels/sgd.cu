// SGD over every parameter in one launch (torch.optim.SGD semantics, fp32):
//   d = g + wd*p;  buf = first ? d : momentum*buf + (1-dampening)*d;
//   d = nesterov ? d + momentum*buf : buf;  p -= lr*d.
// The tensor list travels in the kernel's parameter block (up to 32 KB on Volta and newer with
// CUDA >= 12.1): no device table, no host-to-device copy, no allocation, one launch for up to
// kMaxTensors tensors (ResNet-50 has 161). Each tensor is cut into kChunk-element chunks; block b
// finds its tensor by a binary search over the chunk prefix sums, then walks chunks b, b+grid...
// Each product and sum is rounded on its own (__fmul_rn/__fadd_rn: no FMA contraction), as
// torch's CPU kernels and our CPU twin (train/sgd.h) do, so the two agree bitwise.
#include <algorithm>

#include "kernels/common.cuh"

namespace ish::cuda {
namespace {

constexpr int64_t kChunk = 16384;
constexpr int kMaxTensors = 600;  // 600 * (40 + 4) bytes + header: under the 32 KB parameter limit

struct SgdArgs {
  int count;
  int total_chunks;
  float lr, mom, damp;
  bool nesterov, first;
  SgdTensor t[kMaxTensors];
  int chunk_start[kMaxTensors + 1];  // prefix sums of the per-tensor chunk counts
};

__global__ void sgd_k(const __grid_constant__ SgdArgs a) {
  for (int ci = blockIdx.x; ci < a.total_chunks; ci += gridDim.x) {
    int lo = 0, hi = a.count - 1;  // last tensor with chunk_start <= ci
    while (lo < hi) {
      const int mid = (lo + hi + 1) >> 1;
      if (a.chunk_start[mid] <= ci) lo = mid;
      else hi = mid - 1;
    }
    const SgdTensor& t = a.t[lo];
    const int64_t start = (int64_t)(ci - a.chunk_start[lo]) * kChunk, end = min(t.n, start + kChunk);
    for (int64_t i = start + threadIdx.x; i < end; i += blockDim.x) {
      const float p = t.param[i];
      float d = t.grad[i];
      if (t.weight_decay != 0.f) d = __fadd_rn(d, __fmul_rn(t.weight_decay, p));
      if (a.mom != 0.f) {
        const float b = a.first ? d : __fadd_rn(__fmul_rn(t.momentum[i], a.mom), __fmul_rn(1.f - a.damp, d));
        t.momentum[i] = b;
        d = a.nesterov ? __fadd_rn(d, __fmul_rn(a.mom, b)) : b;
      }
      t.param[i] = __fadd_rn(p, __fmul_rn(-a.lr, d));
    }
  }
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
  static SgdArgs* args = new SgdArgs();  // 26 KB: not on the stack
  for (int base = 0; base < count; base += kMaxTensors) {  // more than kMaxTensors: a few launches
    SgdArgs& a = *args;
    a.count = std::min(kMaxTensors, count - base);
    a.lr = lr;
    a.mom = momentum;
    a.damp = dampening;
    a.nesterov = nesterov;
    a.first = first_step;
    int64_t chunks = 0;
    for (int i = 0; i < a.count; i++) {
      a.t[i] = tensors[base + i];
      a.chunk_start[i] = (int)chunks;
      chunks += ceil_div(a.t[i].n, kChunk);
      ISH_CHECK(chunks < 0x7fffffff, "sgd on cuda: too many parameters");
    }
    a.chunk_start[a.count] = (int)chunks;
    a.total_chunks = (int)chunks;
    if (chunks == 0) continue;
    const int grid = (int)std::min<int64_t>(chunks, (int64_t)sm_count() * 8);
    sgd_k<<<grid, 256, 0, stream()>>>(a);
    CHECK_LAUNCH("sgd_multi");
  }
}

}  // namespace ish::cuda
