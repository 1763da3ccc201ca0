// The demo's summary over seeds: results.json, the printed table (mean +- std over seeds) and the report.
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

// results.json: config, cuts, data sizes, and per training: ID accuracy and per detector the near/far
// AUROC and FPR@95 (percent) as {mean, std, per_seed}, the per-dataset rows and the hyper-parameters.
std::string results_json(const DemoRun& r, const DemoData& d);

// The compact text table: per detector and training, near/far AUROC and FPR@95 as mean +- std.
std::string summary_table(const DemoRun& r);

// report.html, self-contained.
void write_report(const DemoRun& r, const std::string& path);

}  // namespace ish::demo
