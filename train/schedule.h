// Learning-rate schedules. OpenOOD's per-step cosine (ish_trainer.py, lr_scheduler.py):
//   LambdaLR(opt, lambda step: cosine_annealing(step, total_steps, 1, 1e-6 / lr))
//   cosine_annealing(s, T, hi, lo) = lo + (hi - lo) * 0.5 * (1 + cos(s / T * pi))
// LambdaLR sets lr = base_lr * lambda(0) at construction and scheduler.step() follows every
// optimizer.step(), so the update with 0-based index s uses base_lr * lambda(s): the first update
// uses the full base lr, and the last of T updates uses base_lr * lambda(T-1) (just above 1e-6).
#pragma once
#include <cstdint>

namespace ish::train {

double cosine_annealing(double step, double total_steps, double lr_max, double lr_min);

class CosineLR {
 public:
  CosineLR(double base_lr, int64_t total_steps, double final_lr = 1e-6);
  // Multiplicative factor (LambdaLR's lambda) for the update with 0-based index `step`.
  double factor(int64_t step) const;
  double lr(int64_t step) const { return base_lr_ * factor(step); }
  int64_t total_steps() const { return total_; }
 private:
  double base_lr_, final_lr_;
  int64_t total_;
};

}  // namespace ish::train
