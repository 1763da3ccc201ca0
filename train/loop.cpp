#include "train/loop.h"

#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <future>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "train/checkpoint.h"
#include "train/ish.h"
#include "train/schedule.h"
#include "train/sgd.h"

#ifdef ISHSCALE_CUDA
#include "engine/cuda/backend.h"
#endif

namespace ish::train {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct HostBatch {
  std::vector<float> x;  // [n,H,W,C]
  std::vector<int64_t> y;
  int64_t n = 0, skipped = 0;
};
struct Batch {
  Tensor x, y;  // [n,H,W,C] float on the device, I64 [n]
  int64_t n = 0, skipped = 0;
};

// Samples at positions [begin, end) of `order`, decoded and transformed on the host (OpenMP over samples).
// aug: training transform with per-sample Rngs. Unreadable samples are skipped (or throw under strict).
HostBatch load_host(const Dataset& ds, const std::vector<int64_t>* order, int64_t begin, int64_t end, bool aug,
                    uint64_t epoch_seed, int64_t epoch, bool strict) {
  const int64_t per = ds.height() * ds.width() * ds.channels(), n = end - begin;
  HostBatch b;
  b.x.resize((size_t)(n * per));
  std::vector<char> ok((size_t)n, 1);
  std::vector<std::string> why((size_t)n);
  auto index = [&](int64_t i) { return order ? (*order)[begin + i] : begin + i; };
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < n; i++) {
    Rng rng = sample_rng(epoch_seed, epoch, begin + i);
    try {
      ok[i] = ds.load(index(i), aug ? &rng : nullptr, b.x.data() + i * per, &why[i]);
    } catch (const std::exception& e) {
      ok[i] = 0;
      why[i] = e.what();
    }
  }
  int64_t w = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!ok[i]) {
      ISH_CHECK(!strict, "unreadable training sample ", index(i), " of ", ds.describe(), ": ", why[i]);
      std::fprintf(stderr, "warning: skipping sample %lld of %s: %s\n", (long long)index(i), ds.describe().c_str(),
                   why[i].c_str());
      b.skipped++;
      continue;
    }
    if (w != i) std::copy(b.x.begin() + i * per, b.x.begin() + (i + 1) * per, b.x.begin() + w * per);
    b.y.push_back(ds.label(index(i)));
    w++;
  }
  b.n = w;
  b.x.resize((size_t)(w * per));
  return b;
}

Batch to_device(const Dataset& ds, HostBatch&& h, Device dev) {
  Batch b;
  b.n = h.n;
  b.skipped = h.skipped;
  if (h.n == 0) return b;
  b.x = Tensor::from_f32(h.x, {h.n, ds.height(), ds.width(), ds.channels()});
  b.y = Tensor::from_i64(h.y, {h.n});
  if (dev != Device::CPU) {
    b.x = b.x.to(dev);
    b.y = b.y.to(dev);
  }
  return b;
}

// Micro-batch k of an epoch covers positions [k*B, min((k+1)*B, n_used)). On a GPU the next one is
// decoded on a host thread while the device computes the current one (by default only on a GPU: on the
// CPU the compute already uses every core). Prefetching never changes the batches.
class EpochBatches {
 public:
  EpochBatches(const Dataset& ds, const std::vector<int64_t>& order, int64_t n_used, int64_t B, bool aug,
               uint64_t seed, int64_t epoch, bool strict, Device dev, bool prefetch)
      : ds_(ds), order_(order), n_used_(n_used), B_(B), aug_(aug), seed_(seed), epoch_(epoch), strict_(strict),
        dev_(dev), prefetch_(prefetch) {}
  ~EpochBatches() {
    if (next_.valid()) next_.wait();
  }
  Batch get(int64_t k) {
    HostBatch h = next_.valid() && next_k_ == k ? next_.get() : load(k);
    if (next_.valid()) next_.wait();  // a stale prefetch (not the one asked for)
    if (prefetch_ && (k + 1) * B_ < n_used_) {
      next_k_ = k + 1;
      next_ = std::async(std::launch::async, [this, k] { return load(k + 1); });
    }
    return to_device(ds_, std::move(h), dev_);
  }

 private:
  HostBatch load(int64_t k) {
    return load_host(ds_, &order_, k * B_, std::min(n_used_, (k + 1) * B_), aug_, seed_, epoch_, strict_);
  }
  const Dataset& ds_;
  const std::vector<int64_t>& order_;
  int64_t n_used_, B_;
  bool aug_;
  uint64_t seed_;
  int64_t epoch_;
  bool strict_;
  Device dev_;
  bool prefetch_;
  std::future<HostBatch> next_;
  int64_t next_k_ = -1;
};

int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  NoGradGuard ng;
  std::vector<double> pred = ops::argmax_last(logits.detach().to(Device::CPU)).to_f64_vector();  // a CPU op
  std::vector<double> y = labels.to(Device::CPU).to_f64_vector();
  int64_t c = 0;
  for (size_t i = 0; i < y.size(); i++) c += pred[i] == y[i];
  return c;
}

bool exists(const std::string& p) {
  struct stat sb;
  return stat(p.c_str(), &sb) == 0;
}

}  // namespace

double evaluate_top1(models::ResNet& model, const Dataset& ds, int64_t batch_size, Device dev) {
  bool was = model.training();
  model.eval();
  NoGradGuard ng;
  std::vector<int64_t> order = epoch_order(ds.size(), 0, 0, false);
  EpochBatches batches(ds, order, ds.size(), batch_size, false, 0, 0, false, dev, dev != Device::CPU);
  int64_t correct = 0, total = 0;
  for (int64_t b = 0; b * batch_size < ds.size(); b++) {
    Batch bt = batches.get(b);
    if (bt.n == 0) continue;
    auto out = model.forward(bt.x);
    correct += count_correct(out.logits, bt.y);
    total += bt.n;
  }
  model.train(was);
  ISH_CHECK(total > 0, "validation set ", ds.describe(), " has no readable sample");
  return 100.0 * (double)correct / (double)total;
}

TrainResult train(models::ResNet& model, const Dataset& train_set, const Dataset* val_set, const TrainConfig& cfg,
                  const std::string& resume) {
  const Device dev = cfg.device == "cuda" ? Device::CUDA : Device::CPU;
  ISH_CHECK(model.device() == dev, "train: the model is on ", device_name(model.device()), ", config says ",
            cfg.device);
  ISH_CHECK(cfg.batch_size >= 1 && cfg.accum >= 1 && cfg.epochs >= 1, "train: batch size, accumulation and epochs "
            "must be positive (got ", cfg.batch_size, ", ", cfg.accum, ", ", cfg.epochs, ")");
  ISH_CHECK(train_set.size() >= 2, "train: the training set ", train_set.describe(), " has ", train_set.size(),
            " samples (need at least 2)");
  ISH_CHECK(cfg.log_every >= 1 && cfg.save_every >= 1, "train: --log-every and --save-every must be positive");
#ifdef ISHSCALE_CUDA
  if (dev == Device::CUDA) cuda::options().deterministic = cfg.deterministic;
#endif

  // Per epoch: the samples used (a trailing single-sample micro-batch is dropped) and the steps.
  const int64_t N = train_set.size();
  const int64_t n_used = (N % cfg.batch_size == 1) ? N - 1 : N;
  const int64_t per_step = cfg.batch_size * cfg.accum;
  const int64_t steps_per_epoch = (n_used + per_step - 1) / per_step;
  const int64_t total_steps = steps_per_epoch * cfg.epochs;
  CosineLR sched(cfg.lr, total_steps);
  const bool prefetch = cfg.prefetch < 0 ? dev != Device::CPU : cfg.prefetch != 0;

  // OpenOOD's groups: every parameter but fc, then fc.weight and fc.bias with their own weight decay.
  ParamGroup g_body, g_fc;
  g_body.opt = {cfg.lr, cfg.momentum, 0.0, cfg.wd, cfg.nesterov};
  g_fc.opt = {cfg.lr, cfg.momentum, 0.0, cfg.wd_fc, cfg.nesterov};
  for (auto& [name, t] : model.named_parameters())
    (name == "fc.weight" || name == "fc.bias" ? g_fc : g_body).params.emplace_back(name, t);
  ISH_CHECK(g_fc.params.size() == 2, "train: model ", model.arch(), " has no fc.weight/fc.bias");
  SGD opt({g_body, g_fc});

  if (cfg.ish) {
    IshStrategy s = ish_strategy_from_name(cfg.ish_strategy);
    ish_keep(model.feature_dim(), cfg.ish_percentile);  // validates the percentile up front
    double p = cfg.ish_percentile;
    model.fc_wgrad_hook = [s, p](const Tensor& f) { return ish_shape(f.detach(), s, p); };
  } else {
    model.fc_wgrad_hook = nullptr;
  }

  Rng rng(cfg.seed);
  int64_t step = 0, epoch = 0, start_in_epoch = 0;
  uint64_t epoch_seed = 0;
  bool have_epoch_seed = false;
  double best = -1;
  if (!resume.empty()) {
    CheckpointMeta m = load_checkpoint(resume, model, &opt);
    step = m.step;
    epoch = m.epoch;
    start_in_epoch = m.step_in_epoch;
    rng.set_state(m.rng);
    best = m.best_acc;
    ISH_CHECK(start_in_epoch <= steps_per_epoch && step == epoch * steps_per_epoch + start_in_epoch, resume,
              ": step ", step, " (epoch ", epoch, ", ", start_in_epoch, " in it) does not fit ", steps_per_epoch,
              " steps per epoch: was the batch size or the dataset changed?");
    if (start_in_epoch > 0) {
      epoch_seed = m.epoch_seed;
      have_epoch_seed = true;
    }
    std::printf("resumed from %s at step %lld (epoch %lld)\n", resume.c_str(), (long long)step,
                (long long)epoch + 1);
  }

  const std::string last = cfg.out.empty() ? "" : cfg.out + "/last.safetensors";
  const std::string best_path = cfg.out.empty() ? "" : cfg.out + "/best.safetensors";
  const std::string config_json = config_to_json(cfg);
  auto save_last = [&](int64_t ep, int64_t in_epoch) {
    if (last.empty()) return;
    CheckpointMeta m{step, ep, in_epoch, epoch_seed, rng.state(), best, config_json};
    save_checkpoint(last, model, &opt, m);
  };
  std::FILE* csv = nullptr;
  if (!cfg.out.empty()) {
    std::string p = cfg.out + "/summary.csv";
    bool fresh = resume.empty() || !exists(p);
    csv = std::fopen(p.c_str(), fresh ? "w" : "a");
    ISH_CHECK(csv, "cannot write ", p);
    if (fresh) std::fprintf(csv, "epoch,step,train_loss,train_acc,val_acc,lr,img_per_s,seconds,skipped\n");
    std::fflush(csv);
  }
  struct CsvCloser {
    std::FILE*& f;
    ~CsvCloser() { if (f) std::fclose(f); }
  } closer{csv};

  TrainResult res;
  res.best_acc = best;
  model.train(true);
  for (; epoch < cfg.epochs; epoch++) {
    if (cfg.max_steps >= 0 && step >= cfg.max_steps) break;
    if (!have_epoch_seed) epoch_seed = rng.next_u64();
    have_epoch_seed = false;
    std::vector<int64_t> order = epoch_order(N, epoch_seed, epoch, cfg.shuffle);
    EpochBatches batches(train_set, order, n_used, cfg.batch_size, cfg.augment, epoch_seed, epoch, cfg.strict, dev,
                         prefetch);
    EpochSummary es;
    es.epoch = epoch + 1;
    double loss_sum = 0;
    int64_t seen = 0, correct = 0;
    auto t_epoch = Clock::now(), t_log = Clock::now();
    int64_t imgs_log = 0;
    int64_t s_in = start_in_epoch;
    start_in_epoch = 0;
    for (; s_in < steps_per_epoch; s_in++) {
      if (cfg.max_steps >= 0 && step >= cfg.max_steps) break;
      double factor = sched.factor(step);
      opt.set_lr_factor(factor);
      opt.zero_grad();
      int64_t begin = s_in * per_step, end = std::min(n_used, begin + per_step);
      double step_loss = 0;
      int64_t step_n = 0;
      for (int64_t mb = begin; mb < end; mb += cfg.batch_size) {
        Batch b = batches.get(mb / cfg.batch_size);
        es.skipped += b.skipped;
        if (b.n == 0) continue;
        auto out = model.forward(b.x);
        Tensor loss = ops::cross_entropy(out.logits, b.y);
        double lv = loss.item();
        if (!std::isfinite(lv))
          throw Error(str("loss is ", lv, " at step ", step + 1, " (epoch ", epoch + 1, ", lr ", cfg.lr * factor,
                          "); stopped. ", last.empty() ? "" : last + " holds the last good state. ",
                          "Hint: lower --lr, or check the data and the initial weights."),
                      1);
        // The step's gradient is that of the mean over all its samples.
        autograd::backward(b.n == end - begin ? loss : ops::mul_scalar(loss, (double)b.n / (double)(end - begin)));
        step_loss += lv * b.n;
        step_n += b.n;
        correct += count_correct(out.logits, b.y);
      }
      opt.step();
      step++;
      seen += step_n;
      imgs_log += step_n;
      loss_sum += step_loss;
      if (step % cfg.log_every == 0) {
        double dt = seconds_since(t_log);
        std::printf("epoch %lld/%lld step %lld/%lld loss %.4f lr %.6g %.1f img/s\n", (long long)epoch + 1,
                    (long long)cfg.epochs, (long long)step, (long long)total_steps,
                    step_n ? step_loss / step_n : 0.0, cfg.lr * factor, dt > 0 ? imgs_log / dt : 0.0);
        std::fflush(stdout);
        t_log = Clock::now();
        imgs_log = 0;
      }
      bool epoch_end = s_in + 1 == steps_per_epoch;
      bool stop = cfg.max_steps >= 0 && step >= cfg.max_steps;
      if (!epoch_end && (step % cfg.save_every == 0 || stop)) save_last(epoch, s_in + 1);
    }
    if (s_in < steps_per_epoch) break;  // stopped by max_steps mid-epoch (already saved)
    // Epoch end: validate, then checkpoint.
    es.step = step;
    es.seconds = seconds_since(t_epoch);
    es.train_loss = seen ? loss_sum / seen : 0;
    es.train_acc = seen ? 100.0 * correct / seen : 0;
    es.lr = cfg.lr * sched.factor(step - 1);
    es.img_per_s = es.seconds > 0 ? seen / es.seconds : 0;
    if (val_set) {
      es.val_acc = evaluate_top1(model, *val_set, cfg.batch_size, dev);
      res.last_acc = es.val_acc;
    }
    bool improved = val_set && es.val_acc > best;
    if (improved) best = es.val_acc;
    res.best_acc = best;
    save_last(epoch + 1, 0);
    if (improved && !best_path.empty()) {
      // Model only (no optim.*): loads strictly in `ishscale classify/eval` and torchvision as it is.
      CheckpointMeta m{step, epoch + 1, 0, epoch_seed, rng.state(), best, config_json};
      save_checkpoint(best_path, model, nullptr, m);
    }
    std::printf("epoch %lld/%lld done: step %lld train loss %.4f train acc %.2f%% val acc %s %.1f img/s %.1fs\n",
                (long long)epoch + 1, (long long)cfg.epochs, (long long)step, es.train_loss, es.train_acc,
                val_set ? str(es.val_acc, "%").c_str() : "n/a", es.img_per_s, es.seconds);
    std::fflush(stdout);
    if (csv) {
      std::fprintf(csv, "%lld,%lld,%.6f,%.4f,%.4f,%.6g,%.2f,%.2f,%lld\n", (long long)es.epoch, (long long)es.step,
                   es.train_loss, es.train_acc, es.val_acc, es.lr, es.img_per_s, es.seconds, (long long)es.skipped);
      std::fflush(csv);
    }
    res.epochs.push_back(es);
  }
  res.steps = step;
  res.finished = step >= total_steps;
  model.train(false);
  return res;
}

}  // namespace ish::train
