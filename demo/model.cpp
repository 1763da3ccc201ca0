#include "demo/model.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "eval/npy.h"
#include "models/state_dict.h"
#include "util/fs.h"

namespace ish::demo {

double cpu_seconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_sec +
         1e-6 * (double)u.ru_stime.tv_usec;
}

models::ResNet make_model(const DemoConfig& c, uint64_t seed) {
  models::ResNetConfig rc = models::config_for(c.arch);
  rc.width = c.width;
  rc.num_classes = kIdClasses;
  rc.in_channels = 1;
  rc.seed = seed;
  models::ResNet m(rc, c.arch);
  if (c.device == "cuda") m.to(Device::CUDA);
  return m;
}

std::unique_ptr<train::InMemoryDataset> as_dataset(const ImageSet& s, const DemoData& d, bool augment) {
  auto ds = std::make_unique<train::InMemoryDataset>(s.pixels, s.labels, ImageSet::kSide, ImageSet::kSide, 1,
                                                     std::vector<float>{d.mean}, std::vector<float>{d.stdv}, s.name);
  if (augment) {
    // Mild crops: at 28x28 the ImageNet range (scale down to 0.08) destroys most of the garment.
    ds->transform.rrc.scale_min = 0.64;
    ds->transform.rrc.ratio_min = 0.85;
    ds->transform.rrc.ratio_max = 1.0 / 0.85;
  }
  return ds;
}

namespace {
// The trainer logs its steps and epochs on stdout; in the demo they are progress, so stdout points at
// stderr while it runs and the demo's stdout holds only its results.
class StdoutToStderr {
 public:
  StdoutToStderr() {
    std::fflush(stdout);
    saved_ = dup(1);
    if (saved_ >= 0) dup2(2, 1);
  }
  ~StdoutToStderr() {
    std::fflush(stdout);
    if (saved_ >= 0) {
      dup2(saved_, 1);
      close(saved_);
    }
  }
  StdoutToStderr(const StdoutToStderr&) = delete;
  StdoutToStderr& operator=(const StdoutToStderr&) = delete;

 private:
  int saved_ = -1;
};
}  // namespace

PhaseResult train_phase(models::ResNet& model, const DemoData& d, const DemoConfig& c, const TrainPhase& ph,
                        bool ish, uint64_t seed, const std::string& name, const std::string& dir) {
  util::make_dirs(dir);
  // A phase may use a prefix of the training set (it is in shuffled, class-balanced order).
  ImageSet part;
  const bool prefix = ph.images >= 0 && ph.images < d.train.size();
  if (prefix) {
    part.name = d.train.name;
    part.pixels.assign(d.train.pixels.begin(), d.train.pixels.begin() + ph.images * ImageSet::kPixels);
    part.labels.assign(d.train.labels.begin(), d.train.labels.begin() + ph.images);
    part.source.assign(d.train.source.begin(), d.train.source.begin() + ph.images);
  }
  const ImageSet& set = prefix ? part : d.train;
  auto ds = as_dataset(set, d, c.augment);
  train::TrainConfig tc;
  tc.arch = c.arch;
  tc.epochs = ph.epochs;
  tc.batch_size = c.batch_size;
  tc.lr = ph.lr;
  tc.ish = ish;
  tc.ish_strategy = c.ish_strategy;
  tc.ish_percentile = c.ish_percentile;
  tc.seed = seed;
  tc.augment = c.augment;
  tc.device = c.device;
  tc.out = dir;
  const int64_t steps_per_epoch = std::max<int64_t>(1, set.size() / c.batch_size);
  tc.log_every = std::max<int64_t>(1, steps_per_epoch / 2);
  tc.save_every = 1 << 30;  // only at epoch ends
  std::fprintf(stderr, "== %s (data seed %llu): %lld epochs of %lld images, lr %g%s\n", name.c_str(),
               (unsigned long long)seed, (long long)ph.epochs, (long long)set.size(), ph.lr,
               ish ? str(", ISH ", c.ish_strategy, " p=", c.ish_percentile).c_str() : "");
  auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpu_seconds();
  train::TrainResult r;
  {
    StdoutToStderr progress;
    r = train::Trainer(model, *ds, nullptr, tc).run();
  }
  PhaseResult pr;
  pr.name = name;
  pr.weights = dir + "/last.safetensors";
  pr.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  pr.steps = r.steps;
  if (!r.epochs.empty()) {
    pr.final_loss = r.epochs.back().train_loss;
    pr.train_acc = r.epochs.back().train_acc;
  }
  model.fc_wgrad_hook = nullptr;
  std::fprintf(stderr, "   %s: trained in %.1fs (%.1f CPU seconds), final loss %.4f, train accuracy %.2f%%\n",
               name.c_str(), pr.seconds, cpu_seconds() - cpu0, pr.final_loss, pr.train_acc);
  return pr;
}

namespace {
// Normalised float images [n,28,28,1] of s[begin, begin+n).
Tensor batch_of(const ImageSet& s, const DemoData& d, int64_t begin, int64_t n) {
  std::vector<float> v((size_t)(n * ImageSet::kPixels));
  const uint8_t* p = s.pixels.data() + begin * ImageSet::kPixels;
  const float inv = 1.0f / d.stdv;
  for (size_t i = 0; i < v.size(); i++) v[i] = (p[i] / 255.0f - d.mean) * inv;
  return Tensor::from_f32(v, {n, ImageSet::kSide, ImageSet::kSide, 1});
}
}  // namespace

eval::FeatureSet extract(models::ResNet& model, const ImageSet& s, const DemoData& d, int64_t batch) {
  const int64_t N = s.size();
  auto net = models::view(model);
  eval::FeatureSet f = eval::extract(
      net,
      [&](const eval::BatchFn& fn) {
        for (int64_t b = 0; b < N; b += batch) {
          const int64_t n = std::min(batch, N - b);
          fn(batch_of(s, d, b, n), std::vector<int64_t>(s.labels.begin() + b, s.labels.begin() + b + n));
        }
      },
      N);
  f.validate(s.name);
  return f;
}

eval::ImageStream image_stream(const ImageSet& s, const DemoData& d, int64_t batch, int64_t limit) {
  const ImageSet* sp = &s;
  const DemoData* dp = &d;
  const int64_t N = limit >= 0 ? std::min(limit, s.size()) : s.size();
  return [sp, dp, batch, N](const std::function<void(const Tensor&, int64_t)>& fn) {
    for (int64_t b = 0; b < N; b += batch) fn(batch_of(*sp, *dp, b, std::min(batch, N - b)), b);
  };
}

}  // namespace ish::demo
