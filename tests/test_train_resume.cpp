// Checkpoints and resume: the real `ishscale train` CLI on a tiny synthetic image list (N steps straight
// vs N/2, stop or SIGKILL, resume to N: bitwise identical on the CPU), and kill -9 during checkpoint
// writes (the previous checkpoint stays loadable).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "engine/rng.h"
#include "models/resnet.h"
#include "models/state_dict.h"
#include "tests/util.h"
#include "train/checkpoint.h"
#include "train/loop.h"
#include "weights/safetensors.h"

using namespace ish;

namespace {

std::string make_tmpdir(const char* tag) {
  std::string t = std::string("/tmp/ishscale_") + tag + "_XXXXXX";
  REQUIRE(mkdtemp(&t[0]) != nullptr);
  return t;
}


// 24 random 20x20 binary PPM images in 3 classes, and the list naming them.
std::string write_dataset(const std::string& dir) {
  Rng rng(99);
  std::ofstream list(dir + "/train.txt");
  for (int i = 0; i < 24; i++) {
    std::string name = "img" + std::to_string(i) + ".ppm";
    std::ofstream f(dir + "/" + name, std::ios::binary);
    f << "P6\n20 20\n255\n";
    int label = i % 3;
    for (int p = 0; p < 20 * 20 * 3; p++) f.put((char)(uint8_t)(rng.below(128) + 40 * label * (p % 3 == label)));
    list << name << " " << label << "\n";
  }
  return dir + "/train.txt";
}

// One OpenMP thread: bitwise comparisons need the same thread count in every run (reduction order), and
// busy-waiting OpenMP teams are very slow on an oversubscribed 2-core machine.
int run(const std::string& cmd) {
  int rc = std::system(("OMP_NUM_THREADS=1 " + cmd + " > /dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

void check_same_files(const std::string& a, const std::string& b) {
  auto fa = st::File::open(a), fb = st::File::open(b);
  REQUIRE(fa.tensors().size() == fb.tensors().size());
  int64_t n = 0;
  for (auto& ti : fa.tensors()) {
    REQUIRE_MESSAGE(fb.has(ti.name), ti.name);
    const auto& tj = fb.info(ti.name);
    REQUIRE(tj.end - tj.begin == ti.end - ti.begin);
    bool same = std::memcmp(fa.bytes(ti.name), fb.bytes(ti.name), ti.end - ti.begin) == 0;
    CHECK_MESSAGE(same, ti.name << " differs");
    n += same;
  }
  for (const char* k : {"step", "epoch", "step_in_epoch", "rng", "epoch_seed"})
    CHECK_MESSAGE(fa.metadata().at(k) == fb.metadata().at(k), k);
  MESSAGE(n << " tensors bitwise identical (model + optim.*)");
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("train: N steps straight == N/2, stop, resume; and == N/2, kill -9, resume (bitwise)") {
  std::string dir = make_tmpdir("resume");
  std::string list = write_dataset(dir);
  std::string bin = ish::test::ishscale_bin();
  // 24 images, batch 4: 6 steps per epoch; N = 8 crosses the epoch boundary, N/2 = 4 stops mid-epoch.
  std::string common = bin + " train --train-list " + list + " --data-root " + dir + " --val-list " + list +
                       " --arch resnet18_cifar --width 8 --image-size 16 --epochs 2 --batch-size 4 --lr 0.01 "
                       "--seed 3 --ish --log-every 100";
  REQUIRE_MESSAGE(run(common + " --out " + dir + "/a --steps 8") == 0, "straight run failed: " << common);
  REQUIRE(run(common + " --out " + dir + "/b --steps 4") == 0);
  CHECK(st::File::open(dir + "/b/last.safetensors").metadata().at("step") == "4");
  REQUIRE(run(bin + " train --out " + dir + "/b --resume --steps 8 --train-list " + list + " --data-root " + dir +
              " --val-list " + list + " --log-every 100") == 0);
  check_same_files(dir + "/a/last.safetensors", dir + "/b/last.safetensors");
  {  // best.safetensors is a plain torchvision-layout state dict: strict loading works as for any weights
    models::ResNetConfig rc = models::config_for("resnet18_cifar");
    rc.num_classes = 3;
    rc.width = 8;
    models::ResNet m(rc, "resnet18_cifar");
    CHECK_NOTHROW(models::load_weights(m, dir + "/a/best.safetensors"));
  }
  CHECK(access((dir + "/a/summary.csv").c_str(), R_OK) == 0);

  // A real SIGKILL once step >= 4 is on disk (checkpoints every step), then resume.
  std::string out_c = dir + "/c";
  mkdir(out_c.c_str(), 0755);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::string cmd = "OMP_NUM_THREADS=1 exec " + common + " --out " + out_c + " --steps 8 --save-every 1 > /dev/null 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), (char*)nullptr);
    _exit(127);
  }
  int64_t killed_at = -1;
  for (int i = 0; i < 3000 && killed_at < 0; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    try {
      auto f = st::File::open(out_c + "/last.safetensors");
      if (std::stoll(f.metadata().at("step")) >= 4) {
        kill(pid, SIGKILL);
        killed_at = std::stoll(f.metadata().at("step"));
      }
    } catch (const Error&) {  // not written yet
    }
    int st;
    if (killed_at < 0 && waitpid(pid, &st, WNOHANG) == pid) break;  // finished before we killed it
  }
  int status = 0;
  waitpid(pid, &status, 0);
  MESSAGE("killed the run at step >= " << killed_at);
  REQUIRE(run(bin + " train --out " + out_c + " --resume --steps 8 --train-list " + list + " --data-root " + dir +
              " --val-list " + list + " --log-every 100") == 0);
  check_same_files(dir + "/a/last.safetensors", out_c + "/last.safetensors");
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("train: kill -9 while checkpoints are being written leaves a loadable checkpoint") {
  std::string dir = make_tmpdir("kill");
  std::string path = dir + "/last.safetensors";
  models::ResNetConfig rc = models::config_for("resnet18");
  rc.num_classes = 10;
  rc.width = 16;  // ~3 MB per checkpoint: some writes finish between kills, others are cut short
  models::ResNet model(rc, "resnet18");
  train::CheckpointMeta meta;
  meta.rng = Rng(1).state();
  meta.config = "{}";
  train::CheckpointData d = train::checkpoint_data(model, nullptr, meta);
  st::save(path, d.tensors, d.metadata);
  std::mt19937 gen(1234);
  int64_t max_step = 0;
  for (int round = 0; round < 6; round++) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // child: rewrite the checkpoint forever with increasing steps (no threads used)
      for (int64_t s = 1;; s++) {
        d.metadata["step"] = std::to_string(s + 1000 * (round + 1));
        st::save(path, d.tensors, d.metadata);
      }
    }
    // Let at least one write of this round land, then kill at a random moment of a later one.
    const int64_t first = 1000 * (round + 1) + 1;
    bool unreadable = false;
    for (int i = 0; i < 2000 && !unreadable; i++) {
      try {
        if (train::read_checkpoint_meta(path).step >= first) break;
      } catch (const Error&) {
        unreadable = true;  // kill the child before failing
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 40)(gen)));
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status));
    CHECK_MESSAGE(!unreadable, "the checkpoint was unreadable while the child was writing");
    auto m = train::read_checkpoint_meta(path);  // validates the whole file
    CHECK(m.step >= first);                       // the last completed write survived the kill
    CHECK(m.step >= max_step);
    max_step = m.step;
    rc.seed = 7;
    models::ResNet fresh(rc, "resnet18");
    CHECK_NOTHROW(train::load_checkpoint(path, fresh, nullptr));
  }
  MESSAGE("step on disk after the last kill: " << max_step << " (1000*(round+1) + writes completed)");
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("train: a non-finite loss stops the run with the step in the message; the checkpoint is kept") {
  std::string dir = make_tmpdir("nan");
  models::ResNetConfig rc = models::config_for("resnet18_cifar");
  rc.num_classes = 3;
  rc.width = 8;
  models::ResNet m(rc, "resnet18_cifar");
  m.train();
  Rng rng(5);
  std::vector<uint8_t> px(16 * 8 * 8 * 3);
  for (auto& v : px) v = (uint8_t)rng.below(256);
  std::vector<int64_t> ys(16);
  for (int i = 0; i < 16; i++) ys[i] = i % 3;
  train::InMemoryDataset ds(px, ys, 8, 8, 3, {0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f});
  train::TrainConfig c;
  c.epochs = 3;
  c.batch_size = 4;
  c.lr = 1e30;  // the first update destroys the weights: the next loss is not finite
  c.wd = 0;
  c.momentum = 0;
  c.nesterov = false;
  c.out = dir;
  c.save_every = 1;
  c.log_every = 1000;
  std::string msg;
  try {
    train::train(m, ds, nullptr, c);
  } catch (const Error& e) {
    msg = e.what();
  }
  MESSAGE("error: " << msg);
  CHECK(msg.find("loss is") != std::string::npos);
  CHECK(msg.find("at step ") != std::string::npos);
  auto meta = train::read_checkpoint_meta(dir + "/last.safetensors");  // the last good state, intact
  CHECK(msg.find(str("at step ", meta.step + 1, " ")) != std::string::npos);
  std::system(("rm -rf " + dir).c_str());
}
}

// GPU: the same resume check in --deterministic mode.
#ifdef ISHSCALE_CUDA

TEST_SUITE("gpu") {
TEST_CASE("train gpu: N steps straight == N/2, stop, resume (bitwise, --deterministic)") {
  std::string dir = make_tmpdir("resume_gpu");
  std::string list = write_dataset(dir);
  std::string common = ish::test::ishscale_bin() + " train --train-list " + list + " --data-root " + dir +
                       " --arch resnet18_cifar --width 16 --image-size 16 --epochs 2 --batch-size 4 --lr 0.01 "
                       "--seed 3 --ish --log-every 100 --device cuda --deterministic";
  REQUIRE_MESSAGE(run(common + " --out " + dir + "/a --steps 8") == 0, "straight run failed: " << common);
  REQUIRE(run(common + " --out " + dir + "/b --steps 4") == 0);
  REQUIRE(run(ish::test::ishscale_bin() + " train --out " + dir + "/b --resume --steps 8 --train-list " + list +
              " --data-root " + dir + " --log-every 100") == 0);
  check_same_files(dir + "/a/last.safetensors", dir + "/b/last.safetensors");
  std::system(("rm -rf " + dir).c_str());
}

// ISH's step cost (issue 6: at most 1.02x a plain step) is timed by `ishscale bench` (ish_step_ratio).
}
#endif
