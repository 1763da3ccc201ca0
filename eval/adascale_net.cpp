// AdaSCALE's network passes for a ResNet (eval/features.h's ResNetGradNet): the input gradient of each
// sample's max logit, and a plain forward that returns the pooled features.
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "eval/features.h"

namespace ish::eval {

Tensor ResNetGradNet::maxlogit_input_grad(const Tensor& x, Tensor* logits, Tensor* features) {
  auto params = m_.named_parameters();
  for (auto& [n, p] : params) p.set_requires_grad(false);
  struct Restore {
    models::NamedTensors& ps;
    ~Restore() { for (auto& [n, p] : ps) p.set_requires_grad(true); }
  } restore{params};
  Tensor xi = x.to(m_.device());
  if (xi.same(x)) xi = x.clone();
  xi.set_requires_grad(true);
  auto out = m_.forward(xi);
  // sum over the batch of z[b, argmax z[b]]: with BN in eval mode each sample's gradient is its own
  Tensor loss = ops::sum(ops::max_last(out.logits));
  loss.backward();
  if (logits) *logits = out.logits.detach().to(Device::CPU);
  if (features) *features = out.features.detach().to(Device::CPU);
  ISH_CHECK(xi.grad().defined(), "adascale: the network produced no input gradient");
  return xi.grad().to(Device::CPU);
}

Tensor ResNetGradNet::features(const Tensor& x) {
  NoGradGuard ng;
  return m_.forward(x.to(m_.device())).features.to(Device::CPU);
}

}  // namespace ish::eval
