// The training step without host syncs, on the CPU backend (the same code path as cuda):
//  - autograd takes over a leaf's first gradient instead of copying it, and copies one it must not own;
//  - ops::train_stats_ (loss sum, correct count, first non-finite step) against a host computation;
//  - the logged loss and top-1 of each logging interval and epoch equal a host reference;
//  - a NaN at step k is found at the next read of the device flag (logging interval, epoch end,
//    checkpoint write): nothing is written from step k on, and the error (exit 2) names step k and the
//    checkpoint that holds the last good state, or says that none was written;
//  - the console helpers (durations, progress lines, the off-TTY reporter).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "models/resnet.h"
#include "tests/train_setup.h"
#include "tests/util.h"
#include "train/checkpoint.h"
#include "train/train_log.h"
#include "train/trainer.h"
#include "weights/safetensors.h"

using namespace ish;

namespace {

std::string tmpdir() { return test::make_tmpdir("nanflag"); }

bool exists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }

// n random 8x8 RGB images in 3 classes.
train::InMemoryDataset dataset(int n) {
  std::vector<int64_t> ys;
  for (int i = 0; i < n; i++) ys.push_back((i * 7) % 3);
  return train::InMemoryDataset(test::random_pixels(n, 8, 8, 21), ys, 8, 8, 3, {0.5f, 0.4f, 0.3f}, {0.2f, 0.25f, 0.3f});
}

models::ResNet model() { return test::tiny_resnet(6); }

train::TrainConfig config(const std::string& out) {
  train::TrainConfig c;
  c.arch = "resnet18_cifar";
  c.epochs = 1;
  c.batch_size = 4;
  c.lr = 0.01;
  c.augment = false;
  c.shuffle = false;
  c.log_every = 1000;
  c.save_every = 1000;
  c.out = out;
  c.progress = false;
  return c;
}

void poison(models::ResNet& m) {  // every later loss is NaN
  for (auto& [name, t] : m.named_parameters())
    if (name == "fc.bias") t.fill_(NAN);
}

// Runs step() until it throws; returns the error and the step count at the throw.
std::pair<std::string, int> step_until_error(train::Trainer& t, int max_steps) {
  for (int i = 0; i < max_steps; i++) {
    try {
      if (t.step()) t.end_epoch();
    } catch (const Error& e) {
      CHECK(e.code == 2);
      return {e.what(), (int)t.steps_done()};
    }
  }
  return {"", -1};
}

bool all_finite(const std::string& path) {
  auto f = st::File::open(path);
  for (auto& [name, t] : f.load_all())
    if (t.dtype() == DType::F32)
      for (float v : t.to_f32_vector())
        if (!std::isfinite(v)) return false;
  return true;
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("autograd: a leaf's first gradient is taken over, an aliased one is copied") {
  Tensor leaf = Tensor::full({3}, 1.0);
  leaf.set_requires_grad(true);
  const void* fresh = nullptr;
  auto probe = [&]() {
    return autograd::record(Tensor::zeros({}), "probe", {leaf}, [&fresh](const Tensor&) -> std::vector<Tensor> {
      Tensor g = Tensor::full({3}, 2.0);
      fresh = g.raw();
      return {g};
    });
  };
  autograd::backward(probe());
  CHECK(leaf.grad().raw() == fresh);  // moved: no copy
  CHECK(leaf.grad().to_f32_vector() == std::vector<float>{2, 2, 2});
  autograd::backward(probe());        // later contributions accumulate into it
  CHECK(leaf.grad().to_f32_vector() == std::vector<float>{4, 4, 4});

  Tensor kept = Tensor::full({3}, 5.0);  // the closure keeps a handle: the grad must not alias it
  Tensor leaf2 = Tensor::full({3}, 1.0);
  leaf2.set_requires_grad(true);
  Tensor out = autograd::record(Tensor::zeros({}), "keep", {leaf2},
                                [kept](const Tensor&) -> std::vector<Tensor> { return {kept}; });
  autograd::backward(out);
  CHECK(leaf2.grad().raw() != kept.raw());
  kept.fill_(7.0);
  CHECK(leaf2.grad().to_f32_vector() == std::vector<float>{5, 5, 5});
}

TEST_CASE("train_stats_: loss sum, correct count and the first non-finite step, as computed on the host") {
  for (DType dt : {DType::F32, DType::F64}) {
    // Row 1 ties (first max wins), row 3 has a NaN (it wins, as in argmax_last).
    Tensor logits = Tensor::from_f64({0, 2, 1, 3, 3, 0, 1, 1, 5, 0, NAN, 1, -1, -2, -3}, {5, 3}).to(dt);
    Tensor labels = Tensor::from_i64({1, 1, 2, 1, 0}, {5});
    Tensor stats = Tensor::zeros({ops::kTrainStats}, DType::F64);
    ops::train_stats_(stats, Tensor::full({}, 0.75, dt), logits, labels, 4);
    auto s = stats.to_f64_vector();
    CHECK(s[ops::kLossSum] == 5 * 0.75);
    CHECK(s[ops::kCorrect] == 4);  // rows 0, 2, 3, 4 (argmax 1, 2, 1, 0); row 1's argmax is 0, not 1
    CHECK(s[ops::kBadStep] == 0);
    ops::train_stats_(stats, Tensor::full({}, INFINITY, dt), logits, labels, 6);
    ops::train_stats_(stats, Tensor::full({}, NAN, dt), logits, labels, 7);  // not the first: ignored
    ops::train_stats_(stats, Tensor(), logits.narrow0(0, 2), labels.narrow0(0, 2), 8);  // accuracy only
    s = stats.to_f64_vector();
    CHECK(s[ops::kCorrect] == 4 + 4 + 4 + 1);
    CHECK(s[ops::kBadStep] == 6);
    CHECK(std::isinf(s[ops::kBadLoss]));
    CHECK(std::isnan(s[ops::kLossSum]));  // inf + nan
  }
  Tensor logits = Tensor::zeros({2, 3}), labels = Tensor::from_i64({0, 1}, {2});
  Tensor bad = Tensor::zeros({ops::kTrainStats});  // F32: refused
  CHECK_THROWS_AS(ops::train_stats_(bad, Tensor(), logits, labels, 1), Error);
  Tensor stats = Tensor::zeros({ops::kTrainStats}, DType::F64);
  CHECK_THROWS_AS(ops::train_stats_(stats, Tensor(), logits, Tensor::from_i64({0}, {1}), 1), Error);
  CHECK_THROWS_AS(ops::train_stats_(stats, Tensor(), logits, labels, 0), Error);
  CHECK_THROWS_AS(ops::train_stats_(stats, Tensor::zeros({2}), logits, labels, 1), Error);
}

TEST_CASE("trainer: the logged loss and top-1 equal a host reference, per interval and per epoch") {
  // 19 samples, micro-batches of 4, 2 per step: steps of 8, 8 and 3 samples. Before each step the host
  // runs the same train-mode forward over that step's batches with the same weights (batch statistics:
  // the running ones do not matter), so it sees the losses the trainer sees.
  train::InMemoryDataset ds = dataset(19);
  models::ResNet m = model();
  train::TrainConfig c = config("");
  c.epochs = 2;
  c.accum = 2;
  c.log_every = 2;
  train::Trainer t(m, ds, nullptr, c);
  struct Acc { double loss = 0, correct = 0, n = 0; };
  auto reference = [&](int s) {  // step s (0-based) of an epoch
    Acc a;
    NoGradGuard ng;
    for (int mb = s * 8; mb < std::min(19, s * 8 + 8); mb += 4) {
      const int n = std::min(4, 19 - mb);
      Tensor x = Tensor::empty({n, 8, 8, 3});
      std::vector<int64_t> y;
      for (int i = 0; i < n; i++) {
        REQUIRE(ds.load(mb + i, nullptr, x.data<float>() + i * 8 * 8 * 3, nullptr));
        y.push_back(ds.label(mb + i));
      }
      Tensor logits = m.forward(x).logits;
      a.loss += n * ops::cross_entropy(logits, Tensor::from_i64(y, {n})).item();
      auto pred = ops::argmax_last(logits).to_f64_vector();
      for (int i = 0; i < n; i++) a.correct += pred[i] == (double)y[i];
      a.n += n;
    }
    return a;
  };
  std::vector<Acc> ref;  // per step of the run
  std::vector<train::LogRecord> logs;
  std::vector<train::EpochSummary> epochs;
  while (!t.done()) {
    ref.push_back(reference((int)(t.steps_done() % 3)));
    const bool end = t.step();
    if (t.last_log().step == t.steps_done()) logs.push_back(t.last_log());
    if (end) epochs.push_back(t.end_epoch());
  }
  REQUIRE(ref.size() == 6);
  REQUIRE(logs.size() == 3);  // steps 2, 4, 6
  REQUIRE(epochs.size() == 2);
  auto check = [](const char* what, const std::vector<Acc>& steps, double loss, double acc) {
    Acc a;
    for (const Acc& s : steps) { a.loss += s.loss; a.correct += s.correct; a.n += s.n; }
    // The trainer takes differences of running double sums: equal up to a few ulps.
    CHECK_MESSAGE(std::fabs(loss - a.loss / a.n) <= 1e-12 * std::fabs(a.loss / a.n), what << ": " << loss
                                                                                          << " vs " << a.loss / a.n);
    CHECK_MESSAGE(acc == 100.0 * a.correct / a.n, what << ": " << acc);
  };
  // An interval runs from the previous log line or the epoch's start, whichever is later.
  check("log at step 2", {ref[0], ref[1]}, logs[0].loss, logs[0].acc);
  check("log at step 4", {ref[3]}, logs[1].loss, logs[1].acc);
  check("log at step 6", {ref[4], ref[5]}, logs[2].loss, logs[2].acc);
  CHECK(logs[0].samples == 16);
  CHECK(logs[1].samples == 8);
  CHECK(logs[2].samples == 11);
  check("epoch 1", {ref[0], ref[1], ref[2]}, epochs[0].train_loss, epochs[0].train_acc);
  check("epoch 2", {ref[3], ref[4], ref[5]}, epochs[1].train_loss, epochs[1].train_acc);
  CHECK(logs[2].eta_run_s == 0);  // the last step
  CHECK(logs[0].eta_epoch_s >= 0);
}

TEST_CASE("trainer: a NaN at step k is caught before the next checkpoint; the error names k and the last good file") {
  train::InMemoryDataset ds = dataset(40);  // 10 steps per epoch
  SUBCASE("checkpoint due after k: nothing is written from step k on") {
    const std::string dir = tmpdir(), last = dir + "/last.safetensors";
    models::ResNet m = model();
    train::TrainConfig c = config(dir);
    c.save_every = 2;
    train::Trainer t(m, ds, nullptr, c);
    t.step();
    t.step();  // step 2: saved
    REQUIRE(train::read_checkpoint_meta(last).step == 2);
    poison(m);
    CHECK_NOTHROW(t.step());  // step 3: NaN recorded on the device, no sync
    auto [msg, at] = step_until_error(t, 5);
    MESSAGE(msg);
    CHECK(at == 4);  // found before step 4's checkpoint
    CHECK(msg.find("loss is nan at step 3 ") != std::string::npos);
    CHECK(msg.find(last + " (step 2) holds the last good state") != std::string::npos);
    CHECK(train::read_checkpoint_meta(last).step == 2);
    CHECK(all_finite(last));
    std::system(("rm -rf " + dir).c_str());
  }
  SUBCASE("NaN before the first checkpoint: none is written and the message says so") {
    const std::string dir = tmpdir();
    models::ResNet m = model();
    train::TrainConfig c = config(dir);
    c.save_every = 3;
    train::Trainer t(m, ds, nullptr, c);
    poison(m);
    auto [msg, at] = step_until_error(t, 5);
    CHECK(at == 3);
    CHECK(msg.find("at step 1 ") != std::string::npos);
    CHECK(msg.find("No checkpoint was written before it") != std::string::npos);
    CHECK_FALSE(exists(dir + "/last.safetensors"));
    std::system(("rm -rf " + dir).c_str());
  }
  SUBCASE("found at a logging interval after a resume: the resumed file holds the last good state") {
    const std::string dir = tmpdir(), last = dir + "/last.safetensors";
    {
      models::ResNet m = model();
      train::Trainer t(m, ds, nullptr, config(dir));
      t.step();
      t.step();
      t.save();
    }
    models::ResNet m = model();
    train::TrainConfig c = config(dir);
    c.log_every = 2;
    train::Trainer t(m, ds, nullptr, c, last);
    poison(m);
    auto [msg, at] = step_until_error(t, 5);
    CHECK(at == 4);  // the log line of step 4 reads the flag
    CHECK(msg.find("at step 3 ") != std::string::npos);
    CHECK(msg.find(last + " (step 2) holds the last good state") != std::string::npos);
    CHECK(train::read_checkpoint_meta(last).step == 2);
    std::system(("rm -rf " + dir).c_str());
  }
  SUBCASE("NaN in an epoch's last step: no validation checkpoint, no last.safetensors") {
    const std::string dir = tmpdir();
    train::InMemoryDataset small = dataset(8);  // 2 steps per epoch
    models::ResNet m = model();
    train::TrainConfig c = config(dir);
    c.epochs = 2;
    train::Trainer t(m, small, &small, c);
    t.step();
    poison(m);
    CHECK(t.step());  // the epoch's last step
    std::string msg;
    try {
      t.end_epoch();
    } catch (const Error& e) {
      msg = e.what();
    }
    CHECK(msg.find("at step 2 ") != std::string::npos);
    CHECK_FALSE(exists(dir + "/last.safetensors"));
    CHECK_FALSE(exists(dir + "/best.safetensors"));
    std::system(("rm -rf " + dir).c_str());
  }
  SUBCASE("without an output directory the message says nothing was saved") {
    models::ResNet m = model();
    train::TrainConfig c = config("");
    c.log_every = 1;
    train::Trainer t(m, ds, nullptr, c);
    poison(m);
    auto [msg, at] = step_until_error(t, 3);
    CHECK(at == 1);
    CHECK(msg.find("Nothing was saved") != std::string::npos);
  }
}

TEST_CASE("train log: durations, the progress line, and one line per interval off a TTY") {
  CHECK(train::format_duration(0) == "0s");
  CHECK(train::format_duration(59.4) == "59s");
  CHECK(train::format_duration(185) == "3m05s");
  CHECK(train::format_duration(2 * 3600 + 7 * 60 + 20) == "2h07m");
  CHECK(train::format_duration(3 * 86400 + 4 * 3600) == "3d04h");
  CHECK(train::format_duration(-1) == "?");
  CHECK(train::format_duration(NAN) == "?");
  train::ProgressState p;
  p.step = 120;
  p.run_steps = 3000;
  p.epoch = 1;
  p.epochs = 10;
  p.step_in_epoch = 120;
  p.epoch_steps = 300;
  p.img_per_s = 412.34;
  p.eta_epoch_s = 440;
  p.eta_run_s = 7080;
  CHECK(train::progress_line(p) == "train: step 120/3000 (epoch 1/10: 120/300) 412.3 img/s ETA epoch 7m20s, run 1h58m");

  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  {
    train::ProgressReporter r(f, false, 3600);  // off a TTY, every hour: nothing due yet
    CHECK_FALSE(r.due());
    train::ProgressReporter now(f, false, 0);
    CHECK(now.due());
    now.show(p);
    now.clear();  // no-op off a TTY
    now.show(p);
  }
  std::rewind(f);
  char buf[512];
  int lines = 0;
  while (std::fgets(buf, sizeof buf, f)) {
    CHECK(std::string(buf) == train::progress_line(p) + "\n");
    lines++;
  }
  CHECK(lines == 2);
  std::fclose(f);
  CHECK_FALSE(train::ProgressReporter(nullptr, false, 0).due());  // disabled
}
}

#ifdef ISHSCALE_CUDA
#include "engine/device.h"
#include "engine/device_options.h"

TEST_SUITE("gpu") {
TEST_CASE("trainer gpu: a NaN at step k is caught on the device before the next checkpoint") {
  if (!dev::cuda_available()) return;
  train::InMemoryDataset ds = dataset(40);
  const std::string dir = tmpdir(), last = dir + "/last.safetensors";
  models::ResNet m = model();
  m.to(Device::CUDA);
  train::TrainConfig c = config(dir);
  c.device = "cuda";
  c.save_every = 2;
  c.log_every = 2;
  c.tf32 = "off";
  train::Trainer t(m, ds, nullptr, c);
  t.step();
  t.step();  // step 2: logged and saved
  CHECK(t.last_log().step == 2);
  CHECK(std::isfinite(t.last_log().loss));
  poison(m);
  CHECK_NOTHROW(t.step());
  auto [msg, at] = step_until_error(t, 5);
  CHECK(at == 4);
  CHECK(msg.find("at step 3 ") != std::string::npos);
  CHECK(msg.find(last + " (step 2) holds the last good state") != std::string::npos);
  CHECK(train::read_checkpoint_meta(last).step == 2);
  CHECK(all_finite(last));
  device_options() = DeviceOptions();
  std::system(("rm -rf " + dir).c_str());
}
}
#endif
