// The wording of CUDA failures, kept free of CUDA types so host-side tests can check it: an
// allocation that fails because memory ran out is told apart from one that fails because an earlier
// kernel faulted (a sticky error: every later call fails with it, and more memory would not help).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/error.h"

namespace ish::cuda {

enum class Failure { OutOfMemory, KernelFault, Other };

// last_launch: "name (file:line)" of the last kernel or library call enqueued, or "" if none.
// sync_each: whether ISHSCALE_SYNC=1 was on (then the last launch is the one that faulted).
inline std::string fault_hint(const std::string& last_launch, bool sync_each) {
  if (last_launch.empty()) return "no kernel was launched before it";
  if (sync_each) return str("the faulting kernel: ", last_launch);
  return str("the last kernel launched: ", last_launch,
             " (launches are asynchronous: rerun with ISHSCALE_SYNC=1 to stop at the faulting one)");
}

inline std::string alloc_failure_text(Failure kind, size_t bytes, int64_t in_use, size_t dev_free, size_t dev_total,
                                      const std::string& err, const std::string& last_launch, bool sync_each) {
  if (kind == Failure::OutOfMemory)
    return str("out of GPU memory: cannot allocate ", bytes, " bytes (in use ", in_use, ", device free ", dev_free,
               " of ", dev_total, "): ", err, "; try a smaller --batch-size");
  if (kind == Failure::KernelFault)
    return str("CUDA error while allocating ", bytes, " bytes: ", err,
               " (a kernel fault in earlier GPU work, not a lack of memory); ", fault_hint(last_launch, sync_each));
  return str("CUDA error while allocating ", bytes, " bytes: ", err);
}

}  // namespace ish::cuda
