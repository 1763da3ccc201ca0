// AdaSCALE's network passes for any models::Net (eval/features.h's NetGradNet): the input gradient of
// each sample's max logit, and a plain forward that returns the features.
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "eval/features.h"

namespace ish::eval {

Tensor NetGradNet::maxlogit_input_grad(const Tensor& x, Tensor* logits, Tensor* features) {
  return input_grad(x, "adascale", [&](const models::Net::Output& out) {
    if (logits) *logits = out.logits.detach().to(Device::CPU);
    if (features) *features = out.features.detach().to(Device::CPU);
    // sum over the batch of z[b, argmax z[b]]: each sample's gradient is its own (see NetGradNet)
    return ops::sum(ops::max_last(out.logits));
  });
}

Tensor NetGradNet::features(const Tensor& x) {
  NoGradGuard ng;
  return m_.forward(x.to(m_.device())).features.to(Device::CPU);
}

}  // namespace ish::eval
