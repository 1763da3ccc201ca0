// Reverse-mode autograd on a tape of Nodes.
//
// Conventions:
//  - Parameter (leaf) gradients ACCUMULATE: backward() adds into leaf.grad(); call zero_grad
//    (or reset the grad) between steps. An undefined grad takes over the first contribution's
//    memory when nothing else can see it (Tensor::sole_owner), else a copy: no per-parameter copy.
//  - Activation (non-leaf) gradients are ASSIGNED: each backward() starts them from zero and
//    sums the contributions of every consumer (shared subexpressions are handled).
//  - A Node holds its inputs (keeping them alive) but never its own output; backward closures
//    capture detached copies of whatever they need.
//  - Only first-order gradients: backward closures call backend kernels, not differentiable ops.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ish {

struct Node {
  std::string name;           // op name, for errors and debugging
  std::vector<Tensor> inputs;  // the inputs gradients flow to (undefined entries are skipped)
  // Given d(loss)/d(output), returns one gradient per input (undefined where none).
  std::function<std::vector<Tensor>(const Tensor& gout)> backward;
};

namespace autograd {
bool grad_enabled();
// True when an op with these inputs must record a node.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
// Attach a node to `out` if any input requires grad (and grad mode is on). Returns out.
Tensor record(Tensor out, const char* name, std::vector<Tensor> inputs,
              std::function<std::vector<Tensor>(const Tensor&)> backward);
void backward(const Tensor& root);                       // seeds 1
void backward(const Tensor& root, const Tensor& seed);  // seeds d(root) = seed
}  // namespace autograd

// Disables recording for its lifetime (inference, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
 private:
  bool prev_;
};

}  // namespace ish
