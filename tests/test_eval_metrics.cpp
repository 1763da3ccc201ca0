// OpenOOD v1.5 metrics against sklearn 1.2 goldens (tools/fixtures_eval.py), on score sets with ties.
#include <cmath>

#include "eval/metrics.h"
#include "tests/util.h"

using namespace ish;

namespace {

std::vector<float> as_f32(const Tensor& t) { return t.to_f32_vector(); }
std::vector<int64_t> as_i64(const Tensor& t) {
  const int64_t* p = t.data<int64_t>();
  return std::vector<int64_t>(p, p + t.numel());
}
void check_vec(const std::vector<double>& got, const Tensor& want, const char* what) {
  auto w = want.to_f64_vector();
  REQUIRE_MESSAGE(got.size() == w.size(), what << ": " << got.size() << " points vs sklearn " << w.size());
  for (size_t i = 0; i < w.size(); i++) CHECK_MESSAGE(std::fabs(got[i] - w[i]) <= 1e-12, what << "[" << i << "]");
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("eval metrics match sklearn 1.2 / OpenOOD compute_all_metrics") {
  auto T = test::load_fixture("eval_metrics.safetensors");
  const char* cases[] = {"ties", "continuous", "integers", "all_equal", "tiny", "tiny_reversed",
                         "separated", "with_inf", "few_ood"};
  for (const char* c : cases) {
    std::string n = c;
    auto conf = as_f32(T.at(n + ".conf"));
    auto label = as_i64(T.at(n + ".label")), pred = as_i64(T.at(n + ".pred"));
    eval::Metrics m = eval::compute_metrics(conf, label, pred);
    auto want = T.at(n + ".metrics").to_f64_vector();
    double got[5] = {m.fpr95, m.auroc, m.aupr_in, m.aupr_out, m.acc};
    const char* names[5] = {"fpr95", "auroc", "aupr_in", "aupr_out", "acc"};
    for (int k = 0; k < 5; k++)  // 1e-9: the bound; only summation order differs from numpy's pairwise trapz
      CHECK_MESSAGE(std::fabs(got[k] - want[k]) <= 1e-9, n << " " << names[k] << ": " << got[k] << " vs sklearn " << want[k]);
    CHECK(std::fabs(eval::auroc(conf, label) - want[1]) <= 1e-9);
  }
}

TEST_CASE("eval roc/pr curves keep sklearn's points (drop_intermediate, tie grouping)") {
  auto T = test::load_fixture("eval_metrics.safetensors");
  for (std::string n : {"ties", "continuous", "integers"}) {
    auto conf = as_f32(T.at(n + ".conf"));
    auto label = as_i64(T.at(n + ".label"));
    std::vector<int> ood(label.size()), id(label.size());
    std::vector<double> neg(conf.size()), pos(conf.size());
    for (size_t i = 0; i < label.size(); i++) {
      ood[i] = label[i] == -1;
      id[i] = 1 - ood[i];
      neg[i] = -(double)conf[i];
      pos[i] = conf[i];
    }
    eval::Curve roc = eval::roc_curve(ood, neg);
    check_vec(roc.x, T.at(n + ".roc_fpr"), (n + " fpr").c_str());
    check_vec(roc.y, T.at(n + ".roc_tpr"), (n + " tpr").c_str());
    eval::Curve pr = eval::pr_curve(id, pos);
    check_vec(pr.x, T.at(n + ".pr_in_recall"), (n + " recall").c_str());
    check_vec(pr.y, T.at(n + ".pr_in_precision"), (n + " precision").c_str());
  }
}

TEST_CASE("eval metrics: hand-computed values and bad input") {
  // ID {3, 2}, OOD {1, 2} on -conf: points (fpr, tpr) = (0,0) (0,.5) (.5,1) (1,1) -> AUROC 0.875, FPR@95 0.5
  std::vector<float> conf = {3, 2, 1, 2};
  std::vector<int64_t> label = {0, 1, -1, -1}, pred = {0, 0, 0, 0};
  eval::Metrics m = eval::compute_metrics(conf, label, pred);
  CHECK(m.auroc == doctest::Approx(0.875).epsilon(1e-15));
  CHECK(m.fpr95 == doctest::Approx(0.5));
  CHECK(m.acc == doctest::Approx(0.5));
  conf[1] = NAN;
  CHECK_THROWS_AS(eval::compute_metrics(conf, label, pred), Error);
  CHECK_THROWS_AS(eval::compute_metrics({1, 2}, {0}, {0, 0}), Error);
  CHECK_THROWS_AS(eval::auc({0, 1, 0.5}, {1, 1, 1}), Error);
}
}
