// SGD with momentum, dampening, Nesterov and per-group weight decay, exactly as torch.optim.SGD:
//   d_p = g + wd * p
//   buf = d_p (the first step of that parameter), else momentum * buf + (1 - dampening) * d_p
//   d_p = d_p + momentum * buf (Nesterov), else d_p = buf
//   p  -= lr * d_p
// A parameter whose grad is undefined is skipped (its buffer is not touched), as torch does.
// The update itself is the engine op ops::sgd_update_ (plain loops in f32/f64 on the CPU, one
// multi-tensor launch per group on cuda).
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace ish::train {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct SgdGroupOptions {
  double lr = 0.1;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

struct ParamGroup {
  NamedTensors params;  // name -> leaf tensor (its grad() is read)
  SgdGroupOptions opt;
  double base_lr = 0;   // lr before any schedule (LambdaLR's base_lrs); set by SGD from opt.lr
};

class SGD {
 public:
  explicit SGD(std::vector<ParamGroup> groups);
  void step();
  void zero_grad();  // resets every grad to undefined (torch's set_to_none)
  // LambdaLR: every group's lr = its base lr * factor.
  void set_lr_factor(double factor);
  std::vector<ParamGroup>& groups() { return groups_; }

  // Momentum buffers as "optim.<param name>.momentum_buffer" (only those that exist), on the params' device.
  NamedTensors state() const;
  // Restores buffers from a name->tensor map holding the keys of state() (other keys are ignored).
  // A key whose parameter is unknown, or a shape/dtype mismatch, is an error naming the tensor.
  void load_state(const std::map<std::string, Tensor>& tensors);
  static constexpr const char* kPrefix = "optim.";
  static std::string state_key(const std::string& param) { return kPrefix + param + ".momentum_buffer"; }

 private:
  std::vector<ParamGroup> groups_;
  std::map<std::string, Tensor> buf_;  // param name -> momentum buffer
};

}  // namespace ish::train
