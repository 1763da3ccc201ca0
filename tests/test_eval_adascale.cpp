// AdaSCALE-A/L through the engine's autograd on a random resnet18 (32x32 inputs), against PyTorch and
// tools/ood_reference.py (tools/fixtures_eval.py: _adascale_goldens):
//  - the shift f' - f per image against PyTorch's AdaSCALE passes on the same images: the median relative
//    L2 error <= 0.45 (float32 noise in the 5%-smallest-|g| mask gives ~0.2; a flipped sign or a wrong
//    mask >= 0.6, METHOD-DETECTORS-2.md);
//  - everything downstream of f' exactly, by the Python reference fed our saved intermediates: Q' <= 1e-5,
//    percentiles <= 1e-9, scores <= 1e-5, and APS's pick over the 36 percentile pairs.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#ifdef ISHSCALE_CUDA
#include "engine/device_options.h"
#endif
#include "eval/adascale.h"
#include "eval/aps.h"
#include "eval/features.h"
#include "eval/npy.h"
#include "models/state_dict.h"
#include "tests/util.h"

using namespace ish;

namespace {

// Batches of 4 over NHWC images [N,H,W,3], in order.
eval::ImageStream stream_of(const Tensor& imgs) {
  return [imgs](const std::function<void(const Tensor&, int64_t)>& fn) {
    const int64_t N = imgs.size(0), per = imgs.numel() / N;
    for (int64_t i = 0; i < N; i += 4) {
      const int64_t n = std::min<int64_t>(4, N - i);
      Tensor x = Tensor::empty({n, imgs.size(1), imgs.size(2), imgs.size(3)});
      std::copy(imgs.data<float>() + i * per, imgs.data<float>() + (i + n) * per, x.data<float>());
      fn(x, i);
    }
  };
}

eval::Fc fc_of(models::ResNet& m) {
  eval::Fc fc;
  for (auto& [n, t] : m.named_parameters()) {
    if (n == "fc.weight") fc.W = t.to(Device::CPU).clone();
    if (n == "fc.bias") fc.b = t.to(Device::CPU).clone();
  }
  return fc;
}

Tensor aux(const eval::Scores& s, const std::string& k) {
  for (auto& [n, t] : s.aux)
    if (n == k) return t;
  return Tensor();
}

// Per-image ||(fp - f) - (fp_ref - f_ref)|| / ||fp_ref - f_ref||, then the median.
double median_shift_err(const std::vector<float>& f, const std::vector<float>& fp, const std::vector<float>& fr,
                        const std::vector<float>& fpr, int64_t D, double* worst) {
  std::vector<double> e;
  for (size_t i = 0; i * D < f.size(); i++) {
    double num = 0, den = 0;
    for (int64_t j = 0; j < D; j++) {
      const double a = (double)fp[i * D + j] - f[i * D + j], r = (double)fpr[i * D + j] - fr[i * D + j];
      num += (a - r) * (a - r);
      den += r * r;
    }
    e.push_back(std::sqrt(num / std::max(den, 1e-300)));
  }
  std::sort(e.begin(), e.end());
  *worst = e.back();
  return e.size() % 2 ? e[e.size() / 2] : 0.5 * (e[e.size() / 2 - 1] + e[e.size() / 2]);
}

struct Setup {
  std::map<std::string, Tensor> T;
  models::ResNet model;
  Setup()
      : T(test::load_fixture("eval_adascale.safetensors")),
        model(models::load_model("resnet18", test::fixture_dir() + "/eval_adascale_resnet18.safetensors")) {
    model.eval();
  }
};

// The AdaSCALE passes of one image set on `dev`, through the detector; returns f, f' and the scores.
struct Run {
  std::vector<float> f, fp;
  eval::Scores s;
};
[[maybe_unused]] Run run_on(Setup& S, Device dev, const std::string& set) {
  S.model.to(dev);
  eval::NetGradNet net(S.model);
  eval::Fc fc = fc_of(S.model);
  auto det = eval::make_detector("adascale_a", fc, &net);
  det->set_save_aux(true);
  eval::ImageStream val = stream_of(S.T.at("images.val")), xs = stream_of(S.T.at("images." + set));
  eval::FitInputs in;
  in.id_val_images = &val;
  det->fit(in);
  Run r;
  r.s = det->score({}, &xs);
  r.fp = aux(r.s, "feature_perturbed").to_f32_vector();
  xs([&](const Tensor& x, int64_t) {
    auto v = net.features(x).to_f32_vector();
    r.f.insert(r.f.end(), v.begin(), v.end());
  });
  S.model.to(Device::CPU);
  return r;
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("eval adascale pieces: mask, sign(0), ECDF steps, the 36 pairs") {
  // the 2 smallest |g| move by eps * sign(g); a masked zero gradient does not move
  const float x[5] = {1, 2, 3, 4, 5}, g[5] = {0.5f, -0.01f, 0.0f, 2.0f, -3.0f};
  float xp[5];
  eval::adascale::perturb(x, g, 5, 2, 0.5f, xp);
  CHECK(xp[0] == 1);
  CHECK(xp[1] == 1.5f);
  CHECK(xp[2] == 3);  // g = 0 is among the smallest but sign(0) = 0
  CHECK(xp[3] == 4);
  CHECK(xp[4] == 5);
  eval::adascale::perturb(x, g, 5, 3, 0.5f, xp);
  CHECK(xp[0] == 1.5f);
  CHECK(eval::adascale::mask_count(3 * 224 * 224, 0.05) == 7526);
  eval::adascale::Ecdf F({3, 1, 2, 2});
  CHECK(F(0.5) == 0);
  CHECK(F(1) == 0.25);  // side='right': the step is taken at the value itself
  CHECK(F(2) == doctest::Approx(0.75).epsilon(1e-15));
  CHECK(F(2.5) == doctest::Approx(0.75).epsilon(1e-15));
  CHECK(F(3) == 1);
  CHECK(eval::adascale::percentile(F, 1.0f, 80, 85) == doctest::Approx(83.75));
  auto pairs = eval::adascale::percentile_pairs();
  REQUIRE(pairs.size() == 36);
  CHECK(pairs[0] == std::make_pair(60.0, 65.0));
  CHECK(pairs[7] == std::make_pair(60.0, 99.0));
  CHECK(pairs[8] == std::make_pair(65.0, 70.0));
  CHECK(pairs[26] == std::make_pair(80.0, 85.0));
  CHECK(pairs[35] == std::make_pair(95.0, 99.0));
  // Q' with k1 -> the perturbed activations (5% of 40 = 2), k2 -> the shift (2.5% of 40 = 1)
  std::vector<float> f(40, 0.0f), fp(40, 0.0f);
  f[3] = 5, f[7] = 4, f[9] = 3;
  fp[3] = 2, fp[7] = -1, fp[9] = 100;
  CHECK(eval::adascale::qprime(f.data(), fp.data(), 40, 5, 2.5, 10) == doctest::Approx(2 + 0 + 10 * 3));
}

TEST_CASE("eval adascale on a random resnet18: the shift against PyTorch, everything after f' against the reference") {
  Setup S;
  const int64_t D = S.model.feature_dim();
  eval::NetGradNet net(S.model);
  eval::Fc fc = fc_of(S.model);
  auto A = eval::make_detector("adascale_a", fc, &net);
  auto Lx = eval::make_detector("adascale_l", fc, &net);
  CHECK(A->needs_images());
  CHECK(A->needs_id_val());
  CHECK(eval::hparams_str(A->params()) ==
        "min_percentile=75 max_percentile=85 k1=5 k2=1 lmbda=10 o=0.05 num_samples=5000 eps=0.5");
  REQUIRE(A->grid().size() == 36);
  eval::ImageStream val = stream_of(S.T.at("images.val")), test = stream_of(S.T.at("images.test")),
                    ood = stream_of(S.T.at("images.ood"));
  eval::FitInputs in;
  in.id_val_images = &val;
  for (auto* d : {A.get(), Lx.get()}) {
    d->set_save_aux(true);
    d->fit(in);
  }
  CHECK_THROWS_AS(A->score({}, nullptr), Error);  // needs the images

  const std::string dir = test::fixture_dir() + "/tmp_eval_adascale";
  auto feats = [&](const eval::ImageStream& st) {
    std::vector<float> f;
    st([&](const Tensor& x, int64_t) {
      auto v = net.features(x).to_f32_vector();
      f.insert(f.end(), v.begin(), v.end());
    });
    return f;
  };
  auto logits = [&](const eval::ImageStream& st) {
    std::vector<float> z;
    st([&](const Tensor& x, int64_t) {
      auto v = net.logits(x).to_f32_vector();
      z.insert(z.end(), v.begin(), v.end());
    });
    return z;
  };
  const int64_t C = fc.W.size(0);
  for (auto [name, st] : {std::make_pair("test", &test), std::make_pair("ood", &ood), std::make_pair("val", &val)}) {
    eval::Scores sa = A->score({}, st), sl = Lx->score({}, st);
    std::vector<float> f = feats(*st), z = logits(*st);
    const int64_t N = (int64_t)f.size() / D;
    eval::write_npy(dir + "/" + name + "_f.npy", Tensor::from_f32(f, {N, D}));
    eval::write_npy(dir + "/" + name + "_z.npy", Tensor::from_f32(z, {N, C}));
    for (const char* k : {"qprime", "percentile", "feature_perturbed"}) {
      Tensor t = aux(sa, k);
      REQUIRE_MESSAGE(t.defined(), k);
      CHECK(t.size(0) == N);
      eval::write_npy(dir + "/" + name + "_" + (std::string(k) == "feature_perturbed" ? "fp" : k) + ".npy", t);
    }
    CHECK(aux(sa, "qprime").dtype() == DType::F32);
    CHECK(aux(sa, "percentile").dtype() == DType::F64);
    CHECK(aux(sl, "qprime").to_f32_vector() == aux(sa, "qprime").to_f32_vector());  // the same passes
    eval::write_npy(dir + "/" + name + "_conf_a.npy", sa.conf);
    eval::write_npy(dir + "/" + name + "_conf_l.npy", sl.conf);
    eval::write_npy(dir + "/" + name + "_pred_a.npy", sa.pred);
    eval::write_npy(dir + "/" + name + "_pred_l.npy", sl.pred);
    if (std::string(name) == "test") {
      // the shift f' - f against PyTorch's passes on the same images
      auto fp = aux(sa, "feature_perturbed").to_f32_vector();
      const Tensor &fr = S.T.at("test.f"), &fpr = S.T.at("test.fp");
      CHECK(test::rel_error(Tensor::from_f32(f, {N, D}), fr) <= 1e-4);  // the unperturbed forward agrees
      double worst = 0;
      const double med = median_shift_err(f, fp, fr.to_f32_vector(), fpr.to_f32_vector(), D, &worst);
      CHECK_MESSAGE(med <= 0.45, "median relative shift error " << med);
      MESSAGE("adascale shift vs torch: median rel L2 " << med << ", worst " << worst);
    }
  }
  auto fit = A->fit_aux();
  REQUIRE(fit.size() == 2);
  CHECK(fit[0].first == "qprime");
  CHECK(fit[0].second.size(0) == S.T.at("images.val").size(0));
  CHECK(fit[1].first == "feature_perturbed");
  eval::write_npy(dir + "/fit_qprime.npy", fit[0].second);
  eval::write_npy(dir + "/W.npy", fc.W);
  eval::write_npy(dir + "/b.npy", fc.b);
  eval::write_npy(dir + "/hp.npy", std::vector<double>{5, 1, 10, 75, 85});

  // APS, ID val (the fit set) against the OOD images; the gradient passes are reused across the pairs
  eval::FeatureSet idv, oodv;  // labels only: the scores come from the images
  idv.labels = Tensor::zeros({S.T.at("images.val").size(0)}, DType::I64);
  oodv.labels = Tensor::full({S.T.at("images.ood").size(0)}, -1, DType::I64);
  eval::ApsResult r = eval::aps_search(*A, idv, oodv, {}, &val, &ood);
  REQUIRE(r.trace.size() == 36);

  const std::string cmd = "/usr/bin/python3 tools/ood_reference.py adascale-check " + dir;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::map<std::string, std::string> got;
  char line[8192];
  while (fgets(line, sizeof line, p)) {
    std::istringstream is(line);
    std::string k, rest;
    is >> k;
    std::getline(is, rest);
    got[k] = rest;
  }
  REQUIRE(pclose(p) == 0);
  for (const char* s : {"test", "ood"}) {
    const std::string S_ = s;
    CHECK_MESSAGE(std::stod(got.at(S_ + "_qprime_err")) <= 1e-5, s << " qprime " << got.at(S_ + "_qprime_err"));
    CHECK_MESSAGE(std::stod(got.at(S_ + "_percentile_err")) <= 1e-9, s << " pct " << got.at(S_ + "_percentile_err"));
    for (const char* t : {"a", "l"}) {
      const std::string k = S_ + "_score_" + t + "_err";
      CHECK_MESSAGE(std::stod(got.at(k)) <= 1e-5, k << " " << got.at(k));
      CHECK(std::stoi(got.at(S_ + "_pred_" + t + "_bad")) == 0);
    }
    MESSAGE(S_ << ": qprime " << got.at(S_ + "_qprime_err") << " pct " << got.at(S_ + "_percentile_err") << " A "
              << got.at(S_ + "_score_a_err") << " L " << got.at(S_ + "_score_l_err"));
  }
  std::istringstream ts(got.at("aps_trace"));
  bool differs = false;
  for (size_t i = 0; i < 36; i++) {
    double v;
    ts >> v;
    CHECK_MESSAGE(std::fabs(v - r.trace[i].second) <= 1e-9, "APS pair " << i);
    differs |= v != r.trace[0].second;
  }
  CHECK_MESSAGE(differs, "the fixture's percentile grid must matter");
  const int best = std::stoi(got.at("aps_best"));
  CHECK(eval::hparams_str(r.best) == eval::hparams_str(A->grid()[best]));
  MESSAGE("adascale APS picked " << eval::hparams_str(r.best) << " (reference index " << best << ")");
}
}

#ifdef ISHSCALE_CUDA
TEST_SUITE("gpu") {
TEST_CASE("gpu adascale: the shift f' - f on CUDA against the CPU (median rel L2 <= 0.45)") {
  DeviceOptions saved = device_options();
  device_options() = DeviceOptions{Tf32::Off, false};  // strict fp32 on both sides
  struct Restore {
    DeviceOptions s;
    ~Restore() { device_options() = s; }
  } restore{saved};
  Setup S;
  const int64_t D = S.model.feature_dim();
  Run cpu = run_on(S, Device::CPU, "test"), gpu = run_on(S, Device::CUDA, "test");
  double worst = 0;
  const double med = median_shift_err(gpu.f, gpu.fp, cpu.f, cpu.fp, D, &worst);
  CHECK_MESSAGE(med <= 0.45, "median relative shift error " << med);
  MESSAGE("adascale gpu vs cpu shift: median " << med << ", worst " << worst);
  CHECK(test::rel_error(Tensor::from_f32(gpu.f, {(int64_t)gpu.f.size() / D, D}),
                        Tensor::from_f32(cpu.f, {(int64_t)cpu.f.size() / D, D})) <= 1e-3);
}
}
#endif
