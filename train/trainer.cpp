// The training loop (see trainer.h).
#include "train/trainer.h"

#include <sys/stat.h>

#include <algorithm>
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
  Tensor stats = Tensor::zeros({ops::kTrainStats}, DType::F64, dev);  // counted on the device: one sync
  int64_t total = 0;
  while (const img::Batch* b = loader.next()) {
    if (b->n == 0) continue;
    auto out = model.forward(img::batch_tensor(*b, ds.transform, dev));
    ops::train_stats_(stats, Tensor(), out.logits, Tensor::from_i64(b->labels, {b->n}).to(dev), 1);
    total += b->n;
  }
  model.train(was);
  ISH_CHECK(total > 0, "validation set ", ds.describe(), " has no readable sample");
  return 100.0 * stats.to_f64_vector()[ops::kCorrect] / (double)total;
}

Trainer::Trainer(models::ResNet& model, const Dataset& train_set, const Dataset* val_set, const TrainConfig& cfg,
                 const std::string& resume, int threads)
    : model_(model), train_set_(train_set), val_set_(val_set), cfg_(cfg),
      dev_(cfg.device == "cuda" ? Device::CUDA : Device::CPU), threads_(threads), sched_(cfg.lr, 1),
      rng_(cfg.seed), progress_(cfg.progress ? stderr : nullptr, stderr_is_tty()) {
  ISH_CHECK(model.device() == dev_, "train: the model is on ", device_name(model.device()), ", config says ",
            cfg.device);
  ISH_CHECK(cfg.batch_size >= 1 && cfg.accum >= 1 && cfg.epochs >= 1, "train: batch size, accumulation and epochs "
            "must be positive (got ", cfg.batch_size, ", ", cfg.accum, ", ", cfg.epochs, ")");
  ISH_CHECK(train_set.size() >= 2, "train: the training set ", train_set.describe(), " has ", train_set.size(),
            " samples (need at least 2)");
  ISH_CHECK(cfg.log_every >= 1 && cfg.save_every >= 1, "train: --log-every and --save-every must be positive");
  train_set.transform.validate();
  if (dev_ == Device::CUDA) device_options().deterministic = cfg.deterministic;
  device_options().tf32 = parse_tf32(cfg.tf32);

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
    good_path_ = resume;
    good_step_ = step_;
  }
  stats_ = Tensor::zeros({ops::kTrainStats}, DType::F64, dev_);

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

int64_t Trainer::run_steps() const {
  return cfg_.max_steps >= 0 ? std::min(total_steps_, cfg_.max_steps) : total_steps_;
}

double Trainer::sec_per_step() const { return steps_run_ > 0 ? step_seconds_ / (double)steps_run_ : -1; }

Trainer::Stats Trainer::read_stats() {
  std::vector<double> v = stats_.to_f64_vector();
  Stats s{v[0], v[1], v[2], v[3]};
  if (s[ops::kBadStep] > 0) stop_non_finite(s);
  return s;
}

void Trainer::stop_non_finite(const Stats& s) const {
  const int64_t bad = (int64_t)s[ops::kBadStep];
  const double l = s[ops::kBadLoss];
  const char* what = std::isnan(l) ? "nan" : l > 0 ? "inf" : "-inf";  // printf may say "-nan"
  std::string good;
  if (!good_path_.empty()) good = str(good_path_, " (step ", good_step_, ") holds the last good state.");
  else if (last_path_.empty()) good = "Nothing was saved (no output directory).";
  else good = "No checkpoint was written before it.";
  throw Error(str("loss is ", what, " at step ", bad, " (epoch ", (bad - 1) / steps_per_epoch_ + 1,
                  ", lr ", cfg_.lr * sched_.factor(bad - 1), "); stopped at step ", step_,
                  ", before saving anything from step ", bad, " on. ", good,
                  " Hint: lower --lr, or check the data and the initial weights."),
              2);
}

void Trainer::write_checkpoint(const std::string& path, bool with_optimizer, const CheckpointMeta& meta) {
  read_stats();  // never write a state that a non-finite loss has reached
  CheckpointMeta m = meta;
  set_input(m, train_set_);  // the eval input size, for the commands that load the file
  save_checkpoint(path, model_, with_optimizer ? opt_.get() : nullptr, m);
  if (path == last_path_) {
    good_path_ = path;
    good_step_ = meta.step;
  }
}

void Trainer::save() {
  if (last_path_.empty()) return;
  // At an epoch's end the position is (next epoch, 0 steps in it).
  const bool at_end = s_in_ == steps_per_epoch_;
  CheckpointMeta m{step_, at_end ? epoch_ + 1 : epoch_, at_end ? 0 : s_in_, epoch_seed_, rng_.state(), best_,
                   config_json_};
  write_checkpoint(last_path_, true, m);
}

void Trainer::log_interval(double lr) {
  const Stats s = read_stats();  // the interval's one sync
  const double dt = seconds_since(t_log_), n = (double)imgs_log_;
  LogRecord r;
  r.step = step_;
  r.epoch = epoch_ + 1;
  r.samples = imgs_log_;
  r.loss = n > 0 ? (s[ops::kLossSum] - at_log_[ops::kLossSum]) / n : 0;
  r.acc = n > 0 ? 100.0 * (s[ops::kCorrect] - at_log_[ops::kCorrect]) / n : 0;
  r.lr = lr;
  r.img_per_s = dt > 0 ? n / dt : 0;
  const double per = sec_per_step();
  r.eta_epoch_s = per < 0 ? -1 : per * (double)(steps_per_epoch_ - s_in_);
  r.eta_run_s = per < 0 ? -1 : per * (double)(run_steps() - step_);
  last_log_ = r;
  at_log_ = s;
  progress_.clear();
  std::printf("%s\n", log_line(r, cfg_.epochs, total_steps_).c_str());
  std::fflush(stdout);
  t_log_ = Clock::now();
  imgs_log_ = 0;
}

void Trainer::show_progress() {
  ProgressState p;
  p.step = step_;
  p.run_steps = run_steps();
  p.epoch = epoch_ + 1;
  p.epochs = cfg_.epochs;
  p.step_in_epoch = s_in_;
  p.epoch_steps = steps_per_epoch_;
  const double dt = seconds_since(t_progress_), per = sec_per_step();
  p.img_per_s = dt > 0 ? (double)imgs_progress_ / dt : 0;
  p.eta_epoch_s = per < 0 ? -1 : per * (double)(steps_per_epoch_ - s_in_);
  p.eta_run_s = per < 0 ? -1 : per * (double)(run_steps() - step_);
  progress_.show(p);
  t_progress_ = Clock::now();
  imgs_progress_ = 0;
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
  seen_ = imgs_log_ = imgs_progress_ = 0;
  t_epoch_ = t_log_ = t_progress_ = Clock::now();
}

bool Trainer::step() {
  ISH_CHECK(!done(), "train: step() after the run is done");
  if (!loader_) begin_epoch();
  const auto t0 = Clock::now();
  const double factor = sched_.factor(step_);
  opt_->set_lr_factor(factor);
  opt_->zero_grad();
  const int64_t begin = s_in_ * per_step_, end = std::min(n_used_, begin + per_step_);
  const int64_t classes = model_.num_classes();
  int64_t step_n = 0;
  for (int64_t mb = begin; mb < end; mb += cfg_.batch_size) {
    const img::Batch* b = loader_->next();
    ISH_ASSERT(b != nullptr, "the loader ran out of batches at step ", step_ + 1);
    es_.skipped += (int64_t)b->skipped.size();
    if (b->n == 0) continue;
    for (int i = 0; i < b->n; i++)  // on the host, before the upload: the device never reads labels back
      ISH_CHECK(b->labels[i] >= 0 && b->labels[i] < classes, train_set_.where(b->indices[i]), ": label ",
                b->labels[i], " is outside [0, ", classes, ") (the model has ", classes, " classes)");
    auto out = model_.forward(img::batch_tensor(*b, train_set_.transform, dev_));
    const Tensor y = Tensor::from_i64(b->labels, {b->n}).to(dev_);
    Tensor loss = ops::cross_entropy(out.logits, y);
    // The step's gradient is that of the mean over all its samples.
    autograd::backward(b->n == end - begin ? loss : ops::mul_scalar(loss, (double)b->n / (double)(end - begin)));
    ops::train_stats_(stats_, loss.detach(), out.logits.detach(), y, step_ + 1);
    step_n += b->n;
  }
  opt_->step();
  step_++;
  s_in_++;
  seen_ += step_n;
  imgs_log_ += step_n;
  imgs_progress_ += step_n;
  step_seconds_ += seconds_since(t0);
  steps_run_++;
  if (step_ % cfg_.log_every == 0) log_interval(cfg_.lr * factor);
  if (progress_.due()) show_progress();
  const bool epoch_end = s_in_ == steps_per_epoch_;
  const bool stop = cfg_.max_steps >= 0 && step_ >= cfg_.max_steps;
  if (!epoch_end && (step_ % cfg_.save_every == 0 || stop)) save();
  return epoch_end;
}

EpochSummary Trainer::end_epoch() {
  ISH_CHECK(s_in_ == steps_per_epoch_, "train: end_epoch() before the epoch's last step");
  loader_.reset();
  const Stats s = read_stats();  // before validation and any checkpoint of this epoch
  EpochSummary es = es_;
  es.step = step_;
  es.seconds = seconds_since(t_epoch_);
  es.train_loss = seen_ ? (s[ops::kLossSum] - at_epoch_[ops::kLossSum]) / (double)seen_ : 0;
  es.train_acc = seen_ ? 100.0 * (s[ops::kCorrect] - at_epoch_[ops::kCorrect]) / (double)seen_ : 0;
  at_epoch_ = at_log_ = s;  // the next epoch's first log line counts from its own start
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
    write_checkpoint(best_path_, false, m);
  }
  progress_.clear();
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
    write_checkpoint(cfg_.out + "/final.safetensors", false, m);
  }
  model_.train(false);
  return res;
}

}  // namespace ish::train
