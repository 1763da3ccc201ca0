// The demo's summary over seeds: results.json and the printed table, every number mean ± sample std over
// seeds. The paired CE-vs-ISH comparison is demo/paired.h, the HTML report demo/report.h.
#pragma once
#include <string>
#include <vector>

#include "demo/config.h"
#include "demo/data.h"
#include "demo/eval.h"
#include "eval/benchmark.h"

namespace ish::demo {

struct MeanStd {
  double mean = 0, std = 0;  // std: sample standard deviation (n-1); 0 for one seed
  std::vector<double> values;
};
MeanStd mean_std(const std::vector<double>& v);

// Training names in display order, and their labels.
const std::vector<std::string>& training_names();
std::string training_label(const std::string& t);

struct DemoRun {
  DemoConfig config;
  std::vector<ModelEval> evals;  // every (training, seed)
  double wall_seconds = 0, cpu_seconds = 0;  // up to the evaluation's end (before the outputs)
  std::vector<std::string> faces;  // letter test faces
  std::string val_face;
};

// The evaluations of one training, in seed order; the trainings present, in display order; the detector
// names in the order the first evaluation holds them.
std::vector<const ModelEval*> of_training(const DemoRun& r, const std::string& t);
std::vector<std::string> trainings_present(const DemoRun& r);
std::vector<std::string> detector_order(const DemoRun& r);

// A detector's near or far mean AUROC (fpr = false) or FPR@95 (fpr = true) over the seeds of a training,
// in percent; values in seed order.
MeanStd metric_over_seeds(const DemoRun& r, const std::string& training, const std::string& det, bool far, bool fpr);
// ID accuracy (plain logits, percent) over the seeds of a training.
MeanStd id_acc_over_seeds(const DemoRun& r, const std::string& training);

// results.json: config, cuts, data sizes, and per training: ID accuracy and per detector the near/far
// AUROC and FPR@95 (percent) as {mean, std, per_seed}, the per-dataset rows and the hyper-parameters;
// and "paired": the ISH-minus-CE fine-tune differences (demo/paired.h).
std::string results_json(const DemoRun& r, const DemoData& d);

// The compact text table: per detector and training, near/far AUROC and FPR@95 as mean ± std.
std::string summary_table(const DemoRun& r);

}  // namespace ish::demo
