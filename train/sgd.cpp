#include "train/sgd.h"

#include <set>

#include "engine/ops.h"

namespace ish::train {

SGD::SGD(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {
  std::set<std::string> seen;
  for (auto& g : groups_) {
    ISH_CHECK(g.opt.lr >= 0, "SGD: invalid learning rate ", g.opt.lr);
    ISH_CHECK(g.opt.momentum >= 0, "SGD: invalid momentum ", g.opt.momentum);
    ISH_CHECK(g.opt.weight_decay >= 0, "SGD: invalid weight_decay ", g.opt.weight_decay);
    ISH_CHECK(!g.opt.nesterov || (g.opt.momentum > 0 && g.opt.dampening == 0),
              "SGD: Nesterov momentum requires a momentum and zero dampening");
    g.base_lr = g.opt.lr;
    for (auto& [name, t] : g.params) {
      ISH_CHECK(seen.insert(name).second, "SGD: parameter ", name, " appears in more than one group");
      ISH_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64, "SGD: parameter ", name, " has dtype ",
                dtype_name(t.dtype()), " (f32/f64 only)");
    }
  }
}

void SGD::set_lr_factor(double factor) {
  for (auto& g : groups_) g.opt.lr = g.base_lr * factor;
}

void SGD::zero_grad() {
  for (auto& g : groups_)
    for (auto& [name, t] : g.params) t.grad() = Tensor();
}

void SGD::step() {
  for (auto& g : groups_) {
    const SgdGroupOptions& o = g.opt;
    // Parameters whose momentum buffer starts now and the others: one fused update each.
    std::vector<ops::SgdParam> first, next;
    for (auto& [name, p] : g.params) {
      const Tensor& gr = p.grad();
      if (!gr.defined()) continue;
      ISH_CHECK(gr.shape() == p.shape() && gr.dtype() == p.dtype() && gr.device() == p.device(), "SGD: grad of ",
                name, " is ", shape_str(gr.shape()), " ", dtype_name(gr.dtype()), " on ", device_name(gr.device()),
                ", parameter is ", shape_str(p.shape()), " ", dtype_name(p.dtype()), " on ",
                device_name(p.device()));
      bool is_first = false;
      Tensor buf;
      if (o.momentum != 0) {
        auto it = buf_.find(name);
        if (it == buf_.end()) {
          it = buf_.emplace(name, Tensor::empty(p.shape(), p.dtype(), p.device())).first;
          is_first = true;
        }
        buf = it->second;
      }
      (is_first ? first : next).push_back({p, gr, buf, o.weight_decay});
    }
    const ops::SgdHyper h{o.lr, o.momentum, o.dampening, o.nesterov};
    for (auto* batch : {&first, &next}) {
      // One update per device (a group may in principle mix them); one launch per device on cuda.
      for (Device dev : {Device::CPU, Device::CUDA}) {
        std::vector<ops::SgdParam> on_dev;
        for (auto& sp : *batch)
          if (sp.param.device() == dev) on_dev.push_back(sp);
        ops::sgd_update_(on_dev, h, batch == &first);
      }
    }
  }
}

NamedTensors SGD::state() const {
  NamedTensors out;
  for (auto& g : groups_)
    for (auto& [name, p] : g.params) {
      auto it = buf_.find(name);
      if (it != buf_.end()) out.emplace_back(state_key(name), it->second);
    }
  return out;
}

void SGD::load_state(const std::map<std::string, Tensor>& tensors) {
  std::map<std::string, const Tensor*> by_key;
  for (auto& g : groups_)
    for (auto& [name, p] : g.params) by_key[state_key(name)] = &p;
  std::map<std::string, Tensor> bufs;
  const std::string pre = kPrefix;
  for (auto& [key, t] : tensors) {
    if (key.compare(0, pre.size(), pre) != 0) continue;
    auto it = by_key.find(key);
    ISH_CHECK(it != by_key.end(), "optimizer state ", key, " names no parameter of this model");
    const Tensor& p = *it->second;
    ISH_CHECK(t.shape() == p.shape() && t.dtype() == p.dtype(), "optimizer state ", key, " is ",
              shape_str(t.shape()), " ", dtype_name(t.dtype()), ", parameter is ", shape_str(p.shape()), " ",
              dtype_name(p.dtype()));
    std::string name = key.substr(pre.size(), key.size() - pre.size() - std::string(".momentum_buffer").size());
    bufs[name] = t.device() == p.device() ? t.clone() : t.to(p.device());
  }
  buf_ = std::move(bufs);  // nothing half-loaded: replaced only once every key checked
}

}  // namespace ish::train
