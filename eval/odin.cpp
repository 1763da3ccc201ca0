// ODIN: x~ = x - eps * s / std_c with s = +1 where d CE(argmax z, z/T)/dx >= 0 (zero counts as +1; NaN
// as -1, as torch.ge does), then conf = max softmax(net(x~) / T) and pred = its argmax. This detector
// re-runs the network, so it reads the images, not the cached features.
#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "eval/detectors_impl.h"

namespace ish::eval::detail {
namespace {

class Odin : public ParamDetector {
 public:
  Odin(Fc fc, InputGradNet* net) : ParamDetector(std::move(fc)), net_(net) {
    p_ = {{"temperature", 1000}, {"noise", 0.0014}};
    grid_ = grid2("temperature", {1, 10, 100, 1000}, "noise", {0.0014, 0.0028});
  }
  std::string name() const override { return "odin"; }
  bool needs_images() const override { return true; }
  void check_param(const std::string& k, double v) const override {
    if (k == "temperature") ISH_CHECK(v > 0, "odin: temperature must be > 0, got ", v);
    if (k == "noise") ISH_CHECK(v >= 0, "odin: noise must be >= 0, got ", v);
  }
  Scores score(const FeatureSet& f, const ImageStream* images) override {
    ISH_CHECK(net_ != nullptr, "odin needs the network (no model was given)");
    ISH_CHECK(images != nullptr && *images, "odin needs the images of the list, not only cached features");
    const double T = get("temperature");
    const float neg_eps = (float)(-get("noise"));
    const std::vector<double> stdv = net_->input_std();
    Scores s;
    (*images)([&](const Tensor& x, int64_t first) {
      ISH_CHECK(x.dim() == 4 && x.dtype() == DType::F32 && !x.is_cuda(), "odin: images must be CPU F32 [B,H,W,C], got ",
                shape_str(x.shape()));
      const int64_t B = x.size(0), ch = x.size(3), per = x.numel() / std::max<int64_t>(B, 1);
      ISH_CHECK((int64_t)stdv.size() == ch, "odin: ", ch, " image channels but ", stdv.size(), " normalisation stds");
      ISH_CHECK(first == (int64_t)s.conf.size(), "odin: image batches out of order (", first, ")");
      Tensor z;
      Tensor g = net_->ce_input_grad(x, T, &z);
      ISH_CHECK(g.defined() && g.shape() == x.shape(), "odin: input gradient has the wrong shape");
      Tensor gc = g.is_cuda() ? g.to(Device::CPU) : g;
      Tensor xp = Tensor::empty(x.shape());
      const float* xv = x.data<float>();
      const float* gv = gc.data<float>();
      float* pv = xp.data<float>();
      std::vector<float> step(ch * 2);  // (+1 / std_c, -1 / std_c) in float32, as torch divides
      for (int64_t c = 0; c < ch; c++) {
        step[2 * c] = 1.0f / (float)stdv[c];
        step[2 * c + 1] = -1.0f / (float)stdv[c];
      }
      const int64_t total = B * per;
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < total; i++) {
        const int64_t c = i % ch;
        const float sg = gv[i] >= 0 ? step[2 * c] : step[2 * c + 1];
        pv[i] = xv[i] + neg_eps * sg;
      }
      Tensor z2 = net_->logits(xp);
      Tensor zc = z2.is_cuda() ? z2.to(Device::CPU) : z2;
      ISH_CHECK(zc.dim() == 2 && zc.size(0) == B, "odin: logits have the wrong shape ", shape_str(zc.shape()));
      const int64_t C = zc.size(1);
      const float* zv = zc.data<float>();
      for (int64_t i = 0; i < B; i++) {
        const float* r = &zv[i * C];
        double mx = -INFINITY, sum = 0;
        int64_t am = 0;
        for (int64_t j = 0; j < C; j++) {
          double t = (double)r[j] / T;
          if (t > mx) { mx = t; am = j; }
        }
        for (int64_t j = 0; j < C; j++) sum += std::exp((double)r[j] / T - mx);
        s.conf.push_back((float)(1.0 / sum));
        s.pred.push_back(am);
      }
    });
    ISH_CHECK(f.size() == 0 || f.size() == (int64_t)s.conf.size(), "odin: ", s.conf.size(), " images scored but the list has ",
              f.size());
    return s;
  }

 private:
  InputGradNet* net_;
};

}  // namespace

std::unique_ptr<Detector> make_odin(const Fc& fc, InputGradNet* net) { return std::make_unique<Odin>(fc, net); }

}  // namespace ish::eval::detail
