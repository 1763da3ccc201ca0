// AdaSCALE's network passes for a ResNet (eval/features.h's ResNetGradNet): the input gradient of each
// sample's max logit, and a plain forward that returns the pooled features.
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "eval/features.h"

namespace ish::eval {

Tensor ResNetGradNet::maxlogit_input_grad(const Tensor& x, Tensor* logits, Tensor* features) {
  return input_grad(x, "adascale", [&](const models::ResNet::Output& out) {
    if (logits) *logits = out.logits.detach().to(Device::CPU);
    if (features) *features = out.features.detach().to(Device::CPU);
    // sum over the batch of z[b, argmax z[b]]: with BN in eval mode each sample's gradient is its own
    return ops::sum(ops::max_last(out.logits));
  });
}

Tensor ResNetGradNet::features(const Tensor& x) {
  NoGradGuard ng;
  return m_.forward(x.to(m_.device())).features.to(Device::CPU);
}

}  // namespace ish::eval
