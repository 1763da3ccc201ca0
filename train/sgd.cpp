#include "train/sgd.h"

#include <set>

#ifdef ISHSCALE_CUDA
#include "engine/cuda/backend.h"
#endif

namespace ish::train {

template <class T>
void sgd_update_cpu(int64_t n, T* p, const T* g, T* buf, const SgdGroupOptions& o, double lr, bool first) {
  const T wd = (T)o.weight_decay, m = (T)o.momentum, damp1 = (T)(1.0 - o.dampening), alr = (T)lr;
  for (int64_t i = 0; i < n; i++) {
    T d = g[i];
    if (o.weight_decay != 0) d = d + wd * p[i];
    if (o.momentum != 0) {
      T b = first ? d : buf[i] * m + damp1 * d;
      buf[i] = b;
      d = o.nesterov ? d + m * b : b;
    }
    p[i] = p[i] - alr * d;
  }
}
template void sgd_update_cpu<float>(int64_t, float*, const float*, float*, const SgdGroupOptions&, double, bool);
template void sgd_update_cpu<double>(int64_t, double*, const double*, double*, const SgdGroupOptions&, double,
                                     bool);

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

#ifdef ISHSCALE_CUDA
// One launch per (group, first-step-or-not) batch of f32 CUDA tensors.
static void step_cuda(const SgdGroupOptions& o, std::vector<cuda::SgdTensor>& ts, bool first) {
  if (ts.empty()) return;
  cuda::sgd_multi(ts.data(), (int)ts.size(), (float)o.lr, (float)o.momentum, (float)o.dampening, o.nesterov, first);
  ts.clear();
}
#endif

void SGD::step() {
  for (auto& g : groups_) {
    const SgdGroupOptions& o = g.opt;
#ifdef ISHSCALE_CUDA
    std::vector<cuda::SgdTensor> first_ts, next_ts;
#endif
    for (auto& [name, p] : g.params) {
      const Tensor& gr = p.grad();
      if (!gr.defined()) continue;
      ISH_CHECK(gr.shape() == p.shape() && gr.dtype() == p.dtype() && gr.device() == p.device(), "SGD: grad of ",
                name, " is ", shape_str(gr.shape()), " ", dtype_name(gr.dtype()), " on ", device_name(gr.device()),
                ", parameter is ", shape_str(p.shape()), " ", dtype_name(p.dtype()), " on ",
                device_name(p.device()));
      bool first = false;
      Tensor* buf = nullptr;
      if (o.momentum != 0) {
        auto it = buf_.find(name);
        if (it == buf_.end()) {
          it = buf_.emplace(name, Tensor::empty(p.shape(), p.dtype(), p.device())).first;
          first = true;
        }
        buf = &it->second;
      }
      if (p.is_cuda()) {
#ifdef ISHSCALE_CUDA
        ISH_CHECK(p.dtype() == DType::F32, "SGD: CUDA parameter ", name, " must be f32");
        cuda::SgdTensor st{p.data<float>(), gr.data<float>(), buf ? buf->data<float>() : nullptr, p.numel(),
                           (float)o.weight_decay};
        (first ? first_ts : next_ts).push_back(st);
#else
        fail("SGD: parameter ", name, " is on CUDA but this build has no CUDA");
#endif
      } else if (p.dtype() == DType::F32) {
        sgd_update_cpu<float>(p.numel(), p.data<float>(), gr.data<float>(), buf ? buf->data<float>() : nullptr, o,
                              o.lr, first);
      } else {
        sgd_update_cpu<double>(p.numel(), p.data<double>(), gr.data<double>(),
                               buf ? buf->data<double>() : nullptr, o, o.lr, first);
      }
    }
#ifdef ISHSCALE_CUDA
    step_cuda(o, first_ts, true);
    step_cuda(o, next_ts, false);
#endif
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
