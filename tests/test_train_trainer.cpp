// The Trainer's step API on an in-memory set with augmentation (RandomResizedCrop + flip through the
// PIL-exact resize) and shuffling: the result does not depend on the loader's thread count or
// prefetching, and stopping after k steps then resuming from last.safetensors is bitwise identical to
// running straight through (the CLI-level resume test is tests/test_train_resume.cpp).
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "models/resnet.h"
#include "tests/train_setup.h"
#include "tests/util.h"
#include "train/trainer.h"

using namespace ish;

namespace {

struct Setup {
  std::vector<uint8_t> px;
  std::vector<int64_t> ys;
};

Setup data() {
  Setup s;
  s.px = test::random_pixels(18, 12, 12, 11);
  for (int i = 0; i < 18; i++) s.ys.push_back(i % 3);
  return s;
}

models::ResNet model() { return test::tiny_resnet(4); }

train::TrainConfig config(const std::string& out) {
  train::TrainConfig c;
  c.arch = "resnet18_cifar";
  c.epochs = 2;
  c.batch_size = 4;  // 18 samples: 4 full batches and one of 2 per epoch
  c.accum = 1;
  c.lr = 0.05;
  c.seed = 9;
  c.log_every = 1000;
  c.save_every = 1000;
  c.out = out;
  return c;
}

std::vector<float> weights(models::ResNet& m) {
  std::vector<float> all;
  for (auto& [n, t] : m.named_parameters()) {
    auto v = t.to_f32_vector();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

std::string tmpdir() { return test::make_tmpdir("trainer"); }

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("trainer: augmented, shuffled training is independent of loader threads and resumes bitwise") {
  Setup s = data();
  train::InMemoryDataset ds(s.px, s.ys, 12, 12, 3, {0.5f, 0.4f, 0.3f}, {0.2f, 0.25f, 0.3f});
  ds.transform.rrc.scale_min = 0.3;
  ds.transform.flip_p = 0.5;
  const std::string dir = tmpdir();

  auto straight = [&](int threads, int prefetch) {
    models::ResNet m = model();
    train::TrainConfig c = config("");
    c.prefetch = prefetch;
    train::Trainer t(m, ds, nullptr, c, "", threads);
    auto r = t.run();
    CHECK(r.steps == 10);
    CHECK(r.finished);
    CHECK(r.epochs.size() == 2);
    return weights(m);
  };
  const std::vector<float> ref = straight(1, 0);
  CHECK(straight(3, 1) == ref);

  // Stop after 3 steps (mid-epoch), then a fresh trainer resumes from the checkpoint.
  {
    models::ResNet m = model();
    train::TrainConfig c = config(dir);
    train::Trainer t(m, ds, nullptr, c, "", 2);
    for (int k = 0; k < 3; k++) CHECK_FALSE(t.step());
    t.save();
  }
  models::ResNet m = model();
  train::Trainer t(m, ds, nullptr, config(dir), dir + "/last.safetensors", 2);
  CHECK(t.steps_done() == 3);
  int epochs = 0;
  while (!t.done())
    if (t.step()) {
      t.end_epoch();
      epochs++;
    }
  CHECK(epochs == 2);
  CHECK(weights(m) == ref);
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("trainer: flip_p and the crop range come from the dataset's transform") {
  Setup s = data();
  train::InMemoryDataset ds(s.px, s.ys, 12, 12, 3, {0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f});
  std::vector<float> a(12 * 12 * 3), b(a.size()), e(a.size());
  ds.transform.flip_p = 1.0;
  ds.transform.rrc.scale_min = ds.transform.rrc.scale_max = 1.0;  // the whole image (ratio 1 fits)
  ds.transform.rrc.ratio_min = ds.transform.rrc.ratio_max = 1.0;
  Rng r1(3);
  REQUIRE(ds.load(0, &r1, a.data(), nullptr));
  REQUIRE(ds.load(0, nullptr, e.data(), nullptr));
  for (int y = 0; y < 12; y++)  // the whole image, mirrored
    for (int x = 0; x < 12; x++)
      for (int c = 0; c < 3; c++) REQUIRE(a[(y * 12 + x) * 3 + c] == e[(y * 12 + 11 - x) * 3 + c]);
  ds.transform.flip_p = 0.0;
  Rng r2(3);
  REQUIRE(ds.load(0, &r2, b.data(), nullptr));
  CHECK(b == e);
}
}
