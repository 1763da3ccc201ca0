// ODIN's perturbation and scoring against the torch reference, on a linear "network" z = W x + b over
// NHWC images whose input gradient is written out analytically here (the ResNet adapter is tested end to end).
#include <cmath>

#include "eval/aps.h"
#include "eval/detectors.h"
#include "tests/util.h"

using namespace ish;

namespace {

class LinearNet : public eval::InputGradNet {
 public:
  LinearNet(Tensor W, Tensor b) : W_(std::move(W)), b_(std::move(b)) {}
  Tensor logits(const Tensor& x) override {
    const int64_t B = x.size(0), C = W_.size(0), P = W_.size(1);
    REQUIRE(x.numel() == B * P);
    Tensor z = Tensor::empty({B, C});
    const float *xv = x.data<float>(), *w = W_.data<float>(), *bv = b_.data<float>();
    for (int64_t i = 0; i < B; i++)
      for (int64_t c = 0; c < C; c++) {
        double s = bv[c];
        for (int64_t j = 0; j < P; j++) s += (double)xv[i * P + j] * w[c * P + j];
        z.data<float>()[i * C + c] = (float)s;
      }
    return z;
  }
  // d mean_i CE(y_i, z_i / T) / dx = (softmax(z/T) - onehot(y)) W / (T B), y = argmax z
  Tensor ce_input_grad(const Tensor& x, double T, Tensor* out) override {
    Tensor z = logits(x);
    const int64_t B = x.size(0), C = W_.size(0), P = W_.size(1);
    Tensor g = Tensor::zeros(x.shape());
    const float* zv = z.data<float>();
    const float* w = W_.data<float>();
    for (int64_t i = 0; i < B; i++) {
      int64_t y = 0;
      double mx = -INFINITY, sum = 0;
      for (int64_t c = 0; c < C; c++) {
        if (zv[i * C + c] > zv[i * C + y]) y = c;
        mx = std::max(mx, zv[i * C + c] / T);
      }
      std::vector<double> p(C);
      for (int64_t c = 0; c < C; c++) sum += (p[c] = std::exp(zv[i * C + c] / T - mx));
      for (int64_t j = 0; j < P; j++) {
        double s = 0;
        for (int64_t c = 0; c < C; c++) s += (p[c] / sum - (c == y ? 1.0 : 0.0)) * w[c * P + j];
        g.data<float>()[i * P + j] = (float)(s / (T * (double)B));
      }
    }
    if (out) *out = z;
    return g;
  }

 private:
  Tensor W_, b_;
};

eval::ImageStream stream_of(const Tensor& imgs, int64_t batch) {
  return [imgs, batch](const std::function<void(const Tensor&, int64_t)>& fn) {
    for (int64_t i = 0; i < imgs.size(0); i += batch) fn(imgs.narrow0(i, std::min(batch, imgs.size(0) - i)), i);
  };
}

eval::FeatureSet labels_only(int64_t n, int64_t label) {
  eval::FeatureSet f;
  f.labels = Tensor::full({n}, (double)label, DType::I64);
  f.features = Tensor::zeros({n, 1});
  f.logits = Tensor::zeros({n, 1});
  return f;
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("eval odin matches the torch reference on a linear network") {
  auto T = test::load_fixture("eval_detectors.safetensors");
  LinearNet net(T.at("odin.W"), T.at("odin.b"));
  eval::Fc fc{T.at("fc.W"), T.at("fc.b")};
  auto odin = eval::make_detector("odin", fc, &net);
  Tensor test_imgs = T.at("odin.images.test");
  eval::ImageStream s = stream_of(test_imgs, 7);  // batches of 7: the mean CE's 1/B must not change signs
  for (auto [tag, p] : std::vector<std::pair<std::string, eval::HParams>>{
           {"default", {{"temperature", 1000}, {"noise", 0.0014}}}, {"alt", {{"temperature", 1}, {"noise", 0.0028}}}}) {
    odin->set_params(p);
    eval::Scores sc = odin->score(eval::FeatureSet{}, &s);
    Tensor got = Tensor::from_f64(std::vector<double>(sc.conf.begin(), sc.conf.end()), {(int64_t)sc.conf.size()});
    // 1e-5: float32 network and softmax on both sides
    CHECK_MESSAGE(test::rel_error(got, T.at("odin." + tag + ".test.conf")) <= 1e-5, tag);
    const int64_t* wp = T.at("odin." + tag + ".test.pred").data<int64_t>();
    for (size_t i = 0; i < sc.pred.size(); i++) CHECK(sc.pred[i] == wp[i]);
  }
  // APS over (T, eps), first strict maximum
  eval::ImageStream sv = stream_of(T.at("odin.images.val"), 16), so = stream_of(T.at("odin.images.oodval"), 16);
  eval::ApsResult r = eval::aps_search(*odin, labels_only(40, 0), labels_only(40, -1), {}, &sv, &so);
  auto trace = T.at("aps.odin.trace").to_f64_vector();
  REQUIRE(r.trace.size() == trace.size());
  for (size_t i = 0; i < trace.size(); i++) CHECK(std::fabs(r.trace[i].second - trace[i]) <= 1e-9);
  int64_t best = T.at("aps.odin.best").data<int64_t>()[0];
  CHECK(eval::hparams_str(r.best) == eval::hparams_str(odin->grid()[best]));
}
}
