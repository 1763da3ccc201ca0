// The order in which cuDNN convolution algorithms are tried, as pure host code (no cuDNN types)
// so that a CPU test covers it. Input: cuDNN's ranked results (Find: fastest first; heuristics:
// best first). Output: the candidates to try, in order; when the current one fails at run time
// (not supported, its workspace cannot be allocated, execution failure), the next one is used.
#pragma once
#include <cstddef>
#include <vector>

namespace ish::cuda {

struct AlgoResult {
  int algo = 0;
  int math = 0;                // cuDNN's math type for this result
  bool ok = false;             // status == CUDNN_STATUS_SUCCESS
  bool deterministic = false;  // determinism == CUDNN_DETERMINISTIC
  bool tensor_op = false;      // math is a tensor-op (TF32) math type
};
struct AlgoChoice {
  int algo = 0;
  int math = 0;  // the math type to set on the descriptor
  bool deterministic = false;
  bool operator==(const AlgoChoice& o) const { return algo == o.algo && math == o.math; }
};

// Keeps cuDNN's order; drops failed results, non-deterministic ones in deterministic mode, and
// tensor-op ones without TF32; without TF32 the math type is pinned to fma_math (strict fp32),
// so results differing only in math type collapse to one candidate (the first).
inline std::vector<AlgoChoice> conv_algo_order(const std::vector<AlgoResult>& ranked, bool deterministic, bool tf32,
                                               int fma_math) {
  std::vector<AlgoChoice> out;
  for (const AlgoResult& r : ranked) {
    if (!r.ok || (deterministic && !r.deterministic) || (!tf32 && r.tensor_op)) continue;
    const AlgoChoice c{r.algo, tf32 ? r.math : fma_math, r.deterministic};
    bool seen = false;
    for (const AlgoChoice& o : out) seen = seen || o == c;
    if (!seen) out.push_back(c);
  }
  return out;
}

// The candidates of one plan and which one is in use. fail() moves to the next one and returns
// false when none is left.
struct AlgoFallback {
  std::vector<AlgoChoice> order;
  size_t cur = 0;
  bool empty() const { return cur >= order.size(); }
  const AlgoChoice& current() const { return order[cur]; }
  bool fail() {
    if (cur < order.size()) cur++;
    return cur < order.size();
  }
};

}  // namespace ish::cuda

namespace ish::cuda {
// cuDNN 9 groups its status codes by thousands: 3xxx not supported, 4xxx internal (allocation
// failures included), 5xxx execution failed. Those make the next algorithm worth a try; 1xxx
// (not initialised) and 2xxx (bad parameter: a bug on our side) do not.
inline bool conv_status_retryable(int status) {
  const int cat = status / 1000;
  return cat == 3 || cat == 4 || cat == 5;
}
}  // namespace ish::cuda

#include "engine/dims.h"

namespace ish::cuda {
enum class ConvOp { Fwd, BwdData, BwdFilter };
// What each cached plan runs (engine/cuda/conv.cpp; CUDA builds only): for tests and diagnostics.
struct ConvPlanInfo {
  ConvOp op;
  ConvDims dims;
  bool tf32 = false, deterministic_mode = false;  // the options the plan was made under
  AlgoChoice current;                             // the candidate in use (its determinism as cuDNN reported it)
  int candidates_left = 0;                        // this one included
};
std::vector<ConvPlanInfo> conv_plans();
}  // namespace ish::cuda
