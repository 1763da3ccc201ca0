#include "train/schedule.h"

#include <cmath>

#include "engine/error.h"

namespace ish::train {

double cosine_annealing(double step, double total_steps, double lr_max, double lr_min) {
  // Same operation order as numpy's: (step / total) * pi.
  return lr_min + (lr_max - lr_min) * 0.5 * (1 + std::cos(step / total_steps * M_PI));
}

CosineLR::CosineLR(double base_lr, int64_t total_steps, double final_lr)
    : base_lr_(base_lr), final_lr_(final_lr), total_(total_steps) {
  ISH_CHECK(total_steps > 0, "cosine schedule: total steps must be positive, got ", total_steps);
  ISH_CHECK(base_lr > 0, "cosine schedule: the learning rate must be positive, got ", base_lr);
}

double CosineLR::factor(int64_t step) const {
  return cosine_annealing((double)step, (double)total_, 1.0, final_lr_ / base_lr_);
}

}  // namespace ish::train
