// Internal to eval/: the parameter plumbing shared by the detector classes, and their factories.
#pragma once
#include <cmath>
#include <string>

#include "eval/detectors.h"

namespace ish::eval::detail {

// A detector with named hyper-parameters (declared in OpenOOD's order) and an APS grid.
class ParamDetector : public Detector {
 public:
  explicit ParamDetector(Fc fc) : fc_(std::move(fc)) {}
  HParams params() const override { return p_; }
  void set_params(const HParams& p) override;
  std::vector<HParams> grid() const override { return grid_; }

 protected:
  double get(const std::string& k) const;
  // Throws ish::Error when v is not a valid value of k.
  virtual void check_param(const std::string& k, double v) const {}
  virtual void on_params_changed() {}
  int64_t num_classes() const { return fc_.W.size(0); }
  int64_t feature_dim() const { return fc_.W.size(1); }

  Fc fc_;
  HParams p_;
  std::vector<HParams> grid_;
};

// Grids: one parameter, or two with the first varying fastest (OpenOOD's recursive_generator).
std::vector<HParams> grid1(const std::string& n, const std::vector<double>& v);
std::vector<HParams> grid2(const std::string& n1, const std::vector<double>& v1, const std::string& n2,
                           const std::vector<double>& v2);

std::unique_ptr<Detector> make_react(const Fc& fc);
std::unique_ptr<Detector> make_ash(const Fc& fc, const std::string& variant);  // ash | ash_p | ash_s
std::unique_ptr<Detector> make_scale(const Fc& fc);
std::unique_ptr<Detector> make_knn(const Fc& fc);
std::unique_ptr<Detector> make_vim(const Fc& fc);
std::unique_ptr<Detector> make_mds(const Fc& fc);
std::unique_ptr<Detector> make_odin(const Fc& fc, InputGradNet* net);
std::unique_ptr<Detector> make_nci(const Fc& fc);
std::unique_ptr<Detector> make_fdbd(const Fc& fc);
std::unique_ptr<Detector> make_nnguide(const Fc& fc);
std::unique_ptr<Detector> make_caref(const Fc& fc);
std::unique_ptr<Detector> make_cadref(const Fc& fc);
std::unique_ptr<Detector> make_optfs(const Fc& fc);
std::unique_ptr<Detector> make_adascale(const Fc& fc, InputGradNet* net, bool linear);  // adascale_l when linear

// Shared by the detectors after SCALE: checks of the fit and scored sets against fc's C x D, and the
// mean ID-train feature (float32, as np.mean).
void require_train_set(const FitInputs& in, const std::string& who, int64_t D);
void require_scored_set(const FeatureSet& f, const std::string& who, int64_t C, int64_t D);
std::vector<float> mean_feature(const FeatureSet& s);

}  // namespace ish::eval::detail
