// Caching device allocator. Blocks are rounded to size classes (512 B below 1 MiB, 2 MiB above)
// and, once freed, parked in a free list instead of going back to cudaFree. All device work is
// ordered on the one ishscale stream, so a block freed by the host can be handed to the next
// request at once: any kernel that still reads it was enqueued before the new owner's kernels.
#ifdef ISHSCALE_CUDA
#include <map>
#include <mutex>
#include <unordered_map>

#include "engine/cuda/backend.h"
#include "engine/cuda/runtime.h"

namespace ish::cuda {
namespace {

constexpr size_t kSmall = 1 << 20, kSmallRound = 512, kLargeRound = 2 << 20;

size_t round_size(size_t b) {
  if (b == 0) b = 1;
  size_t r = b <= kSmall ? kSmallRound : kLargeRound;
  return (b + r - 1) / r * r;
}

struct Allocator {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // size -> block
  std::unordered_map<void*, size_t> live;    // block -> size
  AllocStats st;

  // may_fail: return nullptr when memory runs out instead of throwing (cuDNN workspaces, which
  // have a fallback). A kernel fault always throws.
  void* alloc(size_t bytes, bool may_fail) {
    std::lock_guard<std::mutex> lock(mu);
    const size_t r = round_size(bytes);
    st.allocs++;
    // Best fit, but never more than 1/8 larger than asked, so big blocks are not wasted on small tensors.
    auto it = free_blocks.lower_bound(r);
    if (it != free_blocks.end() && it->first <= r + r / 8) {
      void* p = it->second;
      size_t sz = it->first;
      free_blocks.erase(it);
      return take(p, sz);
    }
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, r);
    if (e != cudaSuccess) {
      if (classify(e) != Failure::OutOfMemory) fail_locked(e, r);
      cudaGetLastError();  // out of memory is not sticky: clear it, then retry with the cache emptied
      const cudaError_t se = release_cached_locked();
      if (se != cudaSuccess) fail_locked(se, r);
      e = cudaMalloc(&p, r);
      if (e != cudaSuccess) {
        if (classify(e) != Failure::OutOfMemory) fail_locked(e, r);
        cudaGetLastError();
        if (may_fail) return nullptr;
        fail_locked(e, r);
      }
    }
    st.cuda_mallocs++;
    st.bytes_reserved += (int64_t)r;
    return take(p, r);
  }
  [[noreturn]] void fail_locked(cudaError_t e, size_t r) {
    const Failure kind = classify(e);
    size_t free_b = 0, total_b = 0;
    if (kind == Failure::OutOfMemory) cudaMemGetInfo(&free_b, &total_b);
    throw Error(alloc_failure_text(kind, r, st.bytes_in_use, free_b, total_b, cudaGetErrorString(e), last_launch(),
                                   sync_each_launch()),
                kind == Failure::OutOfMemory ? 2 : 3);
  }
  void* take(void* p, size_t sz) {
    live[p] = sz;
    st.bytes_in_use += (int64_t)sz;
    if (st.bytes_in_use > st.peak_bytes_in_use) st.peak_bytes_in_use = st.bytes_in_use;
    return p;
  }
  void free(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu);
    auto it = live.find(p);
    ISH_ASSERT(it != live.end(), "cuda_free of a pointer the allocator does not own");
    st.bytes_in_use -= (int64_t)it->second;
    free_blocks.emplace(it->second, p);
    live.erase(it);
  }
  // Returns the error of the synchronisation (a kernel fault surfaces here); frees nothing then.
  cudaError_t release_cached_locked() {
    const cudaError_t e = cudaStreamSynchronize(stream());
    if (e != cudaSuccess) return e;
    for (auto& kv : free_blocks) {
      cudaFree(kv.second);
      st.bytes_reserved -= (int64_t)kv.first;
    }
    free_blocks.clear();
    return cudaSuccess;
  }
};

// Never destroyed: tensors in static storage may free blocks after main returns.
Allocator& allocator() {
  static Allocator* a = new Allocator();
  return *a;
}

}  // namespace

void* device_alloc(size_t bytes) { return allocator().alloc(bytes, false); }
void* device_try_alloc(size_t bytes) { return allocator().alloc(bytes, true); }
void device_free(void* p) { allocator().free(p); }

AllocStats alloc_stats() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  return a.st;
}
void reset_peak_bytes() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  a.st.peak_bytes_in_use = a.st.bytes_in_use;
}
void empty_cache() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  const cudaError_t e = a.release_cached_locked();
  if (e != cudaSuccess) throw_cuda_error("cudaStreamSynchronize (empty_cache)", __FILE__, __LINE__, e);
}

}  // namespace ish::cuda
#endif
