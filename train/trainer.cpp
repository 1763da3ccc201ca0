// The training loop (see trainer.h).
#include "train/trainer.h"

#include <sys/stat.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/device_options.h"
#include "engine/image/batch_tensor.h"
#include "engine/ops.h"
#include "train/checkpoint.h"
#include "train/ish.h"


namespace ish::train {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

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

// Loader settings shared by training and validation passes.
img::LoaderOptions loader_options(const Dataset& ds, int64_t batch_size, Device dev, bool prefetch, int threads) {
  img::LoaderOptions lo;
  lo.batch_size = (int)batch_size;
  img::set_threads(lo, threads, !prefetch);
  lo.format = img::input_format(dev);
  lo.transform = ds.transform;
  return lo;
}

// The eval input the checkpoints record (models/model_meta.h): the dataset's eval transform.
void set_input(CheckpointMeta& m, const Dataset& ds) {
  m.image_size = ds.transform.crop;
  m.resize = ds.transform.resize;
}

}  // namespace

double evaluate_top1(models::ResNet& model, const Dataset& ds, int64_t batch_size, Device dev, int threads) {
  const bool was = model.training();
  model.eval();
  NoGradGuard ng;
  img::Loader loader(ds, loader_options(ds, batch_size, dev, dev != Device::CPU, threads));
  int64_t correct = 0, total = 0;
  while (const img::Batch* b = loader.next()) {
    if (b->n == 0) continue;
    auto out = model.forward(img::batch_tensor(*b, ds.transform, dev));
    correct += count_correct(out.logits, Tensor::from_i64(b->labels, {b->n}));
    total += b->n;
  }
  model.train(was);
  ISH_CHECK(total > 0, "validation set ", ds.describe(), " has no readable sample");
  return 100.0 * (double)correct / (double)total;
}

Trainer::Trainer(models::ResNet& model, const Dataset& train_set, const Dataset* val_set, const TrainConfig& cfg,
                 const std::string& resume, int threads)
    : model_(model), train_set_(train_set), val_set_(val_set), cfg_(cfg),
      dev_(cfg.device == "cuda" ? Device::CUDA : Device::CPU), threads_(threads), sched_(cfg.lr, 1),
      rng_(cfg.seed) {
  ISH_CHECK(model.device() == dev_, "train: the model is on ", device_name(model.device()), ", config says ",
            cfg.device);
  ISH_CHECK(cfg.batch_size >= 1 && cfg.accum >= 1 && cfg.epochs >= 1, "train: batch size, accumulation and epochs "
            "must be positive (got ", cfg.batch_size, ", ", cfg.accum, ", ", cfg.epochs, ")");
  ISH_CHECK(train_set.size() >= 2, "train: the training set ", train_set.describe(), " has ", train_set.size(),
            " samples (need at least 2)");
  ISH_CHECK(cfg.log_every >= 1 && cfg.save_every >= 1, "train: --log-every and --save-every must be positive");
  train_set.transform.validate();
  if (dev_ == Device::CUDA) device_options().deterministic = cfg.deterministic;

  // Per epoch: the samples used (a trailing single-sample micro-batch is dropped) and the steps.
  const int64_t N = train_set.size();
  n_used_ = (N % cfg.batch_size == 1) ? N - 1 : N;
  per_step_ = cfg.batch_size * cfg.accum;
  steps_per_epoch_ = (n_used_ + per_step_ - 1) / per_step_;
  total_steps_ = steps_per_epoch_ * cfg.epochs;
  sched_ = CosineLR(cfg.lr, total_steps_);

  // OpenOOD's groups: every parameter but fc, then fc.weight and fc.bias with their own weight decay.
  ParamGroup g_body, g_fc;
  g_body.opt = {cfg.lr, cfg.momentum, 0.0, cfg.wd, cfg.nesterov};
  g_fc.opt = {cfg.lr, cfg.momentum, 0.0, cfg.wd_fc, cfg.nesterov};
  for (auto& [name, t] : model.named_parameters())
    (name == "fc.weight" || name == "fc.bias" ? g_fc : g_body).params.emplace_back(name, t);
  ISH_CHECK(g_fc.params.size() == 2, "train: model ", model.arch(), " has no fc.weight/fc.bias");
  opt_ = std::make_unique<SGD>(std::vector<ParamGroup>{g_body, g_fc});

  if (cfg.ish) {
    IshStrategy s = ish_strategy_from_name(cfg.ish_strategy);
    ish_keep(model.feature_dim(), cfg.ish_percentile);  // validates the percentile up front
    double p = cfg.ish_percentile;
    model.fc_wgrad_hook = [s, p](const Tensor& f) { return ish_shape(f.detach(), s, p); };
  } else {
    model.fc_wgrad_hook = nullptr;
  }

  if (!resume.empty()) {
    CheckpointMeta m = load_checkpoint(resume, model, opt_.get());
    step_ = m.step;
    epoch_ = m.epoch;
    s_in_ = m.step_in_epoch;
    rng_.set_state(m.rng);
    best_ = m.best_acc;
    ISH_CHECK(s_in_ <= steps_per_epoch_ && step_ == epoch_ * steps_per_epoch_ + s_in_, resume, ": step ", step_,
              " (epoch ", epoch_, ", ", s_in_, " in it) does not fit ", steps_per_epoch_,
              " steps per epoch: was the batch size or the dataset changed?");
    if (s_in_ > 0) {
      epoch_seed_ = m.epoch_seed;
      have_epoch_seed_ = true;
    }
    std::printf("resumed from %s at step %lld (epoch %lld)\n", resume.c_str(), (long long)step_,
                (long long)epoch_ + 1);
  }

  last_path_ = cfg.out.empty() ? "" : cfg.out + "/last.safetensors";
  best_path_ = cfg.out.empty() ? "" : cfg.out + "/best.safetensors";
  config_json_ = config_to_json(cfg);
  if (!cfg.out.empty()) {
    std::string p = cfg.out + "/summary.csv";
    bool fresh = resume.empty() || !exists(p);
    csv_ = std::fopen(p.c_str(), fresh ? "w" : "a");
    ISH_CHECK(csv_, "cannot write ", p);
    if (fresh) std::fprintf(csv_, "epoch,step,train_loss,train_acc,val_acc,lr,img_per_s,seconds,skipped\n");
    std::fflush(csv_);
  }
  model.train(true);
}

Trainer::~Trainer() {
  loader_.reset();
  if (csv_) std::fclose(csv_);
}

bool Trainer::done() const {
  return epoch_ >= cfg_.epochs || (cfg_.max_steps >= 0 && step_ >= cfg_.max_steps);
}

void Trainer::save() {
  if (last_path_.empty()) return;
  // At an epoch's end the position is (next epoch, 0 steps in it).
  const bool at_end = s_in_ == steps_per_epoch_;
  CheckpointMeta m{step_, at_end ? epoch_ + 1 : epoch_, at_end ? 0 : s_in_, epoch_seed_, rng_.state(), best_,
                   config_json_};
  set_input(m, train_set_);
  save_checkpoint(last_path_, model_, opt_.get(), m);
}

void Trainer::begin_epoch() {
  if (!have_epoch_seed_) epoch_seed_ = rng_.next_u64();
  have_epoch_seed_ = false;
  const bool prefetch = cfg_.prefetch < 0 ? dev_ != Device::CPU : cfg_.prefetch != 0;
  img::LoaderOptions lo = loader_options(train_set_, cfg_.batch_size, dev_, prefetch, threads_);
  lo.train = cfg_.augment;
  lo.seed = epoch_seed_;
  lo.epoch = epoch_;
  lo.strict = cfg_.strict;
  // This epoch's samples from the current position on (resume starts mid-epoch).
  std::vector<int64_t> order = img::epoch_order(train_set_.size(), epoch_seed_, epoch_, cfg_.shuffle);
  order.resize((size_t)n_used_);
  order.erase(order.begin(), order.begin() + std::min(n_used_, s_in_ * per_step_));
  loader_ = std::make_unique<img::Loader>(train_set_, lo, std::move(order));
  es_ = EpochSummary();
  es_.epoch = epoch_ + 1;
  loss_sum_ = 0;
  seen_ = correct_ = imgs_log_ = 0;
  t_epoch_ = t_log_ = Clock::now();
}

bool Trainer::step() {
  ISH_CHECK(!done(), "train: step() after the run is done");
  if (!loader_) begin_epoch();
  const double factor = sched_.factor(step_);
  opt_->set_lr_factor(factor);
  opt_->zero_grad();
  const int64_t begin = s_in_ * per_step_, end = std::min(n_used_, begin + per_step_);
  double step_loss = 0;
  int64_t step_n = 0;
  for (int64_t mb = begin; mb < end; mb += cfg_.batch_size) {
    const img::Batch* b = loader_->next();
    ISH_ASSERT(b != nullptr, "the loader ran out of batches at step ", step_ + 1);
    es_.skipped += (int64_t)b->skipped.size();
    if (b->n == 0) continue;
    auto out = model_.forward(img::batch_tensor(*b, train_set_.transform, dev_));
    Tensor y = Tensor::from_i64(b->labels, {b->n});
    if (dev_ != Device::CPU) y = y.to(dev_);
    Tensor loss = ops::cross_entropy(out.logits, y);
    double lv = loss.item();
    if (!std::isfinite(lv))
      throw Error(str("loss is ", lv, " at step ", step_ + 1, " (epoch ", epoch_ + 1, ", lr ", cfg_.lr * factor,
                      "); stopped. ", last_path_.empty() ? "" : last_path_ + " holds the last good state. ",
                      "Hint: lower --lr, or check the data and the initial weights."),
                  1);
    // The step's gradient is that of the mean over all its samples.
    autograd::backward(b->n == end - begin ? loss : ops::mul_scalar(loss, (double)b->n / (double)(end - begin)));
    step_loss += lv * b->n;
    step_n += b->n;
    correct_ += count_correct(out.logits, y);
  }
  opt_->step();
  step_++;
  s_in_++;
  seen_ += step_n;
  imgs_log_ += step_n;
  loss_sum_ += step_loss;
  if (step_ % cfg_.log_every == 0) {
    double dt = seconds_since(t_log_);
    std::printf("epoch %lld/%lld step %lld/%lld loss %.4f lr %.6g %.1f img/s\n", (long long)epoch_ + 1,
                (long long)cfg_.epochs, (long long)step_, (long long)total_steps_, step_n ? step_loss / step_n : 0.0,
                cfg_.lr * factor, dt > 0 ? imgs_log_ / dt : 0.0);
    std::fflush(stdout);
    t_log_ = Clock::now();
    imgs_log_ = 0;
  }
  const bool epoch_end = s_in_ == steps_per_epoch_;
  const bool stop = cfg_.max_steps >= 0 && step_ >= cfg_.max_steps;
  if (!epoch_end && (step_ % cfg_.save_every == 0 || stop)) save();
  return epoch_end;
}

EpochSummary Trainer::end_epoch() {
  ISH_CHECK(s_in_ == steps_per_epoch_, "train: end_epoch() before the epoch's last step");
  loader_.reset();
  EpochSummary es = es_;
  es.step = step_;
  es.seconds = seconds_since(t_epoch_);
  es.train_loss = seen_ ? loss_sum_ / seen_ : 0;
  es.train_acc = seen_ ? 100.0 * correct_ / seen_ : 0;
  es.lr = cfg_.lr * sched_.factor(step_ - 1);
  es.img_per_s = es.seconds > 0 ? seen_ / es.seconds : 0;
  if (val_set_) {
    es.val_acc = evaluate_top1(model_, *val_set_, cfg_.batch_size, dev_, threads_);
    last_acc_ = es.val_acc;
  }
  const bool improved = val_set_ && es.val_acc > best_;
  if (improved) best_ = es.val_acc;
  save();
  if (improved && !best_path_.empty()) {
    // Model only (no optim.*): loads strictly in `ishscale classify/eval` and torchvision as it is.
    CheckpointMeta m{step_, epoch_ + 1, 0, epoch_seed_, rng_.state(), best_, config_json_};
    set_input(m, train_set_);
    save_checkpoint(best_path_, model_, nullptr, m);
  }
  std::printf("epoch %lld/%lld done: step %lld train loss %.4f train acc %.2f%% val acc %s %.1f img/s %.1fs\n",
              (long long)epoch_ + 1, (long long)cfg_.epochs, (long long)step_, es.train_loss, es.train_acc,
              val_set_ ? str(es.val_acc, "%").c_str() : "n/a", es.img_per_s, es.seconds);
  std::fflush(stdout);
  if (csv_) {
    std::fprintf(csv_, "%lld,%lld,%.6f,%.4f,%.4f,%.6g,%.2f,%.2f,%lld\n", (long long)es.epoch, (long long)es.step,
                 es.train_loss, es.train_acc, es.val_acc, es.lr, es.img_per_s, es.seconds, (long long)es.skipped);
    std::fflush(csv_);
  }
  epoch_++;
  s_in_ = 0;
  return es;
}

TrainResult Trainer::run() {
  TrainResult res;
  while (!done())
    if (step()) res.epochs.push_back(end_epoch());
  res.steps = step_;
  res.finished = step_ >= total_steps_;
  res.best_acc = best_;
  res.last_acc = last_acc_;
  if (!cfg_.out.empty()) {  // the model alone, however the run ended: what eval and classify load
    CheckpointMeta m{step_, epoch_, s_in_, epoch_seed_, rng_.state(), best_, config_json_};
    set_input(m, train_set_);
    save_checkpoint(cfg_.out + "/final.safetensors", model_, nullptr, m);
  }
  model_.train(false);
  return res;
}

}  // namespace ish::train
