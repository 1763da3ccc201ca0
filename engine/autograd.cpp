#include "engine/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/ops.h"

namespace ish {

static thread_local bool g_grad_enabled = true;
NoGradGuard::NoGradGuard() : prev_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = prev_; }

namespace autograd {

bool grad_enabled() { return g_grad_enabled; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

Tensor record(Tensor out, const char* name, std::vector<Tensor> inputs,
              std::function<std::vector<Tensor>(const Tensor&)> bw) {
  if (!g_grad_enabled) return out;
  bool any = false;
  for (auto& t : inputs) any = any || (t.defined() && t.requires_grad());
  if (!any) return out;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs = std::move(inputs);
  node->backward = std::move(bw);
  out.set_requires_grad(true);
  out.set_grad_fn(std::move(node));
  return out;
}

void backward(const Tensor& root) {
  ISH_CHECK(root.numel() == 1, "backward(): the root must have one element, got ", shape_str(root.shape()));
  backward(root, Tensor::full(root.shape(), 1.0, root.dtype(), root.device()));
}

void backward(const Tensor& root, const Tensor& seed) {
  ISH_CHECK(root.requires_grad(), "backward(): tensor ", root.name(), " does not require grad");
  check_shape(seed, root.shape(), "backward seed");
  NoGradGuard no_grad;  // backward closures and accumulation must not record
  // Topological order of the non-leaf tensors reachable from root (iterative DFS, post-order).
  std::vector<TensorImpl*> order;
  std::unordered_map<TensorImpl*, Tensor> handle;
  std::unordered_set<TensorImpl*> seen;
  std::vector<std::pair<Tensor, size_t>> stack{{root, 0}};
  seen.insert(root.impl());
  while (!stack.empty()) {
    auto& [t, i] = stack.back();
    const auto& fn = t.grad_fn();
    if (fn && i < fn->inputs.size()) {
      const Tensor& in = fn->inputs[i++];
      if (in.defined() && in.requires_grad() && in.grad_fn() && !seen.count(in.impl())) {
        seen.insert(in.impl());
        stack.push_back({in, 0});
      }
      continue;
    }
    handle[t.impl()] = t;
    order.push_back(t.impl());
    stack.pop_back();
  }
  std::unordered_map<TensorImpl*, Tensor> grads;
  grads[root.impl()] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    auto g = grads.find(*it);
    if (g == grads.end()) continue;  // nothing flowed here
    Tensor gout = g->second;
    grads.erase(g);
    const auto& fn = handle[*it].grad_fn();
    std::vector<Tensor> gin = fn->backward(gout);
    ISH_ASSERT(gin.size() == fn->inputs.size(), "node ", fn->name, " returned ", gin.size(), " grads");
    for (size_t k = 0; k < gin.size(); k++) {
      Tensor& in = fn->inputs[k];
      if (!in.defined() || !in.requires_grad() || !gin[k].defined()) continue;
      ISH_ASSERT(gin[k].shape() == in.shape(), "node ", fn->name, " grad ", k, " shape ", shape_str(gin[k].shape()),
                 " vs input ", shape_str(in.shape()));
      if (in.grad_fn()) {
        auto gi = grads.find(in.impl());
        if (gi == grads.end()) grads[in.impl()] = gin[k];
        else gi->second = ops::add(gi->second, gin[k]);  // grad mode is off here (see below)
      } else {
        Tensor& acc = in.grad();
        // The first contribution is taken over when nothing else can see its memory (no copy, and on a
        // device no allocation); one that aliases a closure's tensor or another input's grad is copied.
        if (acc.defined()) ops::add_(acc, gin[k]);
        else if (gin[k].sole_owner()) acc = std::move(gin[k]);
        else acc = gin[k].clone();
      }
    }
  }
}

}  // namespace autograd
}  // namespace ish
